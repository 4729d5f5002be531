"""LibreTranslateService in process over gRPC: the credential in the body (`api_key`) signs the
caller in through the kit (voka.authn.sign_in), so the translation lands in that caller's history
and the per-user rate limit applies to it as to a header credential; LibreTranslate's refusals
come back as precise statuses."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import grpc
import pytest
from google.api import httpbody_pb2

from services.translate.libretranslate import access
from services.translate.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.translate.conftest import settings_for
from tools.processes import NatsServer
from voka.server import Running, start
from voka.translate.v1 import (
    libretranslate_pb2,
    libretranslate_pb2_grpc,
    translate_pb2,
    translate_pb2_grpc,
)

pytestmark = pytest.mark.integration

BURST = 3
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
async def limited(
    tokens: TokenFactory,
    nats: NatsServer,
    models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    """The service with a per-user burst of BURST calls, refilled only after a minute."""
    settings = settings_for(
        tokens,
        nats,
        models_dir,
        tmp_path_factory.mktemp("data"),
        rate_limit_per_second=BURST / 60,
        rate_limit_burst=BURST,
    )
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def channel(limited: Running) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limited.port}") as opened:
        yield opened


@pytest.fixture(scope="module")
def lt(channel: grpc.aio.Channel) -> libretranslate_pb2_grpc.LibreTranslateServiceStub:
    return libretranslate_pb2_grpc.LibreTranslateServiceStub(channel)


def form(**fields: str) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=FORM, data=urlencode(fields).encode())


async def refusal(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_body_key_translates_into_its_owners_history(lt, channel, tokens):
    user = f"users/{uuid.uuid4().hex[:12]}"
    body = form(q="Hello, how are you?", source="en", target="es", api_key=tokens.mint(user))
    reply = await lt.Translate(libretranslate_pb2.TranslateRequest(body=body))
    assert json.loads(reply.data)["translatedText"].startswith("Hola")
    history = await translate_pb2_grpc.TranslateServiceStub(channel).ListTranslations(
        translate_pb2.ListTranslationsRequest(), metadata=tokens.metadata(subject=user)
    )
    assert [t.owner for t in history.translations] == [user]


async def test_body_key_is_rate_limited_like_a_header(lt, tokens):
    key = tokens.mint(f"users/{uuid.uuid4().hex[:12]}")
    request = libretranslate_pb2.DetectRequest(body=form(q="Hello there", api_key=key))
    for _ in range(BURST):
        await lt.Detect(request)
    err = await refusal(lt.Detect(request))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_no_key_is_invalid_argument(lt):
    err = await refusal(lt.Detect(libretranslate_pb2.DetectRequest(body=form(q="Hello"))))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == access.NO_KEY


@pytest.mark.parametrize("key", ["vk_0000000000no-such-key", "not-a-token"])
async def test_a_bad_key_is_permission_denied(lt, key):
    body = form(q="Hello", source="en", target="es", api_key=key)
    err = await refusal(lt.Translate(libretranslate_pb2.TranslateRequest(body=body)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == access.BAD_KEY


async def test_a_key_in_both_places_is_refused(lt, tokens):
    body = form(q="Hello", api_key=tokens.mint())
    err = await refusal(
        lt.Detect(libretranslate_pb2.DetectRequest(body=body), metadata=tokens.metadata())
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_languages_are_public(lt):
    reply = await lt.GetLanguages(libretranslate_pb2.GetLanguagesRequest())
    english = next(entry for entry in json.loads(reply.data) if entry["code"] == "en")
    assert {"de", "es"} <= set(english["targets"])
