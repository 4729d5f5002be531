"""The bridge's settings: the kit's (peer addresses, logging), plus `VOKA_WS_*` bounds.

Every bound a client could push against is here, with a default for one machine
(docs/websocket.md, "Bounds")."""

from __future__ import annotations

from pydantic import Field

from voka.config import Settings

# The bridge is no domain of the registry: Envoy finds it under this key of VOKA_ADDRESSES, as
# services find each other, else on this port of the local host.
ADDRESS_KEY = "ws_bridge"
DEFAULT_PORT = 8090


class BridgeSettings(Settings):
    """`VOKA_WS_*` variables on top of the shared ones."""

    ws_host: str = Field(default="127.0.0.1", description="Interface the WebSocket bridge binds.")
    ws_port: int = Field(
        default=DEFAULT_PORT, ge=0, description="Port of the WebSocket bridge; 0: any free port."
    )
    ws_max_frame_bytes: int = Field(
        default=128 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest frame a client may send, text or binary; more closes with 1009. "
        "At most 1 MiB, the RPCs' own bound on one audio chunk.",
    )
    ws_audio_bytes_per_second: int = Field(
        default=192_000,
        gt=0,
        description="Audio bytes a second one socket may send on average (192 000: 48 kHz "
        "stereo PCM16, the speech service's own maximum); faster closes with 1008 audio_rate.",
    )
    ws_audio_burst_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Seconds of audio at that rate a socket may send at once before the "
        "average applies (a recording sent faster than real time).",
    )
    ws_start_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time a client has to send `start`; else 1008."
    )
    ws_max_session_seconds: float = Field(
        default=1800.0, gt=0, description="Longest a socket may stay open; then 1008."
    )
    ws_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A socket with nothing from its client and nothing from the service for "
        "this long closes with 1008 idle_timeout.",
    )
    ws_max_sessions: int = Field(
        default=100,
        ge=1,
        description="Sockets one bridge process serves at once; more are closed with 1013 "
        "try_again_later.",
    )
    ws_ping_interval_seconds: float = Field(
        default=20.0, gt=0, description="How often the bridge pings each client."
    )
    ws_ping_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="A client whose pong is this late is closed with 1011 (a client that "
        "stopped reading: TCP is ordered, so a pong proves everything before it was read).",
    )
    ws_write_limit_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Bytes waiting to be written to one client before the bridge stops "
        "reading that socket's gRPC stream (backpressure onto the service).",
    )

    def bridge_address(self) -> str:
        """Where Envoy reaches the bridge: VOKA_ADDRESSES' `ws_bridge`, else this host."""
        return self.addresses.get(ADDRESS_KEY) or f"127.0.0.1:{DEFAULT_PORT}"
