"""voka.apikeys and voka.credentials: cached API-key answers dropped by the auth events, and the
JWKS fetched again when the auth service announces a key rotation (a real nats-server)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka import credentials, errors
from voka.apikeys import ApiKeyVerifier
from voka.auth.v1 import events_pb2
from voka.authn import Identity
from voka.bus import Bus
from voka.config import Settings
from voka.errors import VokaError

KEY = "users/u1/api-keys/k1"
WAIT = 5.0


class Auth:
    """Stands in for AuthenticateApiKey's answers and counts the questions."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self.asked = 0
        self.valid = {"vk_good"}

    async def __call__(self, api_key: str) -> tuple[Identity, float]:
        self.asked += 1
        if api_key not in self.valid:
            raise errors.unauthenticated("API key not valid")
        return Identity("users/u1", frozenset({"user"}), "", float("inf"), KEY), self.ttl


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


async def test_answers_are_cached_for_their_ttl() -> None:
    auth, clock = Auth(ttl=60), Clock()
    verifier = ApiKeyVerifier(auth, clock)
    first = await verifier.verify("vk_good")
    assert (first.subject, first.api_key) == ("users/u1", KEY)
    await verifier.verify("vk_good")
    assert auth.asked == 1
    clock.now += 61
    await verifier.verify("vk_good")
    assert auth.asked == 2


async def test_refusals_are_not_cached() -> None:
    auth = Auth()
    verifier = ApiKeyVerifier(auth)
    for _ in range(2):
        with pytest.raises(VokaError):
            await verifier.verify("vk_bad")
    assert auth.asked == 2


@pytest.mark.parametrize(
    "event",
    [
        events_pb2.ApiKeyRevokedEvent(api_key=KEY, user="users/u1"),
        events_pb2.UserDisabledEvent(user="users/u1"),
        events_pb2.UserDeletedEvent(user="users/u1"),
        events_pb2.UserRoleChangedEvent(user="users/u1"),
    ],
)
async def test_events_that_change_a_keys_rights_drop_its_answer(event) -> None:
    auth = Auth()
    verifier = ApiKeyVerifier(auth)
    await verifier.verify("vk_good")
    verifier.on_event(events_pb2.ApiKeyRevokedEvent(api_key="users/u2/api-keys/other"))
    await verifier.verify("vk_good")
    assert auth.asked == 1  # another key's revocation changes nothing
    verifier.on_event(event)
    auth.valid.clear()
    with pytest.raises(VokaError):
        await verifier.verify("vk_good")


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    opened = await Bus.connect(nats_server.url, "apikeys-test")
    await opened.ensure_stream("auth")
    yield opened
    await opened.close()


def _publish_jwks(path: Path, key: Ed25519PrivateKey, kid: str) -> None:
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="EdDSA", use="sig")
    path.write_text(json.dumps({"keys": [jwk]}))


async def test_a_rotation_event_makes_the_kit_fetch_the_jwks_again(
    bus: Bus, tokens: TokenFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOKA_SERVICE_SECRET", raising=False)
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(tokens.jwks_file.read_text())
    settings = Settings(service="kinect", jwks_file=jwks_file)
    kit = await credentials.start("kinect", settings, bus)
    try:
        assert (await kit.verifier.verify(tokens.mint())).subject == "users/alice"
        rotated, kid = Ed25519PrivateKey.generate(), uuid.uuid4().hex[:16]
        _publish_jwks(jwks_file, rotated, kid)
        new_token = tokens.mint(key=rotated, kid=kid)
        with pytest.raises(VokaError):  # unknown kid, and the cache was refreshed just now
            await kit.verifier.verify(new_token)
        await bus.publish(events_pb2.SigningKeyRotatedEvent(new_key_id=kid))
        deadline = time.monotonic() + WAIT
        while True:
            try:
                assert (await kit.verifier.verify(new_token)).subject == "users/alice"
                break
            except VokaError:
                assert time.monotonic() < deadline, "the kit never fetched the new key"
                await asyncio.sleep(0.05)
        with pytest.raises(VokaError, match="cannot resolve API keys"):
            await kit.verifier.verify("vk_anything")  # no service identity to ask auth with
    finally:
        for close in kit.on_stop:
            await close()
