"""Small helpers every handler of the meetings service uses: request checks, the caller,
fresh ids and the clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc

from services.meetings import validation
from services.meetings.meeting_records import Viewer
from voka import authn, errors
from voka.errors import FieldViolation

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]


def check(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.invalid_argument(violations)


def valid(value: T | None, violations: list[FieldViolation]) -> T:
    """`value` when the request has no bad field, else INVALID_ARGUMENT naming them all."""
    if violations or value is None:
        raise errors.invalid_argument(violations)
    return value


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
