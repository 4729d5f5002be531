"""A summary of a transcript longer than the model's context, built in steps (map-reduce) and
never truncated: the sections the model is given cover the whole transcript, no prompt
exceeds the context by the stated estimate, the map calls run at most `concurrency` at a time,
and section summaries too long for one call are combined in rounds. First with a recording
fake model, then through the real assistant service on a scripted OpenAI-compatible model whose
small context window the meetings service learns from ListModels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from services.assistant.service import SPEC as ASSISTANT
from services.assistant.settings import ModelEntry
from services.meetings.meetings import summary_steps
from services.meetings.meetings.pipeline import STEP_ATTEMPTS, Pipeline
from services.meetings.meetings.summary_steps import (
    TEMPLATE_TOKENS,
    Budget,
    Request,
    sections,
    summarise,
)
from services.meetings.service import SPEC as MEETINGS
from services.meetings.settings import MeetingsSettings
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.assistant.conftest import assistant_settings
from tests.services.assistant.scripted_api import ScriptedApi, openai_stream
from tests.services.assistant.support import remote_entry
from tests.services.meetings.conftest import User, new_project, seed_meeting
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2
from voka.meetings.v1 import meeting_pb2, meetings_pb2, meetings_pb2_grpc
from voka.server import start

m = meetings_pb2
ASK = Request("Roadmap review", ("Ana", "Luis"), instructions="", language="")
SAID = tuple(f"Item {i}: the team reviewed topic {i} and agreed on step {i}." for i in range(120))
ANSWER = """SUMMARY: The team went through the roadmap.
DECISIONS:
- Launch in March
COMMITMENTS:
- Ana | send the budget | 2030-01-20"""


class FakeModel:
    """Records every prompt; answers `answer`; counts calls running at once."""

    def __init__(self, answer: str = ANSWER) -> None:
        self.answer = answer
        self.prompts: list[str] = []
        self.running = self.most = 0

    async def __call__(self, messages: list[assistant_pb2.ChatMessage]) -> str:
        self.prompts.append("\n".join(message.content for message in messages))
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return self.answer


def test_sections_keep_every_word_within_the_limit() -> None:
    long_segment = " ".join(f"word{i}" for i in range(200))
    found = sections(["Hello there.", long_segment, "Bye."], 100)
    assert all(len(section) <= 100 for section in found)
    assert " ".join(found).split() == ["Hello", "there.", *long_segment.split(), "Bye."]


async def test_a_transcript_that_fits_is_one_call_with_all_of_it() -> None:
    model = FakeModel()
    outcome = await summarise(ASK, SAID[:5], Budget(2048, 400), model, concurrency=2)
    assert (outcome.answer, outcome.map_calls, outcome.reduce_calls) == (ANSWER, 0, 0)
    [only] = model.prompts
    assert all(sentence in only for sentence in SAID[:5])


async def test_a_long_transcript_is_mapped_in_sections_then_reduced() -> None:
    model = FakeModel()
    budget = Budget(1024, 100)
    outcome = await summarise(ASK, SAID, budget, model, concurrency=2)
    mapped = [p for p in model.prompts if "Transcript, part" in p]
    assert len(mapped) == outcome.map_calls > 1
    assert all(any(sentence in p for p in mapped) for sentence in SAID)  # nothing left out
    assert model.most == 2
    assert "Summaries of consecutive parts" in model.prompts[-1]
    assert outcome.reduce_calls == 1
    assert all(summary_steps.tokens(p) + TEMPLATE_TOKENS + 100 <= 1024 for p in model.prompts)


async def test_section_summaries_too_long_for_one_call_are_combined_in_rounds() -> None:
    model = FakeModel(ANSWER + "\n- " + "detail " * 150)  # ~1200 characters a note
    outcome = await summarise(ASK, SAID, Budget(1024, 100), model, concurrency=3)
    reduced = [p for p in model.prompts if "Summaries of consecutive parts" in p]
    assert outcome.reduce_calls == len(reduced) > 1
    assert outcome.map_calls + outcome.reduce_calls == len(model.prompts)
    assert model.most <= 3


async def test_a_context_with_no_room_for_the_transcript_is_refused() -> None:
    with pytest.raises(summary_steps.NoRoomError, match="no room"):
        await summarise(ASK, SAID, Budget(500, 400), FakeModel(), concurrency=1)


# --- through the assistant service, on the pipeline's own consumer --------------------------

CONTEXT = 1024


@pytest.fixture
async def scripted_model(
    tokens: TokenFactory, nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ScriptedApi, str]]:
    """The real assistant service on a scripted model stating a 1024-token context."""
    async with ScriptedApi() as api:
        entry = remote_entry("openai", f"{api.url}/v1")
        small = ModelEntry(id="openai-model", remote_name="openai-remote-name",
                           context_window=CONTEXT)  # fmt: skip
        data = tmp_path_factory.mktemp("assistant")
        running = await start(ASSISTANT, assistant_settings(
            tokens, nats_server, data, f"sqlite:///{data / 'assistant.db'}",
            assistant_providers=(entry.model_copy(update={"models": (small,)}),),
        ))  # fmt: skip
        yield api, f"127.0.0.1:{running.port}"
        await running.stop()


async def test_the_pipeline_summarises_a_long_transcript_in_steps_through_the_assistant(
    database_url: str, tmp_path: Path, nats_server: NatsServer, identity: None,
    tokens: TokenFactory, scripted_model: tuple[ScriptedApi, str],
) -> None:  # fmt: skip
    api, address = scripted_model
    api.script += [openai_stream([ANSWER]) for _ in range(40)]
    running = await start(MEETINGS, MeetingsSettings(
        service="meetings", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file,
        database_url=database_url, nats_url=nats_server.url, addresses={"assistant": address},
        meetings_summary_max_tokens=100,
    ))  # fmt: skip
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            alice = User(meetings_pb2_grpc.MeetingsServiceStub(channel),
                         tokens.metadata(subject="users/alice"))  # fmt: skip
            project = await new_project(alice)
            name = await seed_meeting(alice, running, project.name, "Roadmap review", said=SAID)
            await alice.RegenerateSummary(m.RegenerateSummaryRequest(name=name))
            wanted = m.GetSummaryRequest(name=f"{name}/summary")

            async def written() -> bool:
                reply = await alice.GetSummary(wanted)
                return reply.summary.state == meeting_pb2.PROCESSING_STATE_COMPLETED

            await eventually(written, within=60)
            summary = (await alice.GetSummary(wanted)).summary
    finally:
        await running.stop()
    prompts = ["\n".join(m["content"] for m in r.body["messages"]) for r in api.received]
    mapped = [p for p in prompts if "Transcript, part" in p]
    assert len(mapped) > 1
    assert all(any(sentence in p for p in mapped) for sentence in SAID)  # nothing left out
    assert "Summaries of consecutive parts" in prompts[-1]
    # as received: with the assistant's own system lines, and room left for the answer
    assert all(summary_steps.tokens(p) + 100 <= CONTEXT for p in prompts)
    assert summary.decisions == ["Launch in March"]
    assert summary.commitments[0].owner == "Ana"
    assert summary.revision == 2


class FlakyAssistant:
    """Peers whose CompleteChat answers UNAVAILABLE `failures` times, then ANSWER."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def context_tokens(self, model: str) -> int:
        return 2048

    async def complete_chat(self, messages, **_: object) -> assistant_pb2.CompleteChatResponse:
        self.calls += 1
        if self.calls <= self.failures:
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(),
                                       grpc.aio.Metadata(), "max connection age")  # fmt: skip
        return assistant_pb2.CompleteChatResponse(
            message=assistant_pb2.ChatMessage(content=ANSWER), model="local/test"
        )


def summariser(peers: FlakyAssistant) -> Pipeline:
    """The pipeline for its summary steps alone: no database or bus is touched."""
    settings = MeetingsSettings(service="meetings")
    return Pipeline(None, None, None, peers, settings)  # type: ignore[arg-type]


async def test_a_step_the_assistant_drops_is_tried_again_alone() -> None:
    flaky = FlakyAssistant(STEP_ATTEMPTS - 1)
    pipeline = summariser(flaky)
    outcome, model = await pipeline._write_summary(ASK, SAID[:3], "users/ana")
    assert (outcome.answer, model, flaky.calls) == (ANSWER, "local/test", STEP_ATTEMPTS)


async def test_a_step_dropped_every_time_fails_the_delivery() -> None:
    flaky = FlakyAssistant(STEP_ATTEMPTS)
    pipeline = summariser(flaky)
    with pytest.raises(grpc.aio.AioRpcError):
        await pipeline._write_summary(ASK, SAID[:3], "users/ana")
    assert flaky.calls == STEP_ATTEMPTS
