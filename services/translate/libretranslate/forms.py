"""The request bodies LibreTranslate accepts, read into one mapping of fields.

LibreTranslate (Flask) reads `request.get_json()` when the body is JSON and `request.values`
otherwise: form-urlencoded (what `libretranslatepy` posts) or multipart form data (its web UI).
Any other content type carries no fields, so the request is refused as missing `q`. A form
field given twice counts once, its first value, as Flask's `values.get` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from google.api import httpbody_pb2

from services.translate.libretranslate import refusals

Fields = Mapping[str, Any]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def fields(body: httpbody_pb2.HttpBody) -> tuple[Fields, bool]:
    """The fields of a request body, and whether it was JSON (form text has its line endings
    normalised, JSON's is kept: LibreTranslate's difference). Malformed JSON, or JSON that is
    not an object, is INVALID_ARGUMENT `Invalid JSON format`."""
    media_type, _, _ = body.content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type == JSON or media_type.endswith("+json"):
        return _json(body.data), True
    if media_type == FORM or (not media_type and body.data):
        return _first_values(parse_qsl(_text(body.data), keep_blank_values=True)), False
    if media_type == MULTIPART:
        return _multipart(body.content_type, body.data), False
    return {}, False


def _json(data: bytes) -> Fields:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise refusals.invalid("body", "Invalid JSON format") from None
    if not isinstance(value, dict):
        raise refusals.invalid("body", "Invalid JSON format")
    return value


def _text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise refusals.invalid("body", "Invalid request: the body is not UTF-8") from None


def _first_values(pairs: list[tuple[str, str]]) -> Fields:
    found: dict[str, str] = {}
    for name, value in pairs:
        found.setdefault(name, value)
    return found


def _multipart(content_type: str, data: bytes) -> Fields:
    """The text parts of a multipart body, by their `name` (file parts are ignored: there is
    no file translation here)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + data)
    parts = message.get_payload()
    if not message.is_multipart() or not isinstance(parts, list):
        raise refusals.invalid("body", "Invalid request: malformed multipart body")
    pairs = []
    for part in parts:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and part.get_filename() is None:
            pairs.append((name, _part_text(part)))
    return _first_values(pairs)


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return _text(data)
