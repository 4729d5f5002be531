"""The bridge's server: the WebSocket listener, the session cap, `/health` and `/metrics` on the
same port, one gRPC channel per peer service, and a drain on shutdown.

Sockets past the cap are accepted and closed at once with 1013: a browser sees the close code
and reason of a socket, never the HTTP status of a refused upgrade. Authentication is by the
token in the first frame, never a cookie, so a page of another origin gains nothing by opening a
socket (no cross-site WebSocket hijacking); Envoy's CORS policy does not apply to upgrades."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus
from urllib.parse import urlsplit

import grpc
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from gateway.ws_bridge import protocol
from gateway.ws_bridge.endpoints import ENDPOINTS, Endpoint
from gateway.ws_bridge.session import Session
from gateway.ws_bridge.settings import BridgeSettings
from voka import authn, credentials, peer_calls

log = logging.getLogger("voka.ws_bridge")
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
CLOSE_TIMEOUT_S = 5.0  # how long a closing handshake may take before the TCP connection drops

SESSIONS = Gauge("voka_ws_sessions_open", "WebSocket sessions open in this bridge")
SESSIONS_ENDED = Counter(
    "voka_ws_sessions_ended", "WebSocket sessions ended, by endpoint and close code",
    ["endpoint", "code"],
)  # fmt: skip


class Bridge:
    """The sockets of ENDPOINTS, each onto a stream of its domain's service."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self._channels: dict[str, grpc.aio.Channel] = {}
        # Verifies the fresh tokens of every session (one key cache for all): credential.py.
        jwks = authn.JwksCache(credentials.jwks_source(settings), ttl=settings.jwks_cache_seconds)
        self._verifier = authn.TokenVerifier(jwks)
        self._open: set[ServerConnection] = set()
        self._draining = False

    @property
    def sessions(self) -> int:
        return len(self._open)

    def _channel(self, domain: str) -> grpc.aio.Channel:
        """One balanced channel per peer, made inside the loop on first use."""
        if domain not in self._channels:
            self._channels[domain] = peer_calls.open_channel(self.settings.address_of(domain))
        return self._channels[domain]

    async def handle(self, ws: ServerConnection) -> None:
        """One socket: refused past the cap, else a Session, then its close."""
        endpoint = ENDPOINTS[_path(ws.request)]
        if self._draining or len(self._open) >= self.settings.ws_max_sessions:
            await self._close(ws, endpoint, _refusal(self._draining, self.settings.ws_max_sessions))
            return
        self._open.add(ws)
        SESSIONS.set(len(self._open))
        try:
            channel = self._channel(endpoint.domain)
            session = Session(ws, endpoint, channel, self.settings, self._verifier)
            await self._close(ws, endpoint, await session.run())
        finally:
            self._open.discard(ws)
            SESSIONS.set(len(self._open))

    async def _close(
        self, ws: ServerConnection, endpoint: Endpoint, closing: protocol.Closing | None
    ) -> None:
        """Close with `closing` (None: the client left first), counted by the code the bridge
        sent, else the client's (1006: the connection dropped without one)."""
        if closing is not None:
            await ws.close(int(closing.code), closing.reason)
        sent = ws.protocol.close_sent
        code = sent.code if sent is not None else (ws.close_code or 1006)
        SESSIONS_ENDED.labels(endpoint.name, str(code)).inc()

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Plain HTTP on the same port: health, metrics, and 404 for paths no socket serves."""
        path = _path(request)
        if path == HEALTH_PATH:
            if self._draining:
                return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
            return ws.respond(HTTPStatus.OK, "serving\n")
        if path == METRICS_PATH:
            headers = Headers([("Content-Type", CONTENT_TYPE_LATEST)])
            return Response(HTTPStatus.OK, "OK", headers, generate_latest())
        if path not in ENDPOINTS:
            return ws.respond(HTTPStatus.NOT_FOUND, f"no WebSocket at {path}\n")
        return None

    async def drain(self) -> None:
        """Refuse new sockets and close open ones with 1001, then close the channels."""
        self._draining = True
        going = protocol.Closing(
            protocol.CloseCode.GOING_AWAY, "shutting_down", "the bridge is stopping; reconnect"
        )
        await asyncio.gather(
            *(ws.close(int(going.code), going.reason) for ws in list(self._open)),
            return_exceptions=True,
        )
        for channel in self._channels.values():
            await channel.close()

    def serve(self) -> Server:
        """The websockets server (an async context manager), bounded by the settings."""
        settings = self.settings
        return serve(
            self.handle,
            settings.ws_host,
            settings.ws_port,
            process_request=self.process_request,
            compression=None,  # audio does not deflate; per-socket zlib state would cost memory
            max_size=settings.ws_max_frame_bytes,
            write_limit=settings.ws_write_limit_bytes,
            ping_interval=settings.ws_ping_interval_seconds,
            ping_timeout=settings.ws_ping_timeout_seconds,
            close_timeout=CLOSE_TIMEOUT_S,
            open_timeout=settings.ws_start_timeout_seconds,
            server_header=None,
        )


def _path(request: Request | None) -> str:
    return urlsplit(request.path).path if request is not None else ""


def _refusal(draining: bool, cap: int) -> protocol.Closing:
    if draining:
        return protocol.Closing(
            protocol.CloseCode.GOING_AWAY, "shutting_down", "the bridge is stopping; reconnect"
        )
    return protocol.Closing(
        protocol.CloseCode.TRY_AGAIN_LATER,
        "try_again_later",
        f"this bridge already holds its {cap} sessions",
    )


async def run(settings: BridgeSettings, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then drain."""
    bridge = Bridge(settings)
    async with bridge.serve() as server:
        port = next(iter(server.sockets)).getsockname()[1]
        log.info("WebSocket bridge on %s:%s", settings.ws_host, port)
        await stop.wait()
        await bridge.drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                server.close(close_connections=False)
                await server.wait_closed()
