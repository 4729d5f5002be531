"""Password hashing with argon2id, off the event loop.

A hash costs tens of milliseconds of CPU on purpose; running it inline would stall every other
RPC of the process, so it runs in a worker thread. Logins for unknown accounts still verify
against a dummy hash, so the answer time does not tell which accounts exist.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, only spends the same time")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; `stored_hash` None (no such account) is always False."""
    try:
        await asyncio.to_thread(_hasher.verify, stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None
