"""WatchConversations (issue 19, item 6: Vektor's sync across devices) through gRPC in process
on a real NATS, on SQLite and PostgreSQL, with the scripted OpenAI-compatible provider
answering: two streams of one user (two devices) see a new conversation with its messages, a
rename and a deletion live; another user's stream sees none of it; the streams per caller are
capped before a byte; a stream with nothing to say ends when idle. The re-read backstop is set
far beyond the waits here, so the changes come through the change hints on NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tests.services.assistant.scripted_api import ScriptedApi, openai_stream
from tests.services.assistant.support import remote_entry
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import Running, start
from voka_client.assistant import sse_event

WAIT = 10.0  # for a change to show (the backstop re-read is 60 s away)
HEARTBEAT = 0.3
IDLE = 4.0
PER_CALLER = 2
MODEL = "openai-model"
Event = tuple[str, Any]


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, assistant_db: str, api: ScriptedApi,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    settings = assistant_settings(
        tokens, nats, tmp_path_factory.mktemp("watch"), assistant_db,
        assistant_providers=(remote_entry("openai", f"{api.url}/v1"),),
        assistant_watch_poll_seconds=60.0, assistant_watch_heartbeat_seconds=HEARTBEAT,
        assistant_watch_idle_seconds=IDLE, assistant_watch_streams_per_caller=PER_CALLER,
    )  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(service: Running) -> AsyncIterator[assistant_pb2_grpc.AssistantServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield assistant_pb2_grpc.AssistantServiceStub(channel)


def user(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, who: str) -> User:
    return User(stub, tokens.metadata(subject=f"users/{who}-{uuid.uuid4().hex[:6]}"))


async def until(stream: Any, kind: str, match: Callable[[Any], bool] = lambda _: True) -> Any:
    """The data of the stream's next `kind` event that `match`es (others are passed over)."""
    async with asyncio.timeout(WAIT):
        while True:
            body = await stream.read()
            assert body is not grpc.aio.EOF, f"the stream ended before a {kind} event"
            event = sse_event(body.data)
            if event is not None and event[0] == kind and match(event[1]):
                return event[1]


async def events_within(stream: Any, seconds: float) -> list[Event]:
    """The events (not keepalives) a stream sends within `seconds`."""
    seen: list[Event] = []

    async def read() -> None:
        while (body := await stream.read()) is not grpc.aio.EOF:
            if (event := sse_event(body.data)) is not None:
                seen.append(event)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read(), seconds)
    return seen


def watch(who: User) -> Any:
    return who.WatchConversations(assistant_pb2.WatchConversationsRequest())


async def test_two_devices_see_a_new_conversation_a_rename_and_a_deletion_live(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, api: ScriptedApi
) -> None:
    ana, ben = user(stub, tokens, "ana"), user(stub, tokens, "ben")
    phone, laptop, other = watch(ana), watch(ana), watch(ben)
    try:
        for stream in (phone, laptop, other):
            assert await until(stream, "ready") == {"conversations": 0}
        api.script.append(openai_stream(["Hola, ", "Ana."]))
        answer = await ana.ProcessMessage(
            assistant_pb2.ProcessMessageRequest(message="Hola Vicky", model=MODEL)
        )
        name = answer.conversation
        for device in (phone, laptop):
            shown = await until(device, "conversation", lambda d: d["conversation"]["name"] == name)
            assert shown["conversation"]["displayName"] == "Hola Vicky"
            said: list[str] = []
            while "Hola, Ana." not in said:
                added = await until(device, "messages", lambda d: d["conversation"] == name)
                said += [m.get("content", "") for m in added["messages"]]
            assert said == ["Hola Vicky", "Hola, Ana."]

        renamed = assistant_pb2.Conversation(name=name, display_name="Plans for Madrid")
        mask = field_mask_pb2.FieldMask(paths=["display_name"])
        await ana.UpdateConversation(
            assistant_pb2.UpdateConversationRequest(conversation=renamed, update_mask=mask)
        )
        for device in (phone, laptop):
            shown = await until(
                device, "conversation",
                lambda d: d["conversation"]["displayName"] == "Plans for Madrid",
            )  # fmt: skip
            assert shown["conversation"]["name"] == name

        await ana.DeleteConversation(assistant_pb2.DeleteConversationRequest(name=name))
        for device in (phone, laptop):
            assert await until(device, "deleted") == {"name": name}

        assert await events_within(other, 1.0) == []  # ben saw nothing of ana's
    finally:
        for stream in (phone, laptop, other):
            stream.cancel()


async def test_a_caller_past_the_cap_is_refused_before_a_byte(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory
) -> None:
    cid, dan = user(stub, tokens, "cid"), user(stub, tokens, "dan")
    held = [watch(cid) for _ in range(PER_CALLER)]
    try:
        for stream in held:
            await until(stream, "ready")
        refused = watch(cid)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await refused.read()
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"you hold {PER_CALLER} conversation streams already" in caught.value.details()
        others = watch(dan)  # the cap is per caller
        await until(others, "ready")
        others.cancel()
        held.pop().cancel()
        async with asyncio.timeout(WAIT):
            while True:  # the cancelled stream's slot is given back once the server sees it
                again = watch(cid)
                try:
                    await until(again, "ready")
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    await asyncio.sleep(0.1)
        again.cancel()
    finally:
        for stream in held:
            stream.cancel()


async def test_a_quiet_stream_keeps_alive_then_ends_when_idle(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory
) -> None:
    eve = user(stub, tokens, "eve")
    stream = watch(eve)
    first = await stream.read()
    assert first.content_type == "text/event-stream"
    assert first.data == b"retry: 3000\n\n"
    await until(stream, "ready")
    frames = []
    async with asyncio.timeout(IDLE + WAIT):
        while (body := await stream.read()) is not grpc.aio.EOF:
            frames.append(body.data)
    assert b": keepalive\n\n" in frames
    assert sse_event(frames[-1]) == ("end", {"reason": "idle"})
    assert await stream.code() == grpc.StatusCode.OK
