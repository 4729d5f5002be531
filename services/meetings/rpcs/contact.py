"""ContactService: the public contact form and the admins' inbox of what it sent.

SendContactMessage is public (the contract's access rule lets anonymous callers in) and guarded
here: a bucket per client address and per sender e-mail (`contact.limits`), bounded fields, and
the honeypot, whose catch is answered exactly like an accepted message. Every other RPC is
admin-only by the contract, which the kit enforces before a handler runs; contact messages
belong to no user, so an admin sees them all. Each handler checks its request first (all bad
fields at once), then works in one transaction."""

from __future__ import annotations

from services.meetings.clients.convert import client as client_message
from services.meetings.clients.records import new_client
from services.meetings.contact import convert, validation
from services.meetings.contact.limits import REFUSED, SenderLimits
from services.meetings.contact.records import (
    ContactMessageRecord,
    converted,
    marked,
    new_message,
)
from services.meetings.contact.store import NEWEST_FIRST
from services.meetings.database import Database, Stores
from services.meetings.rpcs.base import Context, check, id_of, now, requested_page, valid
from services.meetings.schema import new_id
from services.meetings.settings import MeetingsSettings
from services.meetings.validation import resource_id, update_paths
from voka import authn, errors
from voka.meetings.v1 import contact_pb2, contact_pb2_grpc
from voka.pagination import next_token

CONTACT_MESSAGE = "meetings.voka.dev/ContactMessage"
COLLECTION = "contact-messages"


async def _message(stores: Stores, message_id: str, *, lock: bool = False) -> ContactMessageRecord:
    """The message, or NOT_FOUND."""
    record = await stores.contact.get(message_id, lock=lock)
    if record is None:
        raise errors.not_found(CONTACT_MESSAGE, convert.contact_message_name(message_id))
    return record


class ContactServicer(contact_pb2_grpc.ContactServiceServicer):
    """The contact form's RPCs."""

    def __init__(self, database: Database, settings: MeetingsSettings) -> None:
        self._database = database
        self._limits = SenderLimits(settings)
        self._max_body = settings.meetings_contact_max_body_chars

    async def SendContactMessage(
        self, request: contact_pb2.SendContactMessageRequest, context: Context
    ) -> contact_pb2.SendContactMessageResponse:
        """The address counts first (a bot sending garbage is limited too), the e-mail once it
        is known to be one; a honeypot catch then costs nothing but a metric."""
        self._limits.take_address(context)
        message = request.contact_message
        values, violations = validation.sender_values(message, "contact_message", self._max_body)
        check(violations)
        self._limits.take_email(values["email"])
        if validation.is_bot(message):
            REFUSED.labels("honeypot").inc()
            return contact_pb2.SendContactMessageResponse()
        record = new_message(new_id(), values, now())
        async with self._database.transaction() as stores:
            await stores.contact.add(record)
            await stores.events.add(convert.received_event(record), f"{record.id}-received")
        return contact_pb2.SendContactMessageResponse()

    async def ListContactMessages(
        self, request: contact_pb2.ListContactMessagesRequest, context: Context
    ) -> contact_pb2.ListContactMessagesResponse:
        query, bad_query = validation.contact_query(request)
        order, page = requested_page(request, query, bad_query, {query.order_by: NEWEST_FIRST})
        async with self._database.transaction() as stores:
            listing = await stores.contact.listing(query, page)
        return contact_pb2.ListContactMessagesResponse(
            contact_messages=[convert.contact_message(r) for r in listing.items],
            next_page_token=next_token(order, query.fingerprint(), listing),
            total_size=listing.total,
        )

    async def GetContactMessage(
        self, request: contact_pb2.GetContactMessageRequest, context: Context
    ) -> contact_pb2.GetContactMessageResponse:
        message_id = id_of(request.name, COLLECTION, "name")
        async with self._database.transaction() as stores:
            record = await _message(stores, message_id)
        return contact_pb2.GetContactMessageResponse(
            contact_message=convert.contact_message(record)
        )

    async def UpdateContactMessage(
        self, request: contact_pb2.UpdateContactMessageRequest, context: Context
    ) -> contact_pb2.UpdateContactMessageResponse:
        _, violations = update_paths(
            request.update_mask, validation.UPDATABLE, validation.OUTPUT_ONLY
        )
        name = request.contact_message.name
        message_id, bad_name = resource_id(name, COLLECTION, "contact_message.name")
        message_id = valid(message_id, bad_name + violations)
        async with self._database.transaction() as stores:
            record = await _message(stores, message_id, lock=True)
            record = marked(record, request.contact_message.read, now())
            await stores.contact.save(record)
        return contact_pb2.UpdateContactMessageResponse(
            contact_message=convert.contact_message(record)
        )

    async def DeleteContactMessage(
        self, request: contact_pb2.DeleteContactMessageRequest, context: Context
    ) -> contact_pb2.DeleteContactMessageResponse:
        message_id = id_of(request.name, COLLECTION, "name")
        async with self._database.transaction() as stores:
            if not await stores.contact.delete(message_id):
                raise errors.not_found(CONTACT_MESSAGE, request.name)
        return contact_pb2.DeleteContactMessageResponse()

    async def ConvertContactMessageToClient(
        self, request: contact_pb2.ConvertContactMessageToClientRequest, context: Context
    ) -> contact_pb2.ConvertContactMessageToClientResponse:
        """The client is the calling admin's (`voka.tenancy`: theirs to see and change, like
        any client they create). The message's row is locked, so it becomes one client once."""
        message_id = id_of(request.name, COLLECTION, "name")
        at = now()
        async with self._database.transaction() as stores:
            record = await _message(stores, message_id, lock=True)
            if record.client_id is not None:
                raise errors.failed_precondition(
                    "the message was converted already", "ALREADY_CONVERTED", request.name
                )
            client = new_client(new_id(), authn.caller().subject, convert.client_values(record), at)
            await stores.clients.add(client)
            record = converted(record, client.id, at)
            await stores.contact.save(record)
        return contact_pb2.ConvertContactMessageToClientResponse(
            client=client_message(client), contact_message=convert.contact_message(record)
        )
