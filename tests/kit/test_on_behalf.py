"""A service's call for a user's work (`voka-on-behalf-of`), through a real gRPC server with the
kit's standard hooks: the user is the caller, with none of the service's roles, the service its
actor; only a service may name a user, and only a user may be named."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.fixtures.tokens import TokenFactory
from voka import authn, peer_calls
from voka.config import Settings
from voka.server import Running, ServiceSpec, single, start
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

HEADER = peer_calls.ON_BEHALF_OF
TEXT = translate_pb2.TranslateTextRequest(text="hello", target_language_code="es")


class Recorder(translate_pb2_grpc.TranslateServiceServicer):
    """An authenticated RPC that keeps the caller each call was handled as."""

    def __init__(self) -> None:
        self.callers: list[authn.Identity] = []

    async def TranslateText(
        self, request: translate_pb2.TranslateTextRequest, context: Any
    ) -> translate_pb2.TranslateTextResponse:
        self.callers.append(authn.caller())
        return translate_pb2.TranslateTextResponse(translated_text=request.text)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def peer(
    recorder: Recorder, tokens: TokenFactory, tmp_path: Path
) -> AsyncIterator[translate_pb2_grpc.TranslateServiceStub]:
    """The recorder served by the kit, one call per user allowed (a bucket of one that takes
    hours to refill)."""
    settings = Settings(service="translate", port=0, metrics_port=0, data_dir=tmp_path,
                        jwks_file=tokens.jwks_file, rate_limit_per_second=0.0001,
                        rate_limit_burst=1)  # fmt: skip
    spec = ServiceSpec(name="translate", build=single(lambda _: recorder), bus=False)
    running: Running = await start(spec, settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield translate_pb2_grpc.TranslateServiceStub(channel)
    await running.stop()


def _service_token(tokens: TokenFactory) -> tuple[str, str]:
    """A service token that also carries `admin`, so a leak of its roles would show."""
    return ("authorization", f"Bearer {tokens.mint('services/tasks', roles=('service', 'admin'))}")


def _user() -> str:
    return f"users/ana-{uuid.uuid4().hex[:8]}"


async def test_a_service_naming_a_user_is_handled_as_the_user_with_itself_as_actor(
    peer: translate_pb2_grpc.TranslateServiceStub, recorder: Recorder, tokens: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    user = _user()
    with caplog.at_level(logging.DEBUG, logger="voka.rpc"):  # the access log
        await peer.TranslateText(TEXT, metadata=(_service_token(tokens), (HEADER, user)))
    [seen] = recorder.callers
    assert seen.subject == user
    assert seen.actor == "services/tasks"
    assert seen.roles == frozenset({"user"})  # a plain user: the service's roles stay behind
    assert not seen.is_admin
    assert not seen.is_service
    [line] = [r for r in caplog.records if "TranslateText" in r.getMessage()]
    assert line.fields["caller"] == user  # type: ignore[attr-defined]
    assert line.fields["actor"] == "services/tasks"  # type: ignore[attr-defined]


async def test_a_service_naming_nobody_calls_as_itself(
    peer: translate_pb2_grpc.TranslateServiceStub, recorder: Recorder, tokens: TokenFactory
) -> None:
    metadata = (_service_token(tokens), *peer_calls.on_behalf_of("services/meetings"))
    await peer.TranslateText(TEXT, metadata=metadata)
    [seen] = recorder.callers
    assert (seen.subject, seen.actor, seen.is_service) == ("services/tasks", "", True)


@pytest.mark.parametrize("caller", ["user", "admin", "anonymous"])
async def test_anyone_but_a_service_naming_a_user_is_refused(
    peer: translate_pb2_grpc.TranslateServiceStub, recorder: Recorder, tokens: TokenFactory,
    caller: str,
) -> None:  # fmt: skip
    credentials = {
        "user": tokens.metadata(subject="users/mallory"),
        "admin": tokens.metadata(subject="users/root", roles=("admin",)),
        "anonymous": (),
    }[caller]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await peer.TranslateText(TEXT, metadata=(*credentials, (HEADER, "users/ana")))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only a service may act on behalf of a user" in (refused.value.details() or "")
    assert recorder.callers == []


@pytest.mark.parametrize("named", ["services/meetings", "ana", "users/", "users/ana/keys/1", ""])
async def test_a_name_that_is_no_user_is_invalid_argument(
    peer: translate_pb2_grpc.TranslateServiceStub, recorder: Recorder, tokens: TokenFactory,
    named: str,
) -> None:  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await peer.TranslateText(TEXT, metadata=(_service_token(tokens), (HEADER, named)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == [HEADER]
    assert recorder.callers == []


async def test_calls_made_for_a_user_draw_from_the_user_bucket(
    peer: translate_pb2_grpc.TranslateServiceStub, tokens: TokenFactory
) -> None:
    ana, bob = _user(), _user()
    await peer.TranslateText(TEXT, metadata=(_service_token(tokens), (HEADER, ana)))
    with pytest.raises(grpc.aio.AioRpcError) as limited:  # ana's own call: her one token is spent
        await peer.TranslateText(TEXT, metadata=tokens.metadata(subject=ana))
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ana in (limited.value.details() or "")
    await peer.TranslateText(TEXT, metadata=tokens.metadata(subject=bob))  # bob's bucket is full
    for _ in range(3):  # the service acting as itself is not limited here
        await peer.TranslateText(TEXT, metadata=(_service_token(tokens),))
