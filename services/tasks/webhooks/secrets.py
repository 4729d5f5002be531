"""Webhook signing secrets: made here, shown to their owner once, kept sealed.

A delivery is signed with HMAC-SHA256, which needs the secret itself at every attempt, so it
cannot be stored as a hash (as passwords and API keys are). It is stored sealed instead:
AES-256-GCM under the service's webhook key, with the webhook's name as associated data (a
sealed secret copied onto another webhook does not open). A copy of the database alone gives
no secret away. Each delivery task carries the secret sealed again with `delivery_context` as
associated data, which binds it to that delivery's target URL and body: a delivery task whose
target or body was changed (a forged dispatch on the bus, an edited row), or one made up
around a seal copied out of a task, does not open, and nothing is sent.

The key is `VOKA_TASKS_WEBHOOK_KEY` (base64url of 32 bytes: a Kubernetes Secret, shared by the
service and the NETWORK_INTENSIVE workers); without it, a key file under the data directory is
made on first use (one machine, `make up`)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "whsec_"
KEY_FILE = "webhook.key"
_NONCE = 12


class SealError(ValueError):
    """A sealed secret that does not open under this key (another key, or tampered with)."""


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def delivery_context(webhook: str, delivery: str, target_uri: str, body: str) -> str:
    """What a delivery's seal covers: the webhook, the delivery, where it goes and what it
    says (the body by its SHA-256)."""
    digest = hashlib.sha256(body.encode()).hexdigest()
    return "\n".join(("voka-webhook-delivery/1", webhook, delivery, target_uri, digest))


class Sealer:
    """Seals and opens secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:  # AES-256
            raise ValueError("the webhook key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_config(cls, key: str, data_dir: Path) -> Sealer:
        """The configured key, else the data directory's key file (made 0600 if missing)."""
        if key:
            return cls(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)))
        return cls(_key_file(data_dir / "tasks" / KEY_FILE))

    def seal(self, secret: str, context: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), context.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealError(
                "the webhook secret does not open under this key for this context (another "
                "key, another webhook, or a delivery's target or body it was not sealed for)"
            ) from exc


def _key_file(path: Path) -> bytes:
    """Read the key, or create it: written whole under a temporary name, then linked into
    place (fails if it exists), so two processes starting together agree on one key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(AESGCM.generate_key(bit_length=256))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process won; use its key
        finally:
            scratch.unlink()
    return path.read_bytes()
