"""Field-level checks of requests: every bad field is named, all at once, by its path in the
request (`requests[2].target_language_code`)."""

from __future__ import annotations

import base64
import binascii

from services.translate.catalogue import AUTO, LANGUAGES
from voka.errors import FieldViolation
from voka.translate.v1 import translate_pb2

MAX_TEXT_CHARS = 5_000
MAX_BATCH_ITEMS = 128
MAX_BATCH_CHARS = 100_000
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def text(value: str, path: str) -> list[FieldViolation]:
    if not value.strip():
        return [FieldViolation(path, "must not be empty")]
    if len(value) > MAX_TEXT_CHARS:
        return [FieldViolation(path, f"must be at most {MAX_TEXT_CHARS} characters")]
    return []


def language(code: str, path: str, *, allow_auto: bool, required: bool) -> list[FieldViolation]:
    if not code:
        return [FieldViolation(path, "is required")] if required else []
    if code == AUTO and allow_auto:
        return []
    if code not in LANGUAGES:
        known = ", ".join(sorted(LANGUAGES))
        return [FieldViolation(path, f"unknown language code {code!r} (known: {known})")]
    return []


def filter_language(code: str, path: str) -> list[FieldViolation]:
    return language(code, path, allow_auto=False, required=False)


def engine(value: int, path: str) -> list[FieldViolation]:
    if value not in translate_pb2.Engine.values():
        return [FieldViolation(path, f"unknown engine {value}")]
    return []


def page_size(value: int, path: str = "page_size") -> tuple[int, list[FieldViolation]]:
    if value < 0 or value > MAX_PAGE_SIZE:
        return 0, [FieldViolation(path, f"must be between 0 and {MAX_PAGE_SIZE}")]
    return value or DEFAULT_PAGE_SIZE, []


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def page_token(value: str, path: str = "page_token") -> tuple[int, list[FieldViolation]]:
    if not value:
        return 0, []
    try:
        kind, _, number = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return 0, [FieldViolation(path, "is not a token this service issued")]
    if kind != "offset" or offset < 0:
        return 0, [FieldViolation(path, "is not a token this service issued")]
    return offset, []
