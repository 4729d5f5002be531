"""Vicky's memory through the whole service, on SQLite and on PostgreSQL, with a scripted
OpenAI-compatible model whose requests are kept: what the provider receives is asserted, not
what a model says. A fact told in one conversation reaches a new conversation's prompt; an
edited memory is recalled as edited; a deleted one never comes back (row, vector, prompt); with
memory off nothing is stored or recalled; another user never sees or gets someone's memories.
The profile: feedback teaches it, it shapes the system prompt and the balance, a reset forgets.
A conversation over the token budget keeps a summary of what it leaves out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import field_mask_pb2

from services.assistant.memory.records import memories
from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tests.services.assistant.scripted_api import ScriptedApi, openai_stream
from tests.services.assistant.support import remote_entry, violations
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import Running, start

MODEL = "openai-model"
CONTEXT_TOKENS = 400  # room for the system prompt, memories and a few short turns


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, assistant_db: str, api: ScriptedApi,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    settings = assistant_settings(
        tokens, nats, tmp_path_factory.mktemp("memory"), assistant_db,
        assistant_providers=(remote_entry("openai", f"{api.url}/v1"),),
        assistant_context_tokens=CONTEXT_TOKENS,
    )  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(service: Running) -> AsyncIterator[assistant_pb2_grpc.AssistantServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield assistant_pb2_grpc.AssistantServiceStub(channel)


def person(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, who: str) -> User:
    return User(stub, tokens.metadata(subject=f"users/{who}-{uuid.uuid4().hex[:6]}"))


@pytest.fixture
def ana(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory) -> User:
    return person(stub, tokens, "ana")


@pytest.fixture
def bob(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory) -> User:
    return person(stub, tokens, "bob")


async def say(
    user: User, api: ScriptedApi, message: str, conversation: str = ""
) -> tuple[assistant_pb2.ProcessMessageResponse, str]:
    """One turn answered by the scripted model: the response and the system prompt it got."""
    api.script.append(openai_stream(["Noted."]))
    asked = assistant_pb2.ProcessMessageRequest(
        message=message, conversation=conversation, model=MODEL
    )
    answer = await user.ProcessMessage(asked)
    system: dict[str, Any] = api.received[-1].body["messages"][0]
    assert system["role"] == "system"
    return answer, str(system["content"])


async def remembered(user: User) -> list[assistant_pb2.Memory]:
    return list((await user.ListMemories(assistant_pb2.ListMemoriesRequest())).memories)


async def rows(service: Running, owner: str) -> int:
    assert service.resources.sessions is not None
    count = sa.select(sa.func.count()).where(memories.c.owner == owner)
    async with service.resources.sessions() as session:
        return int((await session.execute(count)).scalar_one())


async def test_a_fact_told_in_one_conversation_reaches_a_new_conversations_prompt(
    ana: User, api: ScriptedApi
) -> None:
    first, _ = await say(ana, api, "Hi! My name is Ana. I live in Valencia. Tell me a joke.")
    kept = await remembered(ana)
    assert {m.content for m in kept} == {"My name is Ana.", "I live in Valencia."}
    assert {m.source for m in kept} == {"extractor/rules"}
    assert {m.kind for m in kept} == {assistant_pb2.MEMORY_KIND_FACT}
    assert {m.conversation for m in kept} == {first.conversation}

    second, system = await say(ana, api, "Where do I live, and what is my name?")
    assert second.conversation != first.conversation  # a new conversation, no shared history
    assert "What the user told you in earlier conversations:" in system
    assert "- I live in Valencia." in system
    assert "- My name is Ana." in system
    assert len(api.received[-1].body["messages"]) == 2  # system + the new message: no history


async def test_another_user_never_sees_or_gets_someone_elses_memories(
    ana: User, bob: User, api: ScriptedApi
) -> None:
    await say(ana, api, "My name is Ana and I work as a surgeon.")
    (memory,) = await remembered(ana)
    _, system = await say(bob, api, "What is my name and what do I do?")
    assert "surgeon" not in system
    assert "earlier conversations" not in system
    assert await remembered(bob) == []
    listed = await bob.ListMemories(assistant_pb2.ListMemoriesRequest(owner=memory.owner))
    assert list(listed.memories) == []  # a named owner is for admins only
    for call in (
        bob.GetMemory(assistant_pb2.GetMemoryRequest(name=memory.name)),
        bob.DeleteMemory(assistant_pb2.DeleteMemoryRequest(name=memory.name)),
        bob.UpdateMemory(
            assistant_pb2.UpdateMemoryRequest(
                memory=assistant_pb2.Memory(name=memory.name, content="x")
            )
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert [m.content for m in await remembered(ana)] == [memory.content]


async def test_an_edited_memory_is_recalled_as_edited_and_a_correction_replaces(
    ana: User, api: ScriptedApi
) -> None:
    await say(ana, api, "I live in Paris.")
    (home,) = await remembered(ana)
    lyon = assistant_pb2.Memory(name=home.name, content="I live in Lyon.")
    edited = (await ana.UpdateMemory(assistant_pb2.UpdateMemoryRequest(memory=lyon))).memory
    assert (edited.content, edited.source) == ("I live in Lyon.", "user")
    _, system = await say(ana, api, "Which city do I live in?")
    assert "- I live in Lyon." in system
    assert "Paris" not in system

    await say(ana, api, "No, actually I live in Madrid.")
    (corrected,) = await remembered(ana)  # the correction replaced the home it corrects
    assert corrected.content == "No, actually I live in Madrid."
    assert corrected.kind == assistant_pb2.MEMORY_KIND_CORRECTION
    _, system = await say(ana, api, "Which city do I live in?")
    assert "Madrid" in system
    assert "Lyon" not in system


async def test_a_deleted_memory_never_comes_back(
    ana: User, api: ScriptedApi, service: Running
) -> None:
    first, _ = await say(ana, api, "My name is Ana. My favourite colour is teal.")
    kept = await remembered(ana)
    colour = next(m for m in kept if "teal" in m.content)
    await ana.DeleteMemory(assistant_pb2.DeleteMemoryRequest(name=colour.name))

    assert [m.content for m in await remembered(ana)] == ["My name is Ana."]
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await ana.GetMemory(assistant_pb2.GetMemoryRequest(name=colour.name))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert await rows(service, colour.owner) == 1  # the row, and the vector in it, are gone
    # Neither a new conversation nor the one it was told in brings it back (the history still
    # has the message; only new messages are learned from).
    _, system = await say(ana, api, "What is my favourite colour?")
    assert "teal" not in system
    await say(ana, api, "Thanks, see you tomorrow.", first.conversation)
    assert [m.content for m in await remembered(ana)] == ["My name is Ana."]
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await ana.DeleteMemory(assistant_pb2.DeleteMemoryRequest(name=colour.name))
    assert again.value.code() == grpc.StatusCode.NOT_FOUND


async def test_memory_off_stores_nothing_and_recalls_nothing(
    ana: User, api: ScriptedApi, service: Running
) -> None:
    await say(ana, api, "My name is Ana.")
    (memory,) = await remembered(ana)
    off = assistant_pb2.Profile(memory_enabled=False)
    mask = field_mask_pb2.FieldMask(paths=["memory_enabled"])
    profile = (
        await ana.UpdateProfile(assistant_pb2.UpdateProfileRequest(profile=off, update_mask=mask))
    ).profile
    assert not profile.memory_enabled

    _, system = await say(ana, api, "I live in Oslo and I prefer short answers. Who am I?")
    assert "My name is Ana." not in system  # nothing recalled
    assert [m.content for m in await remembered(ana)] == ["My name is Ana."]  # nothing stored
    assert await rows(service, memory.owner) == 1
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ana.CreateMemory(
            assistant_pb2.CreateMemoryRequest(memory=assistant_pb2.Memory(content="I am Ana."))
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (
        await ana.GetProfile(assistant_pb2.GetProfileRequest())
    ).profile.verbosity == assistant_pb2.VERBOSITY_UNSPECIFIED

    on = assistant_pb2.UpdateProfileRequest(
        profile=assistant_pb2.Profile(memory_enabled=True), update_mask=mask
    )
    await ana.UpdateProfile(on)
    _, system = await say(ana, api, "Who am I?")
    assert "- My name is Ana." in system


async def test_memory_requests_are_checked_field_by_field(ana: User) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await ana.CreateMemory(
            assistant_pb2.CreateMemoryRequest(memory=assistant_pb2.Memory(content=" "))
        )
    assert violations(empty.value) == {"memory.content"}
    with pytest.raises(grpc.aio.AioRpcError) as long:
        await ana.CreateMemory(
            assistant_pb2.CreateMemoryRequest(memory=assistant_pb2.Memory(content="x" * 501))
        )
    assert violations(long.value) == {"memory.content"}
    with pytest.raises(grpc.aio.AioRpcError) as named:
        await ana.UpdateMemory(
            assistant_pb2.UpdateMemoryRequest(memory=assistant_pb2.Memory(name="memories/x"))
        )
    assert violations(named.value) == {"memory.name", "memory.content"}
    preference = assistant_pb2.MEMORY_KIND_PREFERENCE
    told = assistant_pb2.Memory(content="I am vegetarian.", kind=preference)
    made = await ana.CreateMemory(assistant_pb2.CreateMemoryRequest(memory=told))
    assert (made.memory.source, made.memory.kind) == ("user", preference)


async def test_a_profile_update_without_a_mask_changes_only_what_it_sets(ana: User) -> None:
    formal = assistant_pb2.Profile(tone=assistant_pb2.TONE_FORMAL)
    profile = (await ana.UpdateProfile(assistant_pb2.UpdateProfileRequest(profile=formal))).profile
    assert profile.tone == assistant_pb2.TONE_FORMAL
    assert profile.memory_enabled  # unset in the request, so unchanged
    with pytest.raises(grpc.aio.AioRpcError) as nothing:
        await ana.UpdateProfile(assistant_pb2.UpdateProfileRequest(profile=assistant_pb2.Profile()))
    assert violations(nothing.value) == {"update_mask"}
    bad = assistant_pb2.Profile(language="not a tag!", verbosity=9)  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await ana.UpdateProfile(assistant_pb2.UpdateProfileRequest(profile=bad))
    assert violations(wrong.value) == {"profile.language", "profile.verbosity"}


async def test_feedback_teaches_the_profile_which_shapes_the_prompt_until_reset(
    ana: User, bob: User, api: ScriptedApi
) -> None:
    answer, system = await say(ana, api, "Explain photosynthesis.")
    assert "Keep answers short" not in system
    reason = "Too long and too cold. Answer in Spanish, please."
    down = assistant_pb2.SubmitFeedbackRequest(
        message=answer.reply.name, rating=assistant_pb2.FEEDBACK_RATING_THUMBS_DOWN, reason=reason
    )
    profile = (await ana.SubmitFeedback(down)).profile
    assert profile.verbosity == assistant_pb2.VERBOSITY_CONCISE
    assert profile.language == "es"
    assert profile.negative_feedback == 1
    assert (profile.hemisphere.technical, profile.hemisphere.emotional) == (0.4, 0.6)
    again = (await ana.SubmitFeedback(down)).profile  # the same reply rated again: replaced
    assert again.negative_feedback == 1

    answer, system = await say(ana, api, "And respiration?")
    assert "Keep answers short: a few sentences at most." in system
    assert "Answer in Spanish." in system
    assert answer.hemisphere_source == assistant_pb2.HEMISPHERE_SOURCE_PROFILE
    assert (answer.hemisphere.technical, answer.hemisphere.emotional) == (0.4, 0.6)
    _, bobs = await say(bob, api, "And respiration?")
    assert "Answer in Spanish." not in bobs

    up = assistant_pb2.SubmitFeedbackRequest(
        message=answer.reply.name, rating=assistant_pb2.FEEDBACK_RATING_THUMBS_UP
    )
    assert (await ana.SubmitFeedback(up)).profile.positive_feedback == 1

    reset = (await ana.ResetProfile(assistant_pb2.ResetProfileRequest())).profile
    assert reset.verbosity == assistant_pb2.VERBOSITY_UNSPECIFIED
    assert (reset.language, reset.negative_feedback) == ("", 0)
    assert not reset.HasField("hemisphere")
    assert reset.memory_enabled
    answer, system = await say(ana, api, "And fermentation?")
    assert "Keep answers short" not in system
    assert "Answer in Spanish." not in system
    assert answer.hemisphere_source == assistant_pb2.HEMISPHERE_SOURCE_DEFAULT


async def test_a_stated_preference_teaches_the_profile(ana: User, api: ScriptedApi) -> None:
    _, _ = await say(ana, api, "I prefer short answers. Prefiero que me hables en español.")
    profile = (await ana.GetProfile(assistant_pb2.GetProfileRequest())).profile
    assert (profile.verbosity, profile.language) == (assistant_pb2.VERBOSITY_CONCISE, "es")
    kinds = {m.kind for m in await remembered(ana)}
    assert kinds == {assistant_pb2.MEMORY_KIND_PREFERENCE}


async def test_feedback_is_the_owners_on_a_reply_and_checked(
    ana: User, bob: User, api: ScriptedApi
) -> None:
    answer, _ = await say(ana, api, "Hello.")
    thumbs = assistant_pb2.FEEDBACK_RATING_THUMBS_UP
    with pytest.raises(grpc.aio.AioRpcError) as theirs:
        await bob.SubmitFeedback(
            assistant_pb2.SubmitFeedbackRequest(message=answer.reply.name, rating=thumbs)
        )
    assert theirs.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as own_words:
        await ana.SubmitFeedback(
            assistant_pb2.SubmitFeedbackRequest(message=answer.user_message.name, rating=thumbs)
        )
    assert violations(own_words.value) == {"message"}
    wrong = assistant_pb2.SubmitFeedbackRequest(message="conversations/x", reason="x" * 501)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await ana.SubmitFeedback(wrong)
    assert violations(bad.value) == {"message", "rating", "reason"}
    with pytest.raises(grpc.aio.AioRpcError) as other_profile:
        await bob.GetProfile(assistant_pb2.GetProfileRequest(name="users/someone-else/profile"))
    assert other_profile.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_conversation_over_the_budget_keeps_a_summary_of_what_it_leaves_out(
    ana: User, api: ScriptedApi
) -> None:
    filler = " It matters" + " a great deal" * 20 + "."
    first, system = await say(ana, api, "Tell me about the violin." + filler)
    assert "not shown" not in system
    for topic in ("cello", "viola", "harp", "oboe", "flute"):
        _, system = await say(ana, api, f"Tell me about the {topic}." + filler, first.conversation)
    assert "earlier turns of this conversation are not shown.)" in system
    assert "Extractive summary (the user's own words, not a model's):" in system
    assert '"Tell me about the violin."' in system  # the first turn, left out, summarised
    assert len(api.received[-1].body["messages"]) < 2 * 6  # not every turn is sent
    got = await ana.GetConversation(assistant_pb2.GetConversationRequest(name=first.conversation))
    assert got.conversation.context_summary.startswith("Extractive summary")
    assert got.conversation.context_summary in system
    assert "the flute" not in got.conversation.context_summary  # the newest turn is in full
