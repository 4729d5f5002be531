"""Signing-key rotation: the ring's rules, the running service picking up a rotation made by
the `rotate-keys` command (real NATS, SQLite), and replicas recording one rotation once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import jwt
import nats
import pytest
import sqlalchemy as sa

from services.auth.cli import create_admin, rotate_keys
from services.auth.keys import KeyRing
from services.auth.rotation import RingWatcher
from services.auth.settings import AuthSettings
from services.auth.tables import audit_events
from tests.fixtures.waiting import eventually
from tests.services.auth.conftest import PASSWORD, bearer, signed_up
from voka import db
from voka.auth.v1 import auth_pb2, events_pb2
from voka.bus import subject_of
from voka.outbox import Outbox, outbox_table
from voka.server import Running

pytestmark = pytest.mark.integration
TOKEN_SECONDS = 4
WAIT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _kids(ring: KeyRing) -> list[str]:
    return [k["kid"] for k in ring.jwks()["keys"]]


def test_the_next_key_is_published_before_it_signs(tmp_path: Path):
    ring = KeyRing.open(tmp_path, retire_after=60, clock=Clock())
    assert ring.next is not None
    assert _kids(ring) == [ring.current.kid, ring.next.kid]
    upcoming = ring.next.kid
    rotation = ring.rotate()
    assert rotation.new_kid == upcoming == ring.current.kid
    assert ring.next is not None
    assert ring.next.kid not in (rotation.old_kid, upcoming)


def test_a_retired_key_stays_published_until_its_tokens_expired(tmp_path: Path):
    clock = Clock()
    ring = KeyRing.open(tmp_path, retire_after=60, clock=clock)
    rotation = ring.rotate()
    assert rotation.old_key_expires_at == clock.now + 60
    assert rotation.old_kid in _kids(ring)
    clock.now += 59
    assert rotation.old_kid in _kids(ring)
    clock.now += 2
    assert rotation.old_kid not in _kids(ring)
    ring.rotate()  # the next rotation deletes the expired key's file
    assert not (tmp_path / f"{rotation.old_kid}.pem").exists()


def test_another_process_sees_the_rotation_on_reload(tmp_path: Path):
    serving = KeyRing.open(tmp_path, retire_after=60)
    assert not serving.reload()  # nothing changed
    rotation = KeyRing.open(tmp_path, retire_after=60).rotate()
    assert serving.reload()
    assert serving.current.kid == rotation.new_kid
    assert serving.expiry_of(rotation.old_kid) == rotation.old_key_expires_at


def test_a_ring_from_before_rotation_still_loads(tmp_path: Path):
    """Rings written by the first auth release had no `current`/`next`: the last key signs."""
    ring = KeyRing.open(tmp_path, retire_after=60)
    entry = {"kid": ring.current.kid, "created_at": 1, "retired_at": None}
    (tmp_path / "ring.json").write_text(json.dumps({"keys": [entry]}))
    old = KeyRing.open(tmp_path, retire_after=60)
    assert (old.current.kid, old.next) == (ring.current.kid, None)
    rotation = old.rotate()
    assert rotation.old_kid == ring.current.kid
    assert old.next is not None


@pytest.fixture
def auth_options() -> dict[str, Any]:
    return {
        "auth_access_token_seconds": TOKEN_SECONDS,
        "auth_key_retire_grace_seconds": 0,
        "auth_keys_poll_seconds": 0.1,
    }


async def _signing_kid(stub) -> str:
    return (await stub.GetJwks(auth_pb2.GetJwksRequest())).keys[0].kid


async def _until_signing(stub, kid: str) -> None:
    async def signing() -> bool:
        return await _signing_kid(stub) == kid

    await eventually(signing, WAIT)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_rotation_reaches_the_running_service_and_the_mesh(auth: Running, stub):
    settings = auth.resources.settings
    assert isinstance(settings, AuthSettings)
    events = await nats.connect(settings.nats_url)
    received: asyncio.Queue[events_pb2.SigningKeyRotatedEvent] = asyncio.Queue()

    async def on_event(msg: Any) -> None:
        await received.put(events_pb2.SigningKeyRotatedEvent.FromString(msg.data))

    await events.subscribe(subject_of(events_pb2.SigningKeyRotatedEvent), cb=on_event)
    try:
        before = await signed_up(stub)
        rotation = rotate_keys(settings)
        await _until_signing(stub, rotation.new_kid)
        after = await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
        assert jwt.get_unverified_header(after.access_token)["kid"] == rotation.new_kid
        assert jwt.get_unverified_header(before.access_token)["kid"] == rotation.old_kid
        for token in (before.access_token, after.access_token):  # signed before and after
            me = await stub.GetUser(
                auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(token)
            )
            assert me.user.name == before.user.name
        event = await asyncio.wait_for(received.get(), WAIT)
        assert (event.new_key_id, event.old_key_id) == (rotation.new_kid, rotation.old_kid)
        assert event.old_key_expire_time.seconds == int(rotation.old_key_expires_at)
        jwks = [k.kid for k in (await stub.GetJwks(auth_pb2.GetJwksRequest())).keys]
        assert rotation.old_kid in jwks
        await asyncio.sleep(max(rotation.old_key_expires_at - time.time(), 0) + 0.2)
        jwks = [k.kid for k in (await stub.GetJwks(auth_pb2.GetJwksRequest())).keys]
        assert rotation.old_kid not in jwks  # every token it signed has expired
        assert rotation.new_kid == jwks[0]
        await create_admin(settings, "root", "root@example.com", PASSWORD)
        admin = await stub.Login(auth_pb2.LoginRequest(username="root", password=PASSWORD))
        audited = await stub.ListAuditEvents(
            auth_pb2.ListAuditEventsRequest(types=[auth_pb2.AUDIT_EVENT_TYPE_SIGNING_KEY_ROTATED]),
            metadata=bearer(admin.access_token),
        )
        assert [e.resource for e in audited.audit_events] == [rotation.new_kid]
    finally:
        await events.close()


async def test_replicas_that_see_one_rotation_record_it_once(tmp_path: Path, database_url: str):
    """Every replica notices the rotation; the first writes the audit entry and the event (to
    the outbox), the others find the event's id taken and record nothing."""
    settings = AuthSettings(service="auth", data_dir=tmp_path, database_url=database_url)
    engine = db.create_engine(settings.sqlalchemy_url)
    try:
        await db.migrate(engine, "auth")
        sessions = db.session_factory(engine)
        replicas = [
            RingWatcher(KeyRing.open(settings.keys_dir, 60), sessions, Outbox("auth"), 60)
            for _ in range(2)
        ]
        rotation = rotate_keys(settings)
        seen = [await replica.check() for replica in replicas]
        assert [r.new_kid if r else None for r in seen] == [rotation.new_kid] * 2
        rotated = audit_events.c.type == auth_pb2.AUDIT_EVENT_TYPE_SIGNING_KEY_ROTATED
        async with sessions() as session:
            audited = await session.execute(sa.select(audit_events.c.resource).where(rotated))
            queued = await session.execute(sa.select(outbox_table.c.event_id))
            assert list(audited.scalars()) == [rotation.new_kid]
            assert list(queued.scalars()) == [f"signing-key-{rotation.new_kid}"]
    finally:
        await engine.dispose()
