"""Run the WebSocket bridge: `python -m gateway.ws_bridge` (settings: VOKA_WS_*, VOKA_ADDRESSES).

SIGTERM or Ctrl-C drains it: `/health` turns 503, open sockets close with 1001."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from gateway.ws_bridge.server import run
from gateway.ws_bridge.settings import BridgeSettings
from voka import event_loop, telemetry


async def _main(settings: BridgeSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, stop)


def main() -> int:
    settings = BridgeSettings()
    telemetry.setup_logging("ws_bridge", settings.log_level, settings.log_json)
    # websockets logs every connection at INFO; the bridge logs what matters (failed streams).
    logging.getLogger("websockets").setLevel(logging.WARNING)
    event_loop.run(_main(settings), settings.event_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
