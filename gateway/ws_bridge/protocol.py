"""The bridge's message protocol: what a client's text frames may say, the JSON the bridge
answers with, and the close code of every way a socket ends (docs/websocket.md).

Response messages travel in the proto3 JSON mapping, as the REST API prints them, so a browser
can type them with the same generated definitions; audio never travels as base64 but as the
binary frame that follows its JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

# Importing the detail types registers them, so `details` of a google.rpc.Status render as JSON.
DETAIL_TYPES = (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo)
STATUS_DETAILS_KEY = "grpc-status-details-bin"
START = "start"
END = "end"
TOKEN = "token"  # noqa: S105 - the frame type of a fresh token mid-session (credential.py)
MessageT = TypeVar("MessageT", bound=Message)
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 of them code


class CloseCode(IntEnum):
    """The RFC 6455 codes the bridge closes with."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INVALID_DATA = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


class Closing(Exception):
    """Why a socket ends: its close code, a word a program can match, and a sentence."""

    def __init__(self, code: CloseCode, word: str, text: str) -> None:
        super().__init__(f"{code.value} {word}: {text}")
        self.code = code
        self.word = word
        self.text = text

    @property
    def reason(self) -> str:
        """`word: text`, cut to what a close frame can carry."""
        full = f"{self.word}: {self.text}".encode()
        return full[:MAX_REASON_BYTES].decode(errors="ignore")


DONE = Closing(CloseCode.NORMAL, "done", "the stream ended")


def bad_message(text: str) -> Closing:
    return Closing(CloseCode.INVALID_DATA, "bad_message", text)


def policy(word: str, text: str) -> Closing:
    return Closing(CloseCode.POLICY, word, text)


@dataclass(frozen=True)
class Start:
    """The first frame: the caller's credential and the RPC's config as JSON."""

    token: str
    config: dict[str, Any]


def _object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_message(f"not JSON ({exc.msg})") from exc
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise bad_message('a text frame must be a JSON object with a string "type"')
    return value


def _token(value: dict[str, Any]) -> str:
    """The frame's `token`, without `Bearer `; missing or malformed is a refusal."""
    token = value.get("token", "")
    if not isinstance(token, str) or not token.strip():
        needs = f'"{value["type"]}" needs a "token": an access token or API key'
        raise policy("token_missing", needs)
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token.isascii() or not token.isprintable() or " " in token:
        raise policy("token_malformed", "the token has characters no token has")
    return token


def parse_start(text: str) -> Start:
    """The `start` frame; anything else first is a bad message, a missing token a refusal."""
    value = _object(text)
    if value["type"] != START:
        raise bad_message(f'the first frame must be "start", not {value["type"]!r}')
    config = value.get("config", {})
    if not isinstance(config, dict):
        raise bad_message('"config" must be a JSON object')
    return Start(_token(value), config)


@dataclass(frozen=True)
class Control:
    """A later text frame: its `type` (`end`, `token` or a control the endpoint checks), and
    the fresh token of a `token` frame."""

    kind: str
    token: str = ""


def parse_control(text: str) -> Control:
    value = _object(text)
    kind: str = value["type"]
    if kind == START:
        raise bad_message('"start" is sent once, first')
    return Control(kind, _token(value) if kind == TOKEN else "")


def parse_config(config: dict[str, Any], message: MessageT) -> MessageT:
    """`config` parsed into `message` by the proto3 JSON mapping; unknown fields refused."""
    try:
        return json_format.ParseDict(config, message)
    except json_format.ParseError as exc:
        raise bad_message(f"config: {exc}") from exc


def response_frame(response: Message) -> str:
    """`{"type": "response", "response": <the message in proto3 JSON>}`."""
    body = json_format.MessageToDict(response, always_print_fields_with_no_presence=True)
    audio = body.get("audio")
    if isinstance(audio, dict):
        audio.pop("data", None)  # it follows as a binary frame
    return json.dumps({"type": "response", "response": body}, separators=(",", ":"))


# --- gRPC statuses -------------------------------------------------------------------------

_STATUS_CLOSE = {
    grpc.StatusCode.OK: CloseCode.NORMAL,
    grpc.StatusCode.UNAUTHENTICATED: CloseCode.POLICY,
    grpc.StatusCode.PERMISSION_DENIED: CloseCode.POLICY,
    grpc.StatusCode.INVALID_ARGUMENT: CloseCode.INVALID_DATA,
    grpc.StatusCode.FAILED_PRECONDITION: CloseCode.INVALID_DATA,
    grpc.StatusCode.NOT_FOUND: CloseCode.INVALID_DATA,
    grpc.StatusCode.OUT_OF_RANGE: CloseCode.INVALID_DATA,
    grpc.StatusCode.ALREADY_EXISTS: CloseCode.INVALID_DATA,
    grpc.StatusCode.UNAVAILABLE: CloseCode.TRY_AGAIN_LATER,
    grpc.StatusCode.RESOURCE_EXHAUSTED: CloseCode.TRY_AGAIN_LATER,
    grpc.StatusCode.ABORTED: CloseCode.TRY_AGAIN_LATER,
}


def status_closing(code: grpc.StatusCode, details: str) -> Closing:
    """The close of a gRPC stream that ended with `code`; anything unlisted is the service's
    failure (1011)."""
    return Closing(_STATUS_CLOSE.get(code, CloseCode.INTERNAL_ERROR), code.name, details)


def error_frame(code: grpc.StatusCode, details: str, trailing: Any) -> str:
    """`{"type": "error", "error": {"code", "message", "details"}}` of a failed stream, the
    details (field violations, error info) from the status the service attached to the
    `trailing` metadata."""
    status = status_pb2.Status(code=code.value[0], message=details)
    for key, value in trailing or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
    rendered = json_format.MessageToDict(status).get("details", [])
    error = {"code": code.name, "message": status.message, "details": rendered}
    return json.dumps({"type": "error", "error": error}, separators=(",", ":"))
