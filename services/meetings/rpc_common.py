"""Small helpers every handler of the meetings service uses: request checks, the caller,
fresh ids and the clock."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import grpc

from services.meetings import validation
from services.meetings.meeting_records import Viewer
from voka import authn, errors
from voka.errors import FieldViolation
from voka.pagination import Identified, Order, Page, decode_token, page_size

T = TypeVar("T")
R = TypeVar("R", bound=Identified)
Context = grpc.aio.ServicerContext[Any, Any]


def check(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.invalid_argument(violations)


def valid(value: T | None, violations: list[FieldViolation]) -> T:
    """`value` when the request has no bad field, else INVALID_ARGUMENT naming them all."""
    if violations or value is None:
        raise errors.invalid_argument(violations)
    return value


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


def resource_id(name: str, collection: str, path: str, suffix: str = "") -> str:
    """The id in a resource name, or INVALID_ARGUMENT naming `path`."""
    return valid(*validation.resource_id(name, collection, path, suffix=suffix))


def owner() -> str:
    """The tenant of clients and projects: the verified caller's subject (`users/alice`)."""
    return authn.caller().subject


def viewer() -> Viewer:
    """The caller as meetings see them: subject and whether they are an admin."""
    identity = authn.caller()
    return Viewer(identity.subject, identity.is_admin)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex
