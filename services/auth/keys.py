"""The Ed25519 key ring that signs access tokens.

Keys live as PEM files in the keys directory (created 0700, each key 0600), with `ring.json`
saying which one signs now and when the others were retired. No key is ever in the repository
or in configuration: the first start generates one. A rotation keeps the retired public keys in
the JWKS for one access-token lifetime, so tokens signed just before it stay verifiable.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ALGORITHM = "EdDSA"
RING_FILE = "ring.json"


@dataclass(frozen=True)
class SigningKey:
    """One key of the ring; `retired_at` is None for the key that signs now."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: float
    retired_at: float | None = None

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
    """The signing key and the retired keys still published."""

    def __init__(self, directory: Path, token_lifetime: float) -> None:
        self._dir = directory
        self._lifetime = token_lifetime
        self._keys: list[SigningKey] = []

    @classmethod
    def open(cls, directory: Path, token_lifetime: float) -> KeyRing:
        """Load the ring, generating its first key when the directory has none."""
        ring = cls(directory, token_lifetime)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if (directory / RING_FILE).exists():
            ring._load()
        else:
            ring._keys = [ring._generate()]
            ring._save()
        return ring

    @property
    def current(self) -> SigningKey:
        return self._keys[-1]

    def jwks(self) -> dict[str, Any]:
        """The current key first, then retired keys whose tokens may still be alive."""
        return {"keys": [k.jwk() for k in reversed(self._published())]}

    def rotate(self) -> Rotation:
        """A new signing key; the old one stays published for one token lifetime."""
        now = time.time()
        old = self.current
        retired = SigningKey(old.kid, old.private_key, old.created_at, now)
        self._keys = [*self._keys[:-1], retired, self._generate()]
        self._forget_expired()
        return Rotation(self.current.kid, old.kid, now + self._lifetime)

    def _published(self) -> list[SigningKey]:
        now = time.time()
        return [
            k for k in self._keys if k.retired_at is None or k.retired_at + self._lifetime > now
        ]

    def _generate(self) -> SigningKey:
        key = SigningKey(uuid.uuid4().hex[:16], Ed25519PrivateKey.generate(), time.time())
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(self._dir / f"{key.kid}.pem", pem)
        return key

    def _load(self) -> None:
        entries = json.loads((self._dir / RING_FILE).read_text())["keys"]
        self._keys = [self._read(entry) for entry in entries]

    def _read(self, entry: dict[str, Any]) -> SigningKey:
        pem = (self._dir / f"{entry['kid']}.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"key {entry['kid']} is not Ed25519")
        return SigningKey(entry["kid"], key, entry["created_at"], entry.get("retired_at"))

    def _save(self) -> None:
        entries = [
            {"kid": k.kid, "created_at": k.created_at, "retired_at": k.retired_at}
            for k in self._keys
        ]
        _write_private(self._dir / RING_FILE, json.dumps({"keys": entries}).encode())

    def _forget_expired(self) -> None:
        """Delete the files of retired keys no token can need any more."""
        alive = {k.kid for k in self._published()}
        for key in self._keys:
            if key.kid not in alive:
                (self._dir / f"{key.kid}.pem").unlink(missing_ok=True)
        self._keys = [k for k in self._keys if k.kid in alive]
        self._save()


def _write_private(path: Path, data: bytes) -> None:
    """Write owner-only, atomically: a crash never leaves half a key or a readable one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
