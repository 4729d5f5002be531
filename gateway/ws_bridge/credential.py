"""A session's credential over time: access tokens live minutes, voice sessions may last half an
hour, so a client sends a fresh token (`{"type": "token", "token": ...}`) before the one it
started with expires, and a session whose token expired without one is closed (1008
`token_expired`).

The service verified the start token when the stream began (and refuses the stream if it was
bad), so the bridge reads only its subject and expiry from it. A fresh token never reaches the
service, so the bridge verifies it in full (signature against the auth service's keys, issuer,
audience, expiry) and it must name the same subject: a socket cannot change hands. An API key
does not expire within a session, so a session started with one has no deadline and takes no
fresh token. The revocation denylist is the services' (fed over NATS, which the bridge does not
join): a token revoked mid-session is cut off at its expiry, at most one token lifetime later.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

import jwt

from gateway.ws_bridge import protocol
from voka import authn, errors

Clock = Callable[[], float]


def _claims(token: str) -> tuple[str, float]:
    """The subject and expiry a JWT states, unverified; an API key or opaque token: ("", inf)."""
    if authn.is_api_key(token):
        return "", math.inf
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return "", math.inf  # not a JWT: the service refuses it when the stream starts
    expiry = claims.get("exp")
    deadline = float(expiry) if isinstance(expiry, int | float) else math.inf
    return str(claims.get("sub", "")), deadline


def refused(text: str) -> protocol.Closing:
    return protocol.policy("token_refused", text)


class Credential:
    """The subject and deadline of one session, moved on by each fresh token."""

    def __init__(self, verifier: authn.Verifier, token: str, clock: Clock = time.time) -> None:
        self._verifier = verifier
        self._clock = clock
        self.subject, self.expires_at = _claims(token)
        self._moved = asyncio.Event()  # set when a fresh token moves the deadline

    async def refresh(self, token: str) -> None:
        """Take a fresh access token for the same subject; anything else closes the socket."""
        if not self.subject or math.isinf(self.expires_at):
            raise refused("this session's credential does not expire; it takes no fresh token")
        if authn.is_api_key(token):
            raise refused("a fresh token must be an access token, not an API key")
        try:
            identity = await self._verifier.verify(token)
        except errors.VokaError as exc:
            raise refused(exc.message) from exc
        if identity.subject != self.subject:
            raise refused("the fresh token is another caller's")
        self.expires_at = max(self.expires_at, identity.expires_at)
        self._moved.set()

    async def watch(self) -> None:
        """Return never; raise the `token_expired` close once the deadline passes unmoved."""
        while (left := self.expires_at - self._clock()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if math.isinf(left) else left):
                    await self._moved.wait()
            self._moved.clear()
        raise protocol.policy(
            "token_expired",
            'the access token expired; send {"type": "token", "token": ...} before it does',
        )
