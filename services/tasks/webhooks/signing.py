"""How a delivery proves where it comes from, in the style of Stripe and GitHub:

    X-Voka-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>

The timestamp is signed with the body, so a receiver that refuses signatures older than a few
minutes cannot be fed a recorded delivery again (replay); `v1` names the scheme, so a future
one can be sent beside it. `verify` is what a receiver runs (docs/webhooks.md shows it)."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Voka-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, at: int) -> str:
    """The header value for `body` sent at `at` (unix seconds)."""
    return f"t={at},{SCHEME}={_digest(secret, body, at)}"


def verify(
    header: str, body: bytes, secret: str, tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:  # fmt: skip
    """Whether `header` signs `body` with `secret` within `tolerance` seconds of `now`."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        at = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - at) > tolerance:
        return False
    expected = _digest(secret, body, at)
    return any(hmac.compare_digest(expected, v) for v in fields.get(SCHEME, []))


def _digest(secret: str, body: bytes, at: int) -> str:
    return hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
