"""Vicky sees images (issue 20, item 3), through the whole service with the real vision service
in process as its peer: a text model is told what the vision service saw in an attached photo
(the prompt the scripted provider receives is asserted, and the real local model answers from
it), a vision-capable model gets the image itself as an `image_url` part, the stored message
keeps the image with its type, size and description, a vision service that is down leaves the
turn going with a prompt that says so, and images beyond the bounds are INVALID_ARGUMENT."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import skimage.data
from google.api import httpbody_pb2

from services.assistant.providers.anthropic import AnthropicProvider
from services.assistant.providers.base import ChatMessage, ChatRequest, Image, Sampling
from services.assistant.service import SPEC
from services.assistant.settings import ModelEntry, ProviderEntry, embedded_provider
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tests.services.assistant.scripted_api import ScriptedApi, anthropic_stream, openai_stream
from tests.services.assistant.support import remote_entry, violations
from tests.services.vision.conftest import encoded, start_vision, vision_settings
from tools.processes import NatsServer
from voka import service_identity
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc, openai_pb2, openai_pb2_grpc
from voka.server import Running, start
from voka.service_identity import ServiceIdentity

TEXT_MODEL = "text-model"
EYES_MODEL = "eyes-model"  # configured as vision-capable
MAX_IMAGES = 2
MAX_BYTES = 512 * 1024


def cat_png() -> bytes:
    """scikit-image's Chelsea the cat, 451 x 300, as PNG."""
    return encoded(skimage.data.chelsea())  # type: ignore[no-untyped-call]


def scripted(url: str) -> ProviderEntry:
    """One OpenAI-compatible provider serving a text model and a vision-capable one."""
    models = (ModelEntry(id=TEXT_MODEL), ModelEntry(id=EYES_MODEL, supports_vision=True))
    return remote_entry("openai", url).model_copy(update={"models": models})


@pytest.fixture(scope="module")
def identity(tokens: TokenFactory) -> Iterator[None]:
    """The assistant's identity as auth's IssueServiceToken would give it."""

    async def issue(service: str, secret: str) -> tuple[str, float]:
        token = tokens.mint(subject=f"services/{service}", roles=("service",), ttl=300)
        return token, time.time() + 300

    own = ServiceIdentity("assistant", "t", issue)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service_identity, "from_env", lambda *_: own)
        yield


@pytest.fixture(scope="module")
async def vision(tokens: TokenFactory, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[str]:  # fmt: skip
    """The real vision service on its local engines; its address."""
    running = await start_vision(vision_settings(tokens, tmp_path_factory.mktemp("vision")))
    yield f"127.0.0.1:{running.port}"
    await running.stop()


async def assistant(tokens: TokenFactory, nats: NatsServer, data: Path, vision_at: str,
                    api: ScriptedApi) -> Running:  # fmt: skip
    """The assistant with the local model (the default) and the scripted provider."""
    settings = assistant_settings(
        tokens, nats, data, f"sqlite:///{data / 'assistant.db'}",
        assistant_providers=(embedded_provider(), scripted(f"{api.url}/v1")),
        assistant_image_max_count=MAX_IMAGES, assistant_image_max_bytes=MAX_BYTES,
        addresses={"vision": vision_at},
    )  # fmt: skip
    return await start(SPEC, settings)


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, identity: None, vision: str, api: ScriptedApi,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    running = await assistant(tokens, nats, tmp_path_factory.mktemp("images"), vision, api)
    yield running
    await running.stop()


async def user_of(running: Running, tokens: TokenFactory) -> AsyncIterator[User]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        yield User(stub, tokens.metadata(subject="users/ines"))


@pytest.fixture
async def ines(service: Running, tokens: TokenFactory) -> AsyncIterator[User]:
    async for user in user_of(service, tokens):
        yield user


def with_photo(model: str = "", *images: bytes) -> assistant_pb2.ProcessMessageRequest:
    return assistant_pb2.ProcessMessageRequest(
        message="What animal is in this photo?",
        model=model,
        images=[assistant_pb2.ImageAttachment(data=data) for data in images or (cat_png(),)],
    )


def user_prompt(api: ScriptedApi) -> Any:
    """The content of the last message the scripted provider received (the user's)."""
    return api.received[-1].body["messages"][-1]["content"]


async def test_a_text_model_is_told_what_the_vision_service_saw(
    ines: User, api: ScriptedApi
) -> None:
    api.script.append(openai_stream(["A cat."]))
    answer = await ines.ProcessMessage(with_photo(TEXT_MODEL))
    prompt = user_prompt(api)
    assert isinstance(prompt, str)
    assert prompt.startswith("The user attached an image. Vision service (engine: ")
    assert "cat" in prompt.lower().split("saw:", 1)[1]
    assert prompt.endswith("What animal is in this photo?")
    [image] = answer.user_message.images
    assert (image.mime_type, image.size_bytes) == ("image/png", len(cat_png()))
    assert image.description in prompt
    listed = await ines.ListMessages(assistant_pb2.ListMessagesRequest(parent=answer.conversation))
    stored = listed.messages[0].images[0]
    assert stored.data == cat_png()
    assert stored.description == image.description

    api.script.append(openai_stream(["Yes."]))
    await ines.ProcessMessage(assistant_pb2.ProcessMessageRequest(
        message="Is it sleeping?", conversation=answer.conversation, model=TEXT_MODEL
    ))  # fmt: skip
    earlier = api.received[-1].body["messages"][1]["content"]
    assert image.description in earlier  # the next turn still knows what was seen


async def test_the_local_model_answers_about_an_attached_photo(ines: User) -> None:
    answer = await ines.ProcessMessage(with_photo())
    assert answer.reply.model.endswith(embedded_provider().models[0].id)
    assert answer.reply.content.strip()
    assert "cat" in answer.user_message.images[0].description.lower()


async def test_a_vision_capable_model_gets_the_image_itself(ines: User, api: ScriptedApi) -> None:
    api.script.append(openai_stream(["A cat."]))
    answer = await ines.ProcessMessage(with_photo(EYES_MODEL))
    text, image = user_prompt(api)
    assert text == {"type": "text", "text": "What animal is in this photo?"}
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert answer.user_message.images[0].description == ""


async def test_a_stand_alone_chat_shows_its_images_as_the_model_can_take_them(
    ines: User, api: ScriptedApi
) -> None:
    for model in (TEXT_MODEL, EYES_MODEL):
        api.script.append(openai_stream(["A cat."]))
        question = assistant_pb2.ChatMessage(
            role=assistant_pb2.MESSAGE_ROLE_USER, content="And this one?",
            images=[assistant_pb2.ImageAttachment(data=cat_png())],
        )  # fmt: skip
        await ines.CompleteChat(assistant_pb2.CompleteChatRequest(messages=[question], model=model))
    told, shown = (r.body["messages"][-1]["content"] for r in api.received[-2:])
    assert told.startswith("The user attached an image. Vision service")
    assert [part["type"] for part in shown] == ["text", "image_url"]


async def complete(service: Running, tokens: TokenFactory, content: list[Any]) -> Any:
    """One OpenAI-style chat completion of one user message; the JSON answer."""
    body = {"model": TEXT_MODEL, "messages": [{"role": "user", "content": content}]}
    request = openai_pb2.CreateChatCompletionRequest(
        body=httpbody_pb2.HttpBody(data=json.dumps(body).encode())
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = openai_pb2_grpc.OpenAiServiceStub(channel)
        call = stub.CreateChatCompletion(request, metadata=tokens.metadata(subject="users/olga"))
        return json.loads(b"".join([part.data async for part in call]))


async def test_the_openai_compatible_api_takes_image_url_parts(
    service: Running, tokens: TokenFactory, api: ScriptedApi
) -> None:
    question = {"type": "text", "text": "What animal?"}
    photo = f"data:image/png;base64,{base64.b64encode(cat_png()).decode('ascii')}"
    api.script.append(openai_stream(["A cat."]))
    answer = await complete(
        service, tokens, [question, {"type": "image_url", "image_url": {"url": photo}}]
    )
    assert answer["choices"][0]["message"]["content"] == "A cat."
    told = api.received[-1].body["messages"][-1]["content"]
    assert told.startswith("The user attached an image. Vision service")
    assert told.endswith("What animal?")

    remote = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await complete(service, tokens, [question, remote])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(info.value) == {"messages[0].content[1].image_url.url"}


async def test_an_anthropic_vision_model_gets_an_image_block(api: ScriptedApi) -> None:
    provider = AnthropicProvider(remote_entry("anthropic", api.url))
    api.script.append(anthropic_stream(["A cat."]))
    photo = Image("image/png", cat_png())
    asked = ChatMessage("user", "What animal?", images=(photo,))
    try:
        [event async for event in provider.stream(
            ChatRequest("anthropic-model", (asked,), Sampling())
        )]  # fmt: skip
    finally:
        await provider.aclose()
    [turn] = api.received[-1].body["messages"]
    image, text = turn["content"]
    assert (image["type"], image["source"]["media_type"]) == ("image", "image/png")
    assert base64.b64decode(image["source"]["data"]) == photo.data
    assert text == {"type": "text", "text": "What animal?"}


async def test_images_beyond_the_bounds_are_refused(ines: User) -> None:
    photo = cat_png()
    cases = {
        "images": with_photo(TEXT_MODEL, *[photo] * (MAX_IMAGES + 1)),
        "images[1].data": with_photo(TEXT_MODEL, photo, b"\x89PNG\r\n\x1a\n" + bytes(MAX_BYTES)),
        "images[0].data": with_photo(TEXT_MODEL, b"GIF89a not accepted"),
    }
    for field, request in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ines.ProcessMessage(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(info.value) == {field}


async def test_without_the_vision_service_the_prompt_says_the_image_was_not_described(
    tokens: TokenFactory, nats: NatsServer, identity: None, api: ScriptedApi, tmp_path: Path
) -> None:
    running = await assistant(tokens, nats, tmp_path, "127.0.0.1:1", api)
    try:
        async for user in user_of(running, tokens):
            api.script.append(openai_stream(["I cannot see it."]))
            answer = await user.ProcessMessage(with_photo(TEXT_MODEL))
            assert user_prompt(api).startswith("The user attached an image, but it could not be")
            assert answer.reply.content == "I cannot see it."
    finally:
        await running.stop()
