"""How commands print: words for people, or with `--json` one JSON document per result (one
per line for streams and lists, JSON Lines), in the REST API's camelCase shape."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.message import Message


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def emit_json(value: Any) -> None:
    """One JSON document on one line."""
    click.echo(json.dumps(value, ensure_ascii=False))


def emit_messages(messages: Iterable[Message]) -> None:
    for message in messages:
        emit_json(as_dict(message))
