"""Access JWTs and opaque secrets (refresh tokens, API keys).

Access tokens are EdDSA JWTs with the claims the kit's verifier requires: `iss` voka-auth,
`aud` voka, `sub` (a resource name), `roles`, `jti`, `iat`, `exp`, and `sid`: the session they
belong to, or the API key they were exchanged for. `iat` keeps microseconds (JWT allows a
fractional NumericDate): the denylist's cut-offs revoke the tokens issued before an instant, and
a password change issues the fresh session's token in the same second as it revokes the old
ones. Refresh tokens and API keys are random secrets of which only the SHA-256 is stored: a
leaked table opens no account.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from services.auth.keys import ALGORITHM, KeyRing
from voka.authn import API_KEY_PREFIX, AUDIENCE, ISSUER

REFRESH_PREFIX = "rt_"
API_KEY_LOOKUP_CHARS = 8  # after `vk_`: what is stored in clear to find the key


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    subject: str
    issued_at: float
    expires_at: float


class TokenIssuer:
    """Signs access tokens with the ring's current key."""

    def __init__(self, ring: KeyRing, lifetime: float) -> None:
        self._ring = ring
        self.lifetime = lifetime

    def issue(
        self, subject: str, roles: list[str], session: str = "", not_after: float | None = None
    ) -> AccessToken:
        """A token for `subject` in `session` (a session's or an API key's id), expiring after
        the lifetime or `not_after`, if sooner."""
        now = time.time()
        expires = min(now + self.lifetime, not_after or float("inf"))
        jti = uuid.uuid4().hex
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "roles": roles,
            "jti": jti,
            "iat": round(now, 6),
            "exp": int(expires),
        }
        if session:
            claims["sid"] = session
        key = self._ring.current
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return AccessToken(token, jti, subject, now, float(int(expires)))


def digest(secret: str) -> str:
    """What is stored of a secret: its SHA-256 (the secrets are long random strings, so a
    slow hash adds nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """A fresh API key secret and its lookup prefix (`vk_` + 8 characters)."""
    secret = API_KEY_PREFIX + secrets.token_hex(4) + secrets.token_urlsafe(32)
    return secret, api_key_prefix(secret)


def api_key_prefix(secret: str) -> str:
    return secret[: len(API_KEY_PREFIX) + API_KEY_LOOKUP_CHARS]
