"""Write Envoy's configuration.

    python -m gateway --descriptor gen/voka.binpb --out var/envoy.json

Upstreams default to where `voka.config.Settings` says each domain listens (VOKA_ADDRESSES or
the default port on this host), so the gateway finds services the same way services find
each other; `--upstream domain=host:port` overrides one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import DEFAULT_RATE_LIMIT, RateLimit, write_config
from gateway.ws_bridge.settings import BridgeSettings
from voka import registry


def _upstream(text: str) -> tuple[str, str]:
    """Parse `domain=host:port`; argparse turns the ValueError into a usage error."""
    domain, sep, address = text.partition("=")
    if not sep or domain not in registry.names() or ":" not in address:
        raise argparse.ArgumentTypeError(
            f"expected domain=host:port with domain in {', '.join(registry.names())}, got {text!r}"
        )
    return domain, address


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--descriptor", type=Path, default=Path("gen/voka.binpb"))
    parser.add_argument("--out", type=Path, default=Path("var/envoy.json"))
    parser.add_argument("--host", default="127.0.0.1", help="interface Envoy listens on")
    parser.add_argument("--port", type=int, default=8080, help="REST, gRPC-Web and gRPC port")
    parser.add_argument("--admin-port", type=int, default=9901, help="admin on 127.0.0.1")
    parser.add_argument(
        "--upstream", type=_upstream, action="append", default=[], metavar="DOMAIN=HOST:PORT"
    )
    parser.add_argument(
        "--cors-origin", action="append", default=[], help="allowed origin (default: any)"
    )
    parser.add_argument(
        "--rate-tokens",
        type=int,
        default=DEFAULT_RATE_LIMIT.tokens_per_fill,
        help="requests per interval (and burst) of each client address and each signed-in user",
    )
    parser.add_argument(
        "--rate-interval", type=float, default=DEFAULT_RATE_LIMIT.fill_interval_s, help="seconds"
    )
    parser.add_argument(
        "--xff-num-trusted-hops",
        type=int,
        default=0,
        help="proxies in front of Envoy that append the client to x-forwarded-for (a load "
        "balancer, an ingress); 0: clients connect to Envoy directly",
    )
    parser.add_argument(
        "--ws-bridge",
        metavar="HOST:PORT",
        help="the WebSocket bridge /api/v1/ws/ goes to (default: VOKA_ADDRESSES' ws_bridge, "
        "else 127.0.0.1:8090)",
    )
    parser.add_argument(
        "--health-requires-upstreams",
        action="store_true",
        help="/health answers 503 unless every domain has a healthy host",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = BridgeSettings()
    upstreams = {domain: settings.address_of(domain) for domain in registry.names()}
    upstreams.update(dict(args.upstream))
    if not args.descriptor.is_file():
        print(f"no descriptor set at {args.descriptor}: run `make gen`", file=sys.stderr)
        return 2
    write_config(
        args.out,
        args.descriptor,
        upstreams,
        listen_host=args.host,
        listen_port=args.port,
        admin_port=args.admin_port,
        cors_origins=tuple(args.cors_origin) or ("*",),
        rate_limit=RateLimit(args.rate_tokens, args.rate_interval),
        health_requires_upstreams=args.health_requires_upstreams,
        xff_num_trusted_hops=args.xff_num_trusted_hops,
        ws_bridge=args.ws_bridge or settings.bridge_address(),
    )
    print(f"wrote {args.out} ({len(upstreams)} upstreams, listening on {args.host}:{args.port})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
