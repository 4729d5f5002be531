"""LibreTranslate's refusals as precise gRPC statuses: its own messages, the field named in a
BadRequest detail. The edge renders the message as LibreTranslate's `{"error": "..."}`."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from voka import errors


def invalid(field: str, message: str) -> errors.VokaError:
    """INVALID_ARGUMENT (LibreTranslate's 400) whose message is LibreTranslate's, verbatim."""
    violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
    detail = error_details_pb2.BadRequest(field_violations=[violation])
    return errors.VokaError(message, (detail,), grpc.StatusCode.INVALID_ARGUMENT)


def missing(field: str) -> errors.VokaError:
    return invalid(field, f"Invalid request: missing {field} parameter")


def too_long(field: str, size: int, limit: int) -> errors.VokaError:
    """A text, or an array of texts, over its bound (LibreTranslate says `text limit` for both)."""
    return invalid(field, f"Invalid request: request ({size}) exceeds text limit ({limit})")
