"""Client RPCs. A client is its owner's (`voka.tenancy`): anyone else gets NOT_FOUND, exactly
like for a missing one; a list shows the caller's own. Each handler checks its request first
(all bad fields at once), then works in one transaction."""

from __future__ import annotations

from services.meetings.clients import convert, validation
from services.meetings.clients.records import ClientRecord, changed_client, new_client
from services.meetings.clients.store import CLIENT_ORDERS
from services.meetings.clients.validation import CLIENT_FIELDS, CLIENT_OUTPUT_ONLY
from services.meetings.convert import client_name
from services.meetings.database import Stores
from services.meetings.meetings import audio_files
from services.meetings.rpcs.base import (
    Context,
    RpcBase,
    check,
    id_of,
    now,
    requested_page,
    valid,
)
from services.meetings.schema import new_id
from services.meetings.validation import resource_id, update_paths
from voka import authn, errors, tenancy
from voka.meetings.v1 import meetings_pb2
from voka.pagination import next_token

CLIENT = "meetings.voka.dev/Client"


async def _client(stores: Stores, client_id: str) -> ClientRecord:
    """The client, or NOT_FOUND when it is missing or the caller may not see it."""
    return tenancy.visible(await stores.clients.get(client_id), CLIENT, client_name(client_id))


async def _locked_client(stores: Stores, client_id: str, *, exclusive: bool) -> None:
    """Lock the client's row (`ClientStore.lock`), or NOT_FOUND as `_client`."""
    owner = await stores.clients.lock(client_id, exclusive=exclusive)
    tenancy.require_visible(owner, CLIENT, client_name(client_id))


class ClientsRpcs(RpcBase):
    async def CreateClient(
        self, request: meetings_pb2.CreateClientRequest, context: Context
    ) -> meetings_pb2.CreateClientResponse:
        values, violations = validation.client_values(request.client, CLIENT_FIELDS, "client")
        check(violations)
        record = new_client(new_id(), authn.caller().subject, values, now())
        async with self._database.transaction() as stores:
            await stores.clients.add(record)
            created = await _client(stores, record.id)
        return meetings_pb2.CreateClientResponse(client=convert.client(created))

    async def GetClient(
        self, request: meetings_pb2.GetClientRequest, context: Context
    ) -> meetings_pb2.GetClientResponse:
        client_id = id_of(request.name, "clients", "name")
        async with self._database.transaction() as stores:
            record = await _client(stores, client_id)
        return meetings_pb2.GetClientResponse(client=convert.client(record))

    async def ListClients(
        self, request: meetings_pb2.ListClientsRequest, context: Context
    ) -> meetings_pb2.ListClientsResponse:
        query, bad_query = validation.client_query(request)
        order, page = requested_page(request, query, bad_query, CLIENT_ORDERS)
        owner = tenancy.list_owner("")  # the contract has no owner filter: the caller's own
        async with self._database.transaction() as stores:
            listing = await stores.clients.listing(owner, query, page)
        return meetings_pb2.ListClientsResponse(
            clients=[convert.client(r) for r in listing.items],
            next_page_token=next_token(order, query.fingerprint(), listing),
            total_size=listing.total,
        )

    async def UpdateClient(
        self, request: meetings_pb2.UpdateClientRequest, context: Context
    ) -> meetings_pb2.UpdateClientResponse:
        paths, violations = update_paths(request.update_mask, CLIENT_FIELDS, CLIENT_OUTPUT_ONLY)
        client_id, bad_name = resource_id(request.client.name, "clients", "client.name")
        values, bad_values = validation.client_values(request.client, paths, "client")
        client_id = valid(client_id, bad_name + violations + bad_values)
        async with self._database.transaction() as stores:
            record = changed_client(await _client(stores, client_id), values, now())
            await stores.clients.save(record)
            updated = await _client(stores, client_id)
        return meetings_pb2.UpdateClientResponse(client=convert.client(updated))

    async def DeleteClient(
        self, request: meetings_pb2.DeleteClientRequest, context: Context
    ) -> meetings_pb2.DeleteClientResponse:
        """Without `force`, a client with projects stays (FAILED_PRECONDITION): deleting it
        would silently take the projects with it."""
        client_id = id_of(request.name, "clients", "name")
        async with self._database.transaction() as stores:
            await _locked_client(stores, client_id, exclusive=True)
            count = await stores.projects.count_of_client(client_id)
            if count and not request.force:
                raise errors.failed_precondition(
                    f"client has {count} project(s); delete them first or set force",
                    "HAS_PROJECTS",
                    request.name,
                )
            paths = await stores.meetings.recording_files(stores.projects.of_client(client_id))
            await stores.clients.delete(client_id)
        await audio_files.remove(*paths)
        return meetings_pb2.DeleteClientResponse()

    async def GetClientStats(
        self, request: meetings_pb2.GetClientStatsRequest, context: Context
    ) -> meetings_pb2.GetClientStatsResponse:
        client_id = id_of(request.name, "clients", "name", "/stats")
        at = now()
        async with self._database.transaction() as stores:
            await _locked_client(stores, client_id, exclusive=False)
            figures = await stores.clients.figures(client_id)
            held = await stores.meetings.figures(stores.projects.of_client(client_id), at)
        stats = convert.client_stats(client_id, figures, held, at)
        return meetings_pb2.GetClientStatsResponse(stats=stats)
