"""The voice round trip against the real speech service (in process, its packaged models):
spoken audio in, the transcript, the reply text from the local model, the reply spoken back;
an utterance ended by silence with interim transcripts; a reply cancelled mid-way."""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from collections.abc import AsyncIterator

import grpc
import pytest

from services.assistant.rpcs.voice_chats import forwarded
from services.assistant.service import SPEC as ASSISTANT
from tests.fixtures.events import published
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import assistant_settings
from tools.processes import NatsServer
from voka import authn
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc, events_pb2
from voka.server import Running, start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

A, E, S = assistant_pb2, events_pb2, speech_pb2
Metadata = tuple[tuple[str, str]]
Request = A.StreamVoiceChatRequest
END = Request(control=A.VoiceChatControl(action=A.VOICE_CHAT_ACTION_END_OF_UTTERANCE))
CANCEL = Request(control=A.VoiceChatControl(action=A.VOICE_CHAT_ACTION_CANCEL_REPLY))


@pytest.fixture(scope="module")
async def assistant(
    tokens: TokenFactory, nats: NatsServer, speech: Running,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    data = tmp_path_factory.mktemp("assistant")
    settings = assistant_settings(
        tokens, nats, data, f"sqlite:///{data / 'assistant.db'}",
        addresses={"speech": f"127.0.0.1:{speech.port}"},
    )  # fmt: skip
    running = await start(ASSISTANT, settings)
    yield running
    await running.stop()


async def spoken(speech: Running, metadata: Metadata, text: str) -> bytes:
    """`text` spoken by the speech service's default voice, as WAV."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{speech.port}") as channel:
        stub = speech_pb2_grpc.SpeechServiceStub(channel)
        request = S.SynthesizeSpeechRequest(text=text, language="en",
                                            audio_encoding=S.AUDIO_ENCODING_WAV)  # fmt: skip
        return (await stub.SynthesizeSpeech(request, metadata=metadata)).data


async def test_audio_in_transcript_reply_and_audio_out(
    assistant: Running, speech: Running, tokens: TokenFactory
) -> None:
    metadata = tokens.metadata(subject=f"users/dave-{uuid.uuid4().hex[:6]}")
    wav = await spoken(speech, metadata, "What is the capital of France?")
    config = A.VoiceChatConfig(
        input_encoding=A.AUDIO_ENCODING_WAV, language="en", output_encoding=A.AUDIO_ENCODING_WAV,
        sampling=A.SamplingOptions(max_output_tokens=12),
    )  # fmt: skip
    requests = [A.StreamVoiceChatRequest(config=config)]
    requests += [A.StreamVoiceChatRequest(audio=wav[i : i + 32000])
                 for i in range(0, len(wav), 32000)]  # fmt: skip
    requests.append(A.StreamVoiceChatRequest(
        control=A.VoiceChatControl(action=A.VOICE_CHAT_ACTION_END_OF_UTTERANCE)))  # fmt: skip
    async with grpc.aio.insecure_channel(f"127.0.0.1:{assistant.port}") as channel:
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        call = stub.StreamVoiceChat(iter(requests), metadata=metadata, timeout=120)
        events = [e async for e in call]
    kinds = [e.WhichOneof("event") for e in events]
    assert "error" not in kinds, events
    assert kinds[0] == "started"
    transcript = events[kinds.index("transcript")].transcript
    assert "capital of france" in transcript.text.lower()
    assert transcript.is_final
    assert kinds.index("transcript") < kinds.index("reply_started") < kinds.index("reply_delta")
    assert kinds[-1] == "reply_completed"
    audio = [e.audio for e in events if e.WhichOneof("event") == "audio"]
    assert audio
    assert audio[-1].last
    assert audio[0].data.startswith(b"RIFF")
    assert audio[0].sample_rate_hertz > 0
    spoken_text = " ".join(a.text for a in audio).split()
    assert spoken_text == events[-1].reply_completed.text.split()
    conversation = events[0].started.conversation
    async with grpc.aio.insecure_channel(f"127.0.0.1:{assistant.port}") as channel:
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        got = await stub.GetConversation(A.GetConversationRequest(name=conversation),
                                         metadata=metadata)  # fmt: skip
    assert got.conversation.messages[0].content == transcript.text


async def test_speech_service_down_is_an_error_event_and_the_chat_goes_on(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = tmp_path_factory.mktemp("nospeech")
    settings = assistant_settings(tokens, nats, data, f"sqlite:///{data / 'a.db'}",
                                  addresses={"speech": "127.0.0.1:9"},
                                  assistant_speech_timeout=2.0)  # fmt: skip
    running = await start(ASSISTANT, settings)
    metadata = tokens.metadata(subject="users/erin")
    end = A.StreamVoiceChatRequest(
        control=A.VoiceChatControl(action=A.VOICE_CHAT_ACTION_END_OF_UTTERANCE))  # fmt: skip
    requests = [A.StreamVoiceChatRequest(config=A.VoiceChatConfig()),
                A.StreamVoiceChatRequest(audio=b"\0\0" * 1600), end,
                A.StreamVoiceChatRequest(audio=b"\0\0" * 1600), end]  # fmt: skip
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = assistant_pb2_grpc.AssistantServiceStub(channel)
            call = stub.StreamVoiceChat(iter(requests), metadata=metadata, timeout=60)
            events = [e async for e in call]
    finally:
        await running.stop()
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["started", "error", "error"]
    assert all(e.error.code == grpc.StatusCode.UNAVAILABLE.value[0] for e in events[1:])
    assert "speech service" in events[1].error.message


def pcm_of(wav: bytes) -> tuple[bytes, int]:
    """The raw 16-bit samples of a WAV file and their rate."""
    with wave.open(io.BytesIO(wav), "rb") as read:
        return read.readframes(read.getnframes()), read.getframerate()


async def until_closed(
    first: list[Request], more: asyncio.Queue[Request | None]
) -> AsyncIterator[Request]:
    """The caller's side of a chat: `first`, then whatever the test queues, until None."""
    for request in first:
        yield request
    while (request := await more.get()) is not None:
        yield request


async def test_silence_ends_the_utterance_with_interim_transcripts_on_the_way(
    assistant: Running, speech: Running, tokens: TokenFactory
) -> None:
    metadata = tokens.metadata(subject=f"users/fay-{uuid.uuid4().hex[:6]}")
    pcm, rate = pcm_of(await spoken(speech, metadata, "Tell me about the weather in Paris."))
    tenth = rate * 2 // 10  # bytes of a tenth of a second of LINEAR16
    config = A.VoiceChatConfig(
        input_encoding=A.AUDIO_ENCODING_LINEAR16, input_sample_rate_hertz=rate, language="en",
        interim_transcripts=True, disable_audio_output=True,
        sampling=A.SamplingOptions(max_output_tokens=8),
    )  # fmt: skip
    audio = pcm + b"\0\0" * rate  # the words, then a second of silence
    first = [Request(config=config)]
    first += [Request(audio=audio[i : i + tenth]) for i in range(0, len(audio), tenth)]
    more: asyncio.Queue[Request | None] = asyncio.Queue()
    events = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{assistant.port}") as channel:
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        call = stub.StreamVoiceChat(until_closed(first, more), metadata=metadata, timeout=120)
        async for event in call:  # the caller never ends the utterance: the silence does
            events.append(event)
            if event.WhichOneof("event") in ("reply_completed", "error"):
                more.put_nowait(None)
    kinds = [e.WhichOneof("event") for e in events]
    assert "error" not in kinds, events
    transcripts = [e.transcript for e in events if e.WhichOneof("event") == "transcript"]
    assert [t.is_final for t in transcripts][-1]
    assert not transcripts[0].is_final  # an interim transcript while the words came in
    assert {t.utterance_index for t in transcripts} == {0}
    assert "weather" in transcripts[-1].text.lower()
    assert kinds.index("reply_started") > len(transcripts)
    assert kinds[-1] == "reply_completed"


async def test_cancel_reply_stops_the_reply_and_stores_it_cancelled(
    assistant: Running, speech: Running, tokens: TokenFactory, nats: NatsServer
) -> None:
    metadata = tokens.metadata(subject=f"users/gus-{uuid.uuid4().hex[:6]}")
    wav = await spoken(speech, metadata, "Tell me a long story about a dragon.")
    config = A.VoiceChatConfig(input_encoding=A.AUDIO_ENCODING_WAV, language="en",
                               sampling=A.SamplingOptions(max_output_tokens=400))  # fmt: skip
    more: asyncio.Queue[Request | None] = asyncio.Queue()
    events = []
    async with (
        published(nats.url, E.ReplyCompletedEvent) as announced,
        grpc.aio.insecure_channel(f"127.0.0.1:{assistant.port}") as channel,
    ):
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        requests = until_closed([Request(config=config), Request(audio=wav), END], more)
        call = stub.StreamVoiceChat(requests, metadata=metadata, timeout=120)
        async for event in call:
            events.append(event)
            if event.WhichOneof("event") == "reply_delta" and len(events) < 10:
                more.put_nowait(CANCEL)  # at the first delta (a second one is ignored)
            if event.WhichOneof("event") == "reply_completed":
                more.put_nowait(None)
        conversation = events[0].started.conversation
        [event] = await announced.until(
            lambda seen: any(e.conversation == conversation for e in seen)
        )
        stored = await stub.GetConversation(A.GetConversationRequest(name=conversation),
                                            metadata=metadata)  # fmt: skip
    done = events[-1].reply_completed
    assert done.finish_reason == A.FINISH_REASON_CANCELLED
    assert done.text  # what was generated before the cancel, far short of 400 tokens
    assert len(done.text.split()) < 100
    reply = stored.conversation.messages[-1]
    assert (reply.name, reply.finish_reason) == (done.reply_message, A.FINISH_REASON_CANCELLED)
    assert reply.content == done.text
    assert (event.channel, event.finish_reason) == (E.REPLY_CHANNEL_VOICE,
                                                    A.FINISH_REASON_CANCELLED)  # fmt: skip


class _Context:
    """What `forwarded` reads of a call: its metadata."""

    def __init__(self, *metadata: tuple[str, str]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


@pytest.mark.parametrize(
    ("sent", "caller", "expected"),
    [
        # the user's own token goes on: the speech service sees the user as it is
        ((("authorization", "Bearer u"),), authn.Identity("users/dan", frozenset(), "j", 0.0),
         [("authorization", "Bearer u")]),
        # an x-api-key client has no bearer token: the assistant's identity acts for the user
        ((("x-api-key", "vk_x"),), authn.Identity("users/dan", frozenset(), "", 0.0, "k"),
         [("voka-on-behalf-of", "users/dan")]),
        # a service acting for a user sent its own token: the user is named, not the service
        ((("authorization", "Bearer s"), ("voka-on-behalf-of", "users/dan")),
         authn.Identity("users/dan", frozenset(), "j", 0.0, actor="services/meetings"),
         [("voka-on-behalf-of", "users/dan")]),
    ],
)  # fmt: skip
async def test_speech_calls_carry_the_user_token_or_the_user_name(
    sent: tuple[tuple[str, str], ...], caller: authn.Identity, expected: list[tuple[str, str]]
) -> None:
    authn._caller.set(caller)  # what the identity hook sets; this test's task context only
    assert forwarded(_Context(*sent)) == expected  # type: ignore[arg-type]
