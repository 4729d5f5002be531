"""The address an anonymous caller came from, for the per-address limits of public RPCs (auth's
sign-in, meetings' contact form): the kit's per-caller limit (voka.ratelimit) keys by verified
subject, and an anonymous caller has none.

Through the gateway, the TCP peer is Envoy, and Envoy's `x-envoy-external-address` (which it
overwrites with the address the request really came from) names the client. But any direct
gRPC caller can send that header too, and `x-forwarded-for` is the client's own say-so. So the
header counts only when the call proves it came through Envoy: Envoy adds `x-voka-gateway` with
the gateway secret (`VOKA_GATEWAY_SECRET`, overwriting whatever the client sent); any other call
is keyed by its TCP peer.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import grpc

GATEWAY_HEADER = "x-voka-gateway"  # gateway/config.py adds it
EXTERNAL_ADDRESS = "x-envoy-external-address"


def metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str:
    """The call's metadata value under `key` (the first), or ''."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


class ClientAddresses:
    """The client's address, trusted only as far as it can be (see the module's note)."""

    def __init__(self, gateway_secret: str) -> None:
        self._digest = hashlib.sha256(gateway_secret.encode()).digest() if gateway_secret else b""

    def address(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """Envoy's word for the client's address when the call proves it came through Envoy,
        else the TCP peer's address."""
        address = metadata(context, EXTERNAL_ADDRESS) if self._via_gateway(context) else ""
        if not address:  # the peer: `ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`
            peer = context.peer() or ""
            address = peer.split(":", 1)[-1].rsplit(":", 1)[0].strip("[]")
        return address

    def _via_gateway(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        given = metadata(context, GATEWAY_HEADER)
        if not self._digest or not given:
            return False
        return hmac.compare_digest(self._digest, hashlib.sha256(given.encode()).digest())
