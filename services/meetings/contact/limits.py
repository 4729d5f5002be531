"""How often one sender may use the contact form: a token bucket (the kit's `RateLimiter`) per
client address (`voka.addresses`: Envoy's word through the gateway, else the TCP peer) and
one per sender e-mail, so neither many addresses for one e-mail nor many e-mails from one
address get past. Buckets are in memory, per process, like the kit's per-caller limit."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import grpc
from prometheus_client import Counter

from services.meetings.schema import fold
from services.meetings.settings import MeetingsSettings
from voka import errors
from voka.addresses import ClientAddresses
from voka.ratelimit import RateLimiter

REFUSED = Counter(
    "voka_meetings_contact_refused",
    "Contact messages refused or dropped, by reason: address or email (over the per-sender "
    "rate), honeypot (a bot filled the hidden field: answered as accepted, stored nowhere).",
    ["reason"],
)


class SenderLimits:
    """The per-address and per-e-mail buckets of the contact form."""

    def __init__(self, settings: MeetingsSettings) -> None:
        rate = settings.meetings_contact_per_hour / 3600
        burst = settings.meetings_contact_burst
        self._addresses = ClientAddresses(settings.gateway_secret.get_secret_value())
        self._by_address = RateLimiter(rate, burst)
        self._by_email = RateLimiter(rate, burst)

    def take_address(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Count one attempt from the caller's address (every attempt counts, valid or not),
        or RESOURCE_EXHAUSTED when its bucket is empty."""
        _take(self._by_address, self._addresses.address(context), "address")

    def take_email(self, address: str) -> None:
        """Count one message from the sender e-mail `address` (case-insensitive)."""
        _take(self._by_email, fold(address), "email")


def _take(limiter: RateLimiter, key: str, reason: str) -> None:
    wait = limiter.take(key)
    if wait > 0:
        REFUSED.labels(reason).inc()
        raise errors.resource_exhausted(
            f"too many contact messages from this {reason}",
            timedelta(seconds=math.ceil(wait)),
        )
