"""A turn that refers to a transcription gets its text as context (issue 19, item 5): the real
speech service in process transcribes speech it synthesised, and the prompt the scripted
OpenAI-compatible provider receives carries the transcript; the speech service decides who may
read it (another user's transcription fails the turn with NOT_FOUND and stores nothing); names
are checked and bounded; a long transcript is cut to the budget and the prompt says so."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from services.assistant import transcripts
from services.assistant.service import SPEC as ASSISTANT
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tests.services.assistant.scripted_api import ScriptedApi, openai_stream
from tests.services.assistant.support import remote_entry, violations
from tests.services.speech.rpc import upload, wait_final
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import Running, start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

MODEL = "openai-model"
SAID = "The budget for the Madrid office is forty thousand euros."


@pytest.fixture(scope="module")
async def assistant(
    tokens: TokenFactory, nats: NatsServer, speech: Running, api: ScriptedApi,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    data = tmp_path_factory.mktemp("assistant")
    settings = assistant_settings(
        tokens, nats, data, f"sqlite:///{data / 'assistant.db'}",
        assistant_providers=(remote_entry("openai", f"{api.url}/v1"),),
        addresses={"speech": f"127.0.0.1:{speech.port}"},
    )  # fmt: skip
    running = await start(ASSISTANT, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def memo(speech: Running, tokens: TokenFactory) -> speech_pb2.Transcription:
    """Ana's transcription of SAID, spoken by the speech service's default voice."""
    ana = tokens.metadata(subject="users/ana")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{speech.port}") as channel:
        stub = speech_pb2_grpc.SpeechServiceStub(channel)
        spoken = await stub.SynthesizeSpeech(
            speech_pb2.SynthesizeSpeechRequest(
                text=SAID, language="en", audio_encoding=speech_pb2.AUDIO_ENCODING_WAV
            ),
            metadata=ana,
        )
        created = await stub.CreateTranscription(
            upload(spoken.data, file_name="memo.wav"), metadata=ana
        )
        done = await wait_final(stub, created.transcription.name, ana)
    assert done.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED, done.error
    return done


@pytest.fixture
async def stub(assistant: Running) -> AsyncIterator[assistant_pb2_grpc.AssistantServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{assistant.port}") as channel:
        yield assistant_pb2_grpc.AssistantServiceStub(channel)


def asking(*names: str) -> assistant_pb2.ProcessMessageRequest:
    return assistant_pb2.ProcessMessageRequest(
        message="What does my memo say?", model=MODEL, transcriptions=names
    )


async def test_the_prompt_carries_the_transcription_the_turn_refers_to(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, api: ScriptedApi,
    memo: speech_pb2.Transcription,
) -> None:  # fmt: skip
    assert "madrid" in memo.result.text.lower()
    ana = User(stub, tokens.metadata(subject="users/ana"))
    api.script.append(openai_stream(["It is about the budget."]))
    answer = await ana.ProcessMessage(asking(memo.name))
    assert answer.reply.content == "It is about the budget."
    system = api.received[-1].body["messages"][0]
    assert system["role"] == "system"
    assert f"[{memo.name} (memo.wav)] {memo.result.text.strip()}" in system["content"]
    assert "cut to" not in system["content"]
    assert api.received[-1].body["messages"][-1]["content"] == "What does my memo say?"


async def test_another_users_transcription_fails_the_turn_with_not_found(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, api: ScriptedApi,
    memo: speech_pb2.Transcription,
) -> None:  # fmt: skip
    ben = User(stub, tokens.metadata(subject="users/ben"))
    asked = len(api.received)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ben.ProcessMessage(asking(memo.name))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert memo.name in caught.value.details()
    assert len(api.received) == asked  # no model was asked
    listed = await ben.ListConversations(assistant_pb2.ListConversationsRequest())
    assert listed.total_size == 0  # and nothing was stored


async def test_names_are_checked_and_bounded(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory
) -> None:
    ana = User(stub, tokens.metadata(subject="users/ana"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ana.ProcessMessage(asking("transcriptions/ok", "meetings/m1"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "transcriptions[1]" in violations(caught.value)
    too_many = [f"transcriptions/t{i}" for i in range(transcripts.MAX_TRANSCRIPTIONS + 1)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ana.ProcessMessage(asking(*too_many))
    assert "transcriptions" in violations(caught.value)


def test_a_long_transcript_is_cut_to_the_budget_and_the_prompt_says_so() -> None:
    words = len  # one token per character: a counter the test can reason about
    long = transcripts.Transcript("transcriptions/t1", "", "one two three four five six")
    short = transcripts.Transcript("transcriptions/t2", "call.wav", "seven")
    text = transcripts.prompt_text([long, short], 13, words)
    assert text.splitlines() == [
        transcripts.LEAD,
        "[transcriptions/t1, cut to its first 13 of 27 tokens] one two three […]",
        "[transcriptions/t2 (call.wav)] seven",
    ]
    assert transcripts.prompt_text([], 13, words) == ""
