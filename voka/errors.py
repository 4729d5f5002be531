"""Domain errors that carry their gRPC status and `google.rpc` details.

Handlers raise these; the kit's error hook turns them into a rich status, which Envoy renders as
HTTP status + JSON (`{"code", "message", "details"}`). Anything else raised is a bug: the caller
gets INTERNAL with no internals, the log gets the traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2


@dataclass(frozen=True)
class FieldViolation:
    """One bad field, named by its path in the request (`project.display_name`)."""

    field: str
    description: str


@dataclass
class VokaError(Exception):
    """Base of errors a handler raises on purpose."""

    message: str
    details: Sequence[Message] = field(default_factory=tuple)
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_status(self) -> status_pb2.Status:
        packed = []
        for detail in self.details:
            any_detail = any_pb2.Any()
            any_detail.Pack(detail)
            packed.append(any_detail)
        return status_pb2.Status(
            code=getattr(code_pb2, self.code.name), message=self.message, details=packed
        )


def _error(code: grpc.StatusCode, message: str, *details: Message) -> VokaError:
    return VokaError(message=message, details=details, code=code)


def _bad_request(violations: list[FieldViolation]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ]
    )


def invalid_argument(violations: Iterable[FieldViolation]) -> VokaError:
    """INVALID_ARGUMENT with a BadRequest detail listing every bad field at once."""
    violations = list(violations)
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return _error(
        grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {summary}", _bad_request(violations)
    )


def not_found(resource_type: str, name: str) -> VokaError:
    detail = error_details_pb2.ResourceInfo(resource_type=resource_type, resource_name=name)
    return _error(grpc.StatusCode.NOT_FOUND, f"{resource_type} {name!r} not found", detail)


def already_exists(resource_type: str, name: str) -> VokaError:
    detail = error_details_pb2.ResourceInfo(resource_type=resource_type, resource_name=name)
    return _error(
        grpc.StatusCode.ALREADY_EXISTS, f"{resource_type} {name!r} already exists", detail
    )


def unauthenticated(message: str) -> VokaError:
    return _error(grpc.StatusCode.UNAUTHENTICATED, message)


def permission_denied(message: str, violations: Iterable[FieldViolation] = ()) -> VokaError:
    """PERMISSION_DENIED; with `violations`, a BadRequest detail naming the fields refused."""
    violations = list(violations)
    details = (_bad_request(violations),) if violations else ()
    return _error(grpc.StatusCode.PERMISSION_DENIED, message, *details)


def failed_precondition(message: str, violation_type: str = "", subject: str = "") -> VokaError:
    detail = error_details_pb2.PreconditionFailure(
        violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=violation_type, subject=subject, description=message
            )
        ]
    )
    return _error(grpc.StatusCode.FAILED_PRECONDITION, message, detail)


def resource_exhausted(message: str, retry_after: timedelta | None = None) -> VokaError:
    """Overload is refused, not queued: the caller learns when to come back."""
    details: list[Message] = []
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromTimedelta(retry_after)
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    return _error(grpc.StatusCode.RESOURCE_EXHAUSTED, message, *details)


def quota_exceeded(message: str, subject: str, description: str) -> VokaError:
    """RESOURCE_EXHAUSTED because a quota is used up (not overload): retrying will not help
    until something is freed, so no RetryInfo; a QuotaFailure names whose quota."""
    violation = error_details_pb2.QuotaFailure.Violation(subject=subject, description=description)
    detail = error_details_pb2.QuotaFailure(violations=[violation])
    return _error(grpc.StatusCode.RESOURCE_EXHAUSTED, message, detail)


def unavailable(message: str) -> VokaError:
    return _error(grpc.StatusCode.UNAVAILABLE, message)


def aborted(message: str) -> VokaError:
    """A conflict with work under way (a backup running): the same call may succeed later."""
    return _error(grpc.StatusCode.ABORTED, message)
