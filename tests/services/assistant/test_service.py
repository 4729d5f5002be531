"""The assistant over gRPC with the real local model: replies, conversations, tenancy,
validation, pagination, hemisphere balance, cancellation and the events each reply publishes."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import field_mask_pb2

from services.assistant.convert import struct
from tests.fixtures.events import published
from tests.fixtures.waiting import eventually
from tests.services.assistant.conftest import MAX_TOKENS, User
from tests.services.assistant.support import violations
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, events_pb2

A, E = assistant_pb2, events_pb2


async def test_process_message_starts_a_conversation_and_stores_the_turn(alice: User) -> None:
    reply = await alice.ProcessMessage(A.ProcessMessageRequest(
        message="Say hello.", context=struct({"level": "beginner"})))  # fmt: skip
    assert reply.conversation_created
    assert reply.conversation.startswith("conversations/")
    assert reply.reply.role == A.MESSAGE_ROLE_ASSISTANT
    assert reply.reply.content
    assert 0 < reply.reply.usage.output_tokens <= MAX_TOKENS
    assert reply.reply.usage.input_tokens > 0
    assert reply.reply.timing.total_duration.ToNanoseconds() > 0
    assert reply.reply.finish_reason in (A.FINISH_REASON_STOP, A.FINISH_REASON_LENGTH)
    assert reply.hemisphere_source == A.HEMISPHERE_SOURCE_DEFAULT
    got = await alice.GetConversation(A.GetConversationRequest(name=reply.conversation))
    stored = got.conversation
    assert [m.role for m in stored.messages] == [A.MESSAGE_ROLE_USER, A.MESSAGE_ROLE_ASSISTANT]
    assert stored.messages[0].content == "Say hello."
    assert stored.messages[0].context["level"] == "beginner"
    assert stored.messages[1].content == reply.reply.content
    assert stored.display_name == "Say hello."
    assert stored.usage.output_tokens == reply.reply.usage.output_tokens


async def test_stream_reply_sends_started_deltas_and_completed_in_order(alice: User) -> None:
    events = [e async for e in alice.StreamReply(A.StreamReplyRequest(message="Count to three."))]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "started"
    assert kinds[-1] == "completed"
    assert set(kinds[1:-1]) == {"delta"}
    assert len(kinds) > 3
    done = events[-1].completed
    assert done.text == "".join(e.delta.text for e in events[1:-1])
    assert done.reply_message.startswith(events[0].started.conversation + "/messages/")
    assert done.timing.time_to_first_token.ToNanoseconds() > 0
    assert done.timing.tokens_per_second > 0


async def test_each_reply_is_announced_on_the_bus_without_its_text(
    alice: User, nats: NatsServer
) -> None:
    async with published(nats.url, E.ReplyCompletedEvent) as announced:
        reply = await alice.ProcessMessage(A.ProcessMessageRequest(message="Say hello."))
        await announced.until(lambda seen: any(e.reply_message == reply.reply.name for e in seen))
    [event] = [e for e in announced.events if e.reply_message == reply.reply.name]
    owner = (await alice.GetConversation(A.GetConversationRequest(
        name=reply.conversation))).conversation.owner  # fmt: skip
    assert (event.owner, event.conversation, event.channel) == (
        owner, reply.conversation, E.REPLY_CHANNEL_PROCESS)  # fmt: skip
    assert (event.model, event.provider) == (reply.reply.model, "local")
    assert event.usage == reply.reply.usage
    assert event.finish_reason == reply.reply.finish_reason
    assert event.hemisphere == reply.hemisphere
    assert event.tool_call_count == 0
    assert event.timing.total_duration.ToNanoseconds() > 0
    assert reply.reply.content not in str(event)


async def test_cancelling_the_stream_stops_generation_and_keeps_the_partial_reply(
    alice: User, nats: NatsServer
) -> None:
    request = A.StreamReplyRequest(
        message="Tell me a long story about a dragon.",
        sampling=A.SamplingOptions(max_output_tokens=400),
    )
    async with published(nats.url, E.ReplyCompletedEvent) as announced:
        call = alice.StreamReply(request)
        started = (await call.read()).started
        first = await call.read()
        assert first.WhichOneof("event") == "delta"
        call.cancel()
        messages = A.ListMessagesRequest(parent=started.conversation)
        async with asyncio.timeout(10):
            while True:
                stored = (await alice.ListMessages(messages)).messages
                if len(stored) == 2:
                    break
                await asyncio.sleep(0.05)
        await announced.until(
            lambda seen: any(e.conversation == started.conversation for e in seen)
        )
    reply = stored[1]
    assert reply.finish_reason == A.FINISH_REASON_CANCELLED
    assert reply.content.startswith(first.delta.text)
    [event] = [e for e in announced.events if e.conversation == started.conversation]
    assert (event.reply_message, event.channel) == (reply.name, E.REPLY_CHANNEL_STREAM)
    assert event.finish_reason == A.FINISH_REASON_CANCELLED

    async def slot_released() -> bool:
        # The slot is held past the stored reply, while the turn's memories are learned.
        return (await alice.GetStatus(A.GetStatusRequest())).active_replies == 0

    await eventually(slot_released)


async def test_other_users_conversations_are_not_found(alice: User, bob: User) -> None:
    mine = await alice.CreateConversation(A.CreateConversationRequest(
        conversation=A.Conversation(display_name="private")))  # fmt: skip
    name = mine.conversation.name
    attempts = [
        bob.GetConversation(A.GetConversationRequest(name=name)),
        bob.ListMessages(A.ListMessagesRequest(parent=name)),
        bob.UpdateConversation(A.UpdateConversationRequest(
            conversation=A.Conversation(name=name, display_name="mine now"))),
        bob.DeleteConversation(A.DeleteConversationRequest(name=name)),
        bob.ProcessMessage(A.ProcessMessageRequest(message="hi", conversation=name)),
        bob.GetHemisphereBalance(A.GetHemisphereBalanceRequest(conversation=name)),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await bob.ListConversations(A.ListConversationsRequest())
    assert name not in [c.name for c in listed.conversations]
    still = await alice.GetConversation(A.GetConversationRequest(name=name))
    assert still.conversation.display_name == "private"


async def test_conversations_page_newest_activity_first(alice: User) -> None:
    created = []
    for i in range(5):
        reply = await alice.CreateConversation(A.CreateConversationRequest(
            conversation=A.Conversation(display_name=f"topic {i}")))  # fmt: skip
        created.append(reply.conversation.name)
    seen, token = [], ""
    for _ in range(3):
        page = await alice.ListConversations(A.ListConversationsRequest(
            page_size=2, page_token=token))  # fmt: skip
        assert page.total_size == 5
        assert len(page.conversations) <= 2
        seen += [c.name for c in page.conversations]
        token = page.next_page_token
    assert token == ""
    assert seen == list(reversed(created))
    found = await alice.ListConversations(A.ListConversationsRequest(query="TOPIC 3"))
    assert [c.display_name for c in found.conversations] == ["topic 3"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await alice.ListConversations(A.ListConversationsRequest(page_token="garbage"))
    assert violations(caught.value) == {"page_token"}


async def test_rename_update_and_delete(alice: User) -> None:
    made = await alice.CreateConversation(A.CreateConversationRequest(
        conversation=A.Conversation(display_name="draft", instructions="Be brief.")))  # fmt: skip
    name = made.conversation.name
    renamed = await alice.UpdateConversation(A.UpdateConversationRequest(
        conversation=A.Conversation(name=name, display_name="final")))  # fmt: skip
    assert renamed.conversation.display_name == "final"
    assert renamed.conversation.instructions == "Be brief."
    pro = struct({"level": "pro"})
    masked = await alice.UpdateConversation(A.UpdateConversationRequest(
        conversation=A.Conversation(name=name, display_name="ignored", context=pro),
        update_mask=field_mask_pb2.FieldMask(paths=["context"])))  # fmt: skip
    assert masked.conversation.display_name == "final"
    assert masked.conversation.context["level"] == "pro"
    await alice.DeleteConversation(A.DeleteConversationRequest(name=name))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await alice.GetConversation(A.GetConversationRequest(name=name))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_input_names_every_bad_field(alice: User) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await alice.ProcessMessage(A.ProcessMessageRequest(
            message=" ", conversation="chats/1",
            sampling=A.SamplingOptions(temperature=3, top_k=-1),
            hemisphere=A.HemisphereBalance(technical=0.7, emotional=0.7)))  # fmt: skip
    assert violations(caught.value) == {
        "message",
        "conversation",
        "sampling.temperature",
        "sampling.top_k",
        "hemisphere",
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await alice.CreateConversation(A.CreateConversationRequest(conversation=A.Conversation(
            display_name="x" * 201, model="nope/none",
            tool_policy=A.ToolPolicy(allowed_tools=["everything"]))))  # fmt: skip
    assert violations(caught.value) == {
        "conversation.display_name",
        "conversation.model",
        "conversation.tool_policy.allowed_tools[0]",
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await alice.SetHemisphereBalance(A.SetHemisphereBalanceRequest(
            balance=A.HemisphereBalance(technical=1.5, emotional=-0.5)))  # fmt: skip
    assert violations(caught.value) == {"balance.technical", "balance.emotional"}


async def test_hemisphere_conversation_overrides_user_and_shapes_replies(alice: User) -> None:
    user = A.HemisphereBalance(technical=0.9, emotional=0.1)
    await alice.SetHemisphereBalance(A.SetHemisphereBalanceRequest(balance=user))
    mine = await alice.GetHemisphereBalance(A.GetHemisphereBalanceRequest())
    assert mine.source == A.HEMISPHERE_SOURCE_USER
    assert mine.balance.technical == pytest.approx(0.9)
    made = await alice.CreateConversation(A.CreateConversationRequest(
        conversation=A.Conversation(display_name="feelings")))  # fmt: skip
    name = made.conversation.name
    inherited = await alice.GetHemisphereBalance(A.GetHemisphereBalanceRequest(conversation=name))
    assert inherited.source == A.HEMISPHERE_SOURCE_USER
    warm = A.HemisphereBalance(technical=0.2, emotional=0.8)
    await alice.SetHemisphereBalance(A.SetHemisphereBalanceRequest(balance=warm, conversation=name))
    reply = await alice.ProcessMessage(A.ProcessMessageRequest(message="I feel sad.",
                                                               conversation=name))  # fmt: skip
    assert reply.hemisphere_source == A.HEMISPHERE_SOURCE_CONVERSATION
    assert reply.reply.hemisphere.emotional == pytest.approx(0.8)
    status = await alice.GetStatus(A.GetStatusRequest(conversation=name))
    assert status.hemisphere_source == A.HEMISPHERE_SOURCE_CONVERSATION
    await alice.SetHemisphereBalance(A.SetHemisphereBalanceRequest(conversation=name, reset=True))
    back = await alice.GetHemisphereBalance(A.GetHemisphereBalanceRequest(conversation=name))
    assert back.source == A.HEMISPHERE_SOURCE_USER


async def test_status_and_models_show_the_local_default(alice: User) -> None:
    status = await alice.GetStatus(A.GetStatusRequest())
    assert status.active_model
    assert status.hemisphere_source == A.HEMISPHERE_SOURCE_DEFAULT
    [local] = status.providers
    assert local.kind == A.PROVIDER_KIND_LOCAL
    assert local.circuit_state == A.CIRCUIT_STATE_CLOSED
    assert local.max_concurrency >= 1
    assert status.active_model in local.models
    models = await alice.ListModels(A.ListModelsRequest())
    assert models.default_model == status.active_model
    assert models.models[0].id == status.active_model
    assert models.models[0].is_default
    assert models.models[0].context_length > 0
    assert models.models[0].available


async def test_turns_carry_history_page_and_retry_idempotently(alice: User) -> None:
    first = await alice.ProcessMessage(A.ProcessMessageRequest(message="My name is Ann."))
    name = first.conversation
    ask = A.ProcessMessageRequest(message="What is my name?", conversation=name, request_id="r1")
    second = await alice.ProcessMessage(ask)
    assert not second.conversation_created
    # The second prompt carries the first turn: more input than the first prompt had.
    history = first.reply.usage.output_tokens + 5
    assert second.reply.usage.input_tokens >= first.reply.usage.input_tokens + history
    again = await alice.ProcessMessage(ask)
    assert again.reply.name == second.reply.name
    assert again.reply.content == second.reply.content
    pages, token = [], ""
    while True:
        page = await alice.ListMessages(
            A.ListMessagesRequest(parent=name, page_size=3, page_token=token)
        )
        assert page.total_size == 4
        pages.append([m.name for m in page.messages])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [3, 1]
    assert pages[0][:2] == [first.user_message.name, first.reply.name]
    assert pages[1] == [second.reply.name]
