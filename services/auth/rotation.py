"""Noticing a signing-key rotation in the running service and telling the mesh.

`python -m services.auth rotate-keys` (or an updated Kubernetes Secret) changes `ring.json`
under a running service; every replica re-reads it within `VOKA_AUTH_KEYS_POLL_SECONDS` and
signs with the new key from then on. The first replica to record the change writes the audit
entry and `SigningKeyRotatedEvent` to the kit's outbox in one transaction; the event id is
derived from the new `kid`, so every other replica finds it taken and records nothing. The kits
of the other services drop their cached JWKS when the event arrives instead of waiting for their
cache to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from google.protobuf import timestamp_pb2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.keys import ALGORITHM, KeyRing, Rotation
from services.auth.store import AuditStore, Client, now
from voka.auth.v1 import auth_pb2, events_pb2
from voka.outbox import Outbox

log = logging.getLogger("voka.auth.rotation")


def rotated_event(rotation: Rotation, moment: float) -> events_pb2.SigningKeyRotatedEvent:
    return events_pb2.SigningKeyRotatedEvent(
        new_key_id=rotation.new_kid,
        old_key_id=rotation.old_kid,
        algorithm=ALGORITHM,
        rotate_time=timestamp_pb2.Timestamp(seconds=int(moment)),
        old_key_expire_time=timestamp_pb2.Timestamp(seconds=int(rotation.old_key_expires_at)),
    )


class RingWatcher:
    """Re-reads the ring every `interval` seconds; reports a changed current key."""

    def __init__(
        self,
        ring: KeyRing,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        interval: float,
    ) -> None:
        self._ring = ring
        self._db = sessions
        self._outbox = outbox
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="auth-key-ring")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:  # a half-updated Secret, a flaky disk: keep signing, retry later
                log.warning("cannot reload the signing key ring", exc_info=True)

    async def check(self) -> Rotation | None:
        """Reload once; the rotation it found, if the signing key changed."""
        old = self._ring.current.kid
        if not self._ring.reload() or self._ring.current.kid == old:
            return None
        rotation = Rotation(self._ring.current.kid, old, self._ring.expiry_of(old) or 0.0)
        log.info("signing key rotated: %s -> %s", old, rotation.new_kid)
        await self._record(rotation)
        return rotation

    async def _record(self, rotation: Rotation) -> None:
        """The audit entry and the event, once per rotation however many replicas see it."""
        event = rotated_event(rotation, now().timestamp())
        try:
            async with self._db.begin() as db:
                await AuditStore(db).record(
                    auth_pb2.AUDIT_EVENT_TYPE_SIGNING_KEY_ROTATED,
                    Client("", "key ring"),
                    resource=rotation.new_kid,
                    details={"old_kid": rotation.old_kid},
                )
                await self._outbox.add(db, event, event_id=f"signing-key-{rotation.new_kid}")
        except IntegrityError:  # the outbox's (producer, event_id) is unique
            log.info("key rotation to %s already recorded by another replica", rotation.new_kid)
