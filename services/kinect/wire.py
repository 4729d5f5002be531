"""The pipe protocol between the service and its capture process (capture.py).

Requests are one JSON object per line on the child's stdin. Each reply is a 4-byte big-endian
header length, a JSON header (with `size`, the payload's length, and `error` when the call
failed), then the payload: raw frame bytes, no encoding, so a 640x480 frame costs one copy.
This module imports nothing but the standard library: the child loads it before libfreenect.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Header = dict[str, Any]


def request(op: str, **args: Any) -> bytes:
    return json.dumps({"op": op, **args}).encode() + b"\n"


def reply(header: Header, payload: bytes = b"") -> bytes:
    encoded = json.dumps({**header, "size": len(payload)}).encode()
    return len(encoded).to_bytes(4, "big") + encoded + payload


async def read_reply(reader: asyncio.StreamReader) -> tuple[Header, bytes]:
    length = int.from_bytes(await reader.readexactly(4), "big")
    header: Header = json.loads(await reader.readexactly(length))
    return header, await reader.readexactly(header["size"])
