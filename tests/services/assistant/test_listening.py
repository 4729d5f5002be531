"""The listening side of a voice chat against a speech service that never answers: the audio
that waits for it in the assistant is bounded, and beyond the bound the chat is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from services.assistant.listening import MAX_WAITING_AUDIO
from services.assistant.service import SPEC
from services.assistant.voice import MAX_CHUNK_BYTES
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import assistant_settings
from tests.services.assistant.support import drain
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

Request = assistant_pb2.StreamVoiceChatRequest
END = Request(
    control=assistant_pb2.VoiceChatControl(action=assistant_pb2.VOICE_CHAT_ACTION_END_OF_UTTERANCE)
)


class DeafSpeech(speech_pb2_grpc.SpeechServiceServicer):
    """A speech service that accepts a recognition stream and never answers it."""

    async def StreamingRecognize(
        self, request_iterator: Any, context: Any
    ) -> AsyncIterator[speech_pb2.StreamingRecognizeResponse]:
        await asyncio.Event().wait()
        yield speech_pb2.StreamingRecognizeResponse()  # never reached


async def never_hanging_up(requests: list[Request]) -> AsyncIterator[Request]:
    """The caller's side: `requests`, then an open stream (no half-close ends the chat)."""
    for request in requests:
        yield request
    await asyncio.Event().wait()


async def test_audio_beyond_what_may_wait_for_the_speech_service_is_refused(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The first utterance's stream never gets its results, so the next utterance's audio
    waits for it in the assistant: up to MAX_WAITING_AUDIO, then RESOURCE_EXHAUSTED. Before the
    bound it piled up for as long as the caller sent."""
    deaf = grpc.aio.server()
    speech_pb2_grpc.add_SpeechServiceServicer_to_server(DeafSpeech(), deaf)
    port = deaf.add_insecure_port("127.0.0.1:0")
    await deaf.start()
    data = tmp_path_factory.mktemp("deaf-speech")
    settings = assistant_settings(tokens, nats, data, f"sqlite:///{data / 'a.db'}",
                                  addresses={"speech": f"127.0.0.1:{port}"})  # fmt: skip
    running = await start(SPEC, settings)
    flood = [Request(audio=bytes(MAX_CHUNK_BYTES))] * (MAX_WAITING_AUDIO // MAX_CHUNK_BYTES + 1)
    requests = [
        Request(config=assistant_pb2.VoiceChatConfig()),
        Request(audio=b"\0\0" * 1600),
        END,
        *flood,
    ]
    events: list[assistant_pb2.StreamVoiceChatResponse] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = assistant_pb2_grpc.AssistantServiceStub(channel)
            metadata = tokens.metadata(subject="users/hal")
            call = stub.StreamVoiceChat(never_hanging_up(requests), metadata=metadata, timeout=20)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await drain(call, events)
    finally:
        await running.stop()
        await deaf.stop(0)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"at most {MAX_WAITING_AUDIO >> 20} MiB" in (caught.value.details() or "")
    assert [e.WhichOneof("event") for e in events] == ["started"]
