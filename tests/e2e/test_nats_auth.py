"""NATS in the mesh as `make up` runs it: no one gets in without a user, each service works
within its own user's permissions, and a service cannot forge auth's announcement that a user
was deleted (which would erase that user's data everywhere)."""

from __future__ import annotations

import asyncio

import httpx
import nats
import nats.errors
import pytest

from tests.e2e.conftest import sign_in
from tools.mesh import Mesh
from voka.auth.v1 import events_pb2
from voka.bus import Bus, stream_name, subject_of

FORGER = "e2e-forger"  # the client name of the forging connection, as the server logs it
SETTLE = 3.0  # seconds the erasure consumers get to act on an event, had one been stored


async def test_nats_refuses_a_client_without_a_user(mesh: Mesh) -> None:
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(mesh.nats_address, name=FORGER, allow_reconnect=False,
                           connect_timeout=2)  # fmt: skip


async def test_a_service_cannot_announce_a_deleted_user(mesh: Mesh, rest: httpx.Client) -> None:
    """Signed in as translate, an attacker publishes `voka.auth.user.deleted` for a user who
    has a meetings client: the server refuses it, nothing is stored, the client stays."""
    headers, user = await asyncio.to_thread(_user_with_a_client, rest)
    forger = await Bus.connect(mesh.nats_address, FORGER,
                               credentials=mesh.nats_credentials("translate"))  # fmt: skip
    forged = events_pb2.UserDeletedEvent(user=user, actor=user)
    try:
        with pytest.raises(TimeoutError):  # the server drops it: no ack ever comes
            async with asyncio.timeout(10):
                await forger.publish(forged)
        await forger.nc.publish(subject_of(type(forged)), forged.SerializeToString())
        await forger.nc.flush()
    finally:
        await forger.close()
    await asyncio.sleep(SETTLE)
    admin = await nats.connect(mesh.nats_url)
    try:
        stored = await admin.jetstream().stream_info(stream_name("auth"), subjects_filter=">")
    finally:
        await admin.close()
    assert "voka.auth.user.deleted" not in (stored.state.subjects or {})
    listed = await asyncio.to_thread(rest.get, "/api/v1/clients", headers=headers)
    assert [c["displayName"] for c in listed.json()["clients"]] == ["Kept"]


def _user_with_a_client(rest: httpx.Client) -> tuple[dict[str, str], str]:
    """A fresh user (its headers and `users/{id}`) who keeps a meetings client."""
    headers = sign_in(rest)
    user = rest.get("/api/v1/users/me", headers=headers).json()["user"]["name"]
    created = rest.post("/api/v1/clients", json={"displayName": "Kept"}, headers=headers)
    assert created.status_code == 200, created.text
    return headers, str(user)


def test_every_service_stays_within_its_permissions(mesh: Mesh, rest: httpx.Client) -> None:
    """Whatever the services did so far in this mesh (start, consumers, events, the tests
    before this one), the server refused none of it: only the forger hit a violation."""
    rest.get("/api/v1/health/meetings")
    log = (mesh.var / "logs" / "nats.log").read_text(errors="replace")
    refused = [line for line in log.splitlines() if "Violation" in line]
    assert [line for line in refused if FORGER not in line] == []
