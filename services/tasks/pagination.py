"""Opaque page tokens for newest-first keyset pages: the last row's (time, id) plus a
fingerprint of the filters, so a token only continues the query it came from."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from voka.errors import FieldViolation

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(value: int) -> tuple[int, list[FieldViolation]]:
    """0 means the default; above the maximum is clamped (AIP-158)."""
    if value < 0:
        return 0, [FieldViolation("page_size", "must not be negative")]
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE), []


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode(query: str, time: datetime, last_id: str) -> str:
    payload = {"f": query, "t": time.isoformat(), "i": last_id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode(token: str, query: str) -> tuple[tuple[datetime, str] | None, list[FieldViolation]]:
    """The (time, id) a token continues after; "" is the first page."""
    if not token:
        return None, []
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        cursor = datetime.fromisoformat(payload["t"]), str(payload["i"])
        made_for = payload["f"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None, [FieldViolation("page_token", "is not a page token of this service")]
    if made_for != query:
        return None, [FieldViolation("page_token", "was made for other filters")]
    return cursor, []
