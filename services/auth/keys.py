"""The Ed25519 key ring that signs access tokens, and its rotation.

Keys live as PEM files in the keys directory (created 0700, each key 0600), with `ring.json`
saying which key signs now, which one signs next, and until when the retired ones stay
published. No key is ever in the repository or in configuration: the first start generates
one (on Kubernetes the directory is a Secret; see docs/auth.md).

Rotation publishes before it signs: the ring always holds a *next* key that is already in the
JWKS, so every verifier (Envoy refreshes its copy only once a minute and never on an unknown
`kid`) knows the new key before the first token signed with it exists. A rotation promotes the
next key, generates a new next one, and keeps the retired key published until the longest-lived
token it signed has expired (one access-token lifetime plus a grace for replicas that have not
reloaded yet). The running service re-reads `ring.json` when it changes, so a rotation done by
`python -m services.auth rotate-keys` (or a Secret update) reaches every replica.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ALGORITHM = "EdDSA"
RING_FILE = "ring.json"
Clock = Callable[[], float]


@dataclass(frozen=True)
class SigningKey:
    """One key of the ring. `expires_at` is set once the key is retired: it leaves the JWKS
    then."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: float
    retired_at: float | None = None
    expires_at: float | None = None

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, alg=ALGORITHM, use="sig")
        return jwk


@dataclass(frozen=True)
class Rotation:
    """What a rotation did, for the audit log and the `signing_key.rotated` event."""

    new_kid: str
    old_kid: str
    old_key_expires_at: float


class KeyRing:
    """The signing key, the next one (published, not signing yet) and the retired keys still
    published. `retire_after` is how long a retired key stays in the JWKS."""

    def __init__(self, directory: Path, retire_after: float, clock: Clock = time.time) -> None:
        self._dir = directory
        self._retire_after = retire_after
        self._clock = clock
        self._current: SigningKey | None = None
        self._next: SigningKey | None = None
        self._retired: list[SigningKey] = []
        self._loaded = b""

    @classmethod
    def open(cls, directory: Path, retire_after: float, clock: Clock = time.time) -> KeyRing:
        """Load the ring, generating its first keys when the directory has none."""
        ring = cls(directory, retire_after, clock)
        if (directory / RING_FILE).exists():
            ring.reload()
        else:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            ring._current, ring._next = ring._generate(), ring._generate()
            ring._save()
        return ring

    @property
    def current(self) -> SigningKey:
        assert self._current is not None
        return self._current

    @property
    def next(self) -> SigningKey | None:
        return self._next

    def jwks(self) -> dict[str, Any]:
        """The current key first, then the next one, then retired keys still alive."""
        now = self._clock()
        keys = [self.current, *([self._next] if self._next else [])]
        keys += [k for k in self._retired if (k.expires_at or 0.0) > now]
        return {"keys": [k.jwk() for k in keys]}

    def expiry_of(self, kid: str) -> float | None:
        """When a retired key leaves the JWKS; None for keys that are not retired."""
        return next((k.expires_at for k in self._retired if k.kid == kid), None)

    def rotate(self) -> Rotation:
        """Promote the next key (or a fresh one for rings written before there was a next
        key), publish a new next key, retire the current one, and delete expired keys."""
        now = self._clock()
        old = self.current
        expires_at = now + self._retire_after
        self._retired.append(replace(old, retired_at=now, expires_at=expires_at))
        self._current = self._next or self._generate()
        self._next = self._generate()
        self._forget_expired(now)
        self._save()
        return Rotation(self.current.kid, old.kid, expires_at)

    def reload(self) -> bool:
        """Re-read `ring.json` if it changed (another process rotated, or the Secret was
        updated); True when it did."""
        raw = (self._dir / RING_FILE).read_bytes()
        if raw == self._loaded:
            return False
        ring = json.loads(raw)
        entries = ring["keys"]
        if "current" not in ring:  # rings written before rotation: the last key signs
            ring = {"current": entries[-1]["kid"], "next": None}
        by_kid = {e["kid"]: self._read(e) for e in entries}
        self._current = by_kid.pop(ring["current"])
        self._next = by_kid.pop(ring["next"]) if ring.get("next") else None
        self._retired = [self._expiring(k) for k in by_kid.values()]
        self._loaded = raw
        return True

    def _expiring(self, key: SigningKey) -> SigningKey:
        if key.expires_at is not None:
            return key
        retired = key.retired_at if key.retired_at is not None else key.created_at
        return replace(key, retired_at=retired, expires_at=retired + self._retire_after)

    def _generate(self) -> SigningKey:
        key = SigningKey(uuid.uuid4().hex[:16], Ed25519PrivateKey.generate(), self._clock())
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(self._dir / f"{key.kid}.pem", pem)
        return key

    def _read(self, entry: dict[str, Any]) -> SigningKey:
        pem = (self._dir / f"{entry['kid']}.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"key {entry['kid']} is not Ed25519")
        return SigningKey(
            entry["kid"], key, entry["created_at"], entry.get("retired_at"), entry.get("expires_at")
        )

    def _save(self) -> None:
        keys = [self.current, *([self._next] if self._next else []), *self._retired]
        entries = [
            {
                "kid": k.kid,
                "created_at": k.created_at,
                "retired_at": k.retired_at,
                "expires_at": k.expires_at,
            }
            for k in keys
        ]
        next_kid = self._next.kid if self._next else None
        ring = {"current": self.current.kid, "next": next_kid, "keys": entries}
        self._loaded = json.dumps(ring, indent=1).encode()
        _write_private(self._dir / RING_FILE, self._loaded)

    def _forget_expired(self, now: float) -> None:
        """Delete the files of retired keys no token can need any more."""
        expired = [k for k in self._retired if (k.expires_at or 0.0) <= now]
        for key in expired:
            (self._dir / f"{key.kid}.pem").unlink(missing_ok=True)
        self._retired = [k for k in self._retired if k not in expired]


def _write_private(path: Path, data: bytes) -> None:
    """Write owner-only, atomically: a crash never leaves half a key or a readable one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
