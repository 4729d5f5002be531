"""The gRPC channel to Voka's edge: where it points, how it retries, how large a message may be.

Envoy serves native gRPC on the same listener as REST (`make up`: 127.0.0.1:8080), so one
address is all a client needs. Retries are gRPC's own (the channel's service config), not a loop
of ours: the library retries only calls that the server never began answering, backs off
exponentially with jitter, and keeps the original deadline across attempts."""

from __future__ import annotations

import json
from typing import Final, NamedTuple
from urllib.parse import urlsplit

import grpc

from voka_client.errors import BadUrlError

DEFAULT_URL: Final = "http://127.0.0.1:8080"
# UNAVAILABLE is what a restarting service, a draining pod or Envoy's "no healthy upstream"
# answer: nothing ran, so a retry is safe even for calls that create something. Five attempts
# is gRPC's ceiling; 0.2 s doubling to 5 s spans a service restart of a few seconds.
RETRY_ATTEMPTS: Final = 5
RETRY_POLICY: Final = {
    "maxAttempts": RETRY_ATTEMPTS,
    "initialBackoff": "0.2s",
    "maxBackoff": "5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_CONFIG: Final = {"methodConfig": [{"name": [{}], "retryPolicy": RETRY_POLICY}]}
# Audio goes both ways in single messages (an upload to transcribe, synthesized speech); the
# services accept up to 32 MiB (voka/server.py), so the client takes as much.
MAX_MESSAGE_BYTES: Final = 32 * 1024 * 1024
# gRPC replays a call from a buffer; a request larger than this (a big upload) is sent once.
RETRY_BUFFER_BYTES: Final = MAX_MESSAGE_BYTES


class Target(NamedTuple):
    """A parsed address: `host:port` for gRPC and whether to speak TLS."""

    address: str
    secure: bool


def parse_target(url: str) -> Target:
    """`http://host:port` (plain), `https://host[:port]` (TLS, 443 by default) or a bare
    `host:port` (plain): the same URL a REST caller would use for the edge."""
    text = url.strip()
    if "://" not in text:
        if not text:
            raise BadUrlError("the server address is empty")
        return Target(text, secure=False)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUrlError(f"server address {url!r} is not http://host:port or https://host")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Target(f"{host}:{port}", secure)


def open_channel(url: str) -> grpc.Channel:
    """A channel to the edge at `url` with retries on UNAVAILABLE and large messages allowed."""
    target = parse_target(url)
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ("grpc.per_rpc_retry_buffer_size", RETRY_BUFFER_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    if target.secure:
        return grpc.secure_channel(target.address, grpc.ssl_channel_credentials(), options)
    return grpc.insecure_channel(target.address, options)
