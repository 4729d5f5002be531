"""Per-caller rate limits in every service: a token bucket per subject.

Envoy's `local_ratelimit` caps the edge as a whole; this caps each caller, whichever way it
came (through Envoy or straight over gRPC). The bucket is keyed by the verified subject, so an
API key draws from its owner's bucket: a user cannot multiply its rate by minting keys.
Service identities are not limited here (their calls fan in from many users, who were limited
where they entered); a service's call for a user's work names the user and counts as the user's
(voka.authn.on_behalf), so work queued as tasks cannot escape the user's bucket. Anonymous
calls reach only public RPCs, which Envoy and the auth service's per-address limits cover.

Buckets live in memory, per replica: with N replicas behind Envoy a caller gets up to N times
the rate. That is the price of needing no shared store on the hot path; `VOKA_RATE_LIMIT_*`
are per process, so each Deployment sets its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from voka import authn, errors
from voka.calls import Call, Hook, before

Clock = Callable[[], float]
SWEEP_EVERY = 60.0  # seconds between drops of full (idle) buckets, which keeps memory bounded


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` calls per second per key on average, `burst` at once."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._swept_at = clock()

    def take(self, key: str) -> float:
        """Take one token for `key`: 0.0 when allowed, else the seconds until one is there."""
        now = self._clock()
        self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        if now - self._swept_at < SWEEP_EVERY:
            return
        self._swept_at = now
        full = self._burst / self._rate  # seconds after which any bucket is full again
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.at < full}


def rate_limit_hook(limiter: RateLimiter) -> Hook:
    """RESOURCE_EXHAUSTED with RetryInfo (HTTP 429 through Envoy) once a caller's bucket is
    empty. Runs after the identity hook, which sets the caller; a caller signed in later from
    the request body (voka.authn.sign_in) is judged the same way then."""

    def admit(identity: authn.Identity) -> None:
        if identity.is_service:
            return
        wait = limiter.take(identity.subject)
        if wait > 0:
            raise errors.resource_exhausted(
                f"rate limit of {identity.subject} exceeded",
                timedelta(seconds=math.ceil(wait * 1000) / 1000),
            )

    async def check(call: Call) -> None:
        identity = authn.optional_caller()
        if identity is not None:
            admit(identity)
        authn.admit_late(admit)

    return before(check)
