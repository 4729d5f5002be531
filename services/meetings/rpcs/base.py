"""What every MeetingsService handler shares: the dependencies the service builds once (the
database, settings, bus and peers), how a request's checks end (INVALID_ARGUMENT naming every
bad field), and how a project or a meeting is reached only where the caller may see it
(`voka.tenancy`, and `meetings.access` for a meeting's wider rule)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from services.meetings import validation
from services.meetings.chat.vector_cache import VectorCache
from services.meetings.clients.records import ProjectRecord
from services.meetings.convert import project_name
from services.meetings.database import Database, Stores
from services.meetings.meetings import access, convert
from services.meetings.meetings.access import Access
from services.meetings.meetings.records import MeetingRecord
from services.meetings.peers import Peers
from services.meetings.settings import MeetingsSettings
from voka import authn, errors, tenancy
from voka.assistant.v1 import embeddings_pb2
from voka.bus import Bus
from voka.errors import FieldViolation
from voka.meetings.v1 import meeting_pb2, meetings_pb2_grpc
from voka.pagination import Identified, Order, Page, decode_token, page_size

log = logging.getLogger("voka.meetings")
T = TypeVar("T")
R = TypeVar("R", bound=Identified)
Context = grpc.aio.ServicerContext[Any, Any]
PROJECT = "meetings.voka.dev/Project"


def check(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.invalid_argument(violations)


def valid(value: T | None, violations: list[FieldViolation]) -> T:
    """`value` when the request has no bad field, else INVALID_ARGUMENT naming them all."""
    if violations or value is None:
        raise errors.invalid_argument(violations)
    return value


def id_of(name: str, collection: str, path: str, suffix: str = "") -> str:
    """The id in a resource name, or INVALID_ARGUMENT naming `path`."""
    return valid(*validation.resource_id(name, collection, path, suffix=suffix))


class ListQuery(Protocol):
    """A List call's checked filters and order."""

    @property
    def order_by(self) -> str: ...

    def fingerprint(self) -> str: ...


def requested_page(
    request: Any, query: ListQuery, bad_query: list[FieldViolation], orders: Mapping[str, Order[R]]
) -> tuple[Order[R], Page]:
    """The page a List call asks for (its size, its order, where its token left off), or
    INVALID_ARGUMENT naming every bad field at once: size, filters, order and token."""
    size, violations = page_size(request.page_size)
    order = orders.get(query.order_by)
    cursor, bad_token = decode_token(request.page_token, order, query.fingerprint())
    return valid(order, violations + bad_query + bad_token), Page(size, cursor)


def now() -> datetime:
    return datetime.now(UTC)


async def visible_project(stores: Stores, project_id: str) -> ProjectRecord:
    """The project, or NOT_FOUND when it is missing or the caller may not see it."""
    return tenancy.visible(await stores.projects.get(project_id), PROJECT, project_name(project_id))


async def meeting_for(
    stores: Stores, name: str, path: str, need: Access, *, lock: bool = False
) -> MeetingRecord:
    """The meeting named `name` (the request's field `path`), if the caller has `need` access
    to it (`meetings.access`); `lock` holds its row until the transaction ends."""
    meeting_id = id_of(name, "meetings", path)
    return access.require(await stores.meetings.get(meeting_id, lock=lock), meeting_id, need)


class RpcBase(meetings_pb2_grpc.MeetingsServiceServicer):
    """The dependencies of every handler, and the helpers that need them."""

    def __init__(
        self, database: Database, settings: MeetingsSettings, bus: Bus | None, peers: Peers
    ) -> None:
        self._database = database
        self._settings = settings
        self._bus = bus
        self._peers = peers
        self._vector_cache = VectorCache(settings.meetings_search_cache_vectors)
        self._recordings_dir: Path = settings.data_dir / "meetings" / "recordings"

    def _ended_before(self, at: datetime) -> datetime:
        """Meetings scheduled to end before this read as ENDED (`MeetingRecord.state_at`)."""
        return at - timedelta(seconds=self._settings.meetings_auto_end_after)

    def _meeting_message(self, record: MeetingRecord) -> meeting_pb2.Meeting:
        """The meeting as the contract shows it now."""
        base = self._settings.meetings_jitsi_base_url
        return convert.meeting(record, base, self._ended_before(now()))

    async def _embedded(self, text: str) -> embeddings_pb2.EmbedTextsResponse | None:
        """A query's vector (Search's, AskProject's question) on the caller's behalf, or None
        (logged) when the assistant does not give it within `meetings_search_embed_timeout`:
        the caller is then answered by words alone rather than failed."""
        try:
            return await self._peers.embed_texts(
                [text], purpose=embeddings_pb2.EMBEDDING_PURPOSE_QUERY,
                for_user=authn.caller().subject,
                wait=self._settings.meetings_search_embed_timeout,
            )  # fmt: skip
        except Exception as exc:
            log.warning("by words alone: the query was not embedded (%s)", exc)
            return None

    async def _emit(self, message: Message) -> None:
        """Send a hint without waiting for JetStream's ack (`Bus.emit`), for events nobody
        must act on exactly once (who entered or left a room); a failure is logged and never
        fails the RPC that caused it."""
        if self._bus is None:
            return
        try:
            await self._bus.emit(message)
        except Exception:
            log.warning("could not emit %s", message.DESCRIPTOR.name, exc_info=True)

    async def _publish(self, message: Message, event_id: str | None = None) -> None:
        """Publish an event where the service runs with NATS (tests of the plain CRUD run
        without it)."""
        if self._bus is not None:
            await self._bus.publish(message, event_id=event_id)
