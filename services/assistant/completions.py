"""Async completions: a job stored QUEUED and published as `completion.requested`; a durable
JetStream consumer in the service answers it and stores the result. The job survives a restart:
an unacknowledged message is redelivered to whichever replica runs next, and the conditional
state changes make a second delivery of a finished job change nothing.

Cancelling a RUNNING job publishes `completion.cancellation_requested`; every replica listens,
and the one generating it stops the generation and stores it CANCELLED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from nats.aio.msg import Msg

from services.assistant import convert, toolnames
from services.assistant.completion_store import CompletionStore
from services.assistant.hemisphere import Balance
from services.assistant.replies import Outcome, Replies
from services.assistant.standalone_chats import ChatInput, StandaloneChats, with_prompt
from services.assistant.turns import TurnInput, Turns, new_id
from voka import errors, watch, wellknown
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.bus import Bus, Event, Listener, Subscription, subject_of

log = logging.getLogger(__name__)
Completion = assistant_pb2.Completion
FINAL = frozenset({
    assistant_pb2.COMPLETION_STATE_SUCCEEDED,
    assistant_pb2.COMPLETION_STATE_FAILED,
    assistant_pb2.COMPLETION_STATE_CANCELLED,
})  # fmt: skip
DURABLE = "assistant-completions"
EVENTS = "voka.assistant.completion.>"  # every event of every job: hints for Watch
# The event announcing each final state; each takes the job as `completion`.
ENDINGS: dict[int, Callable[..., Message]] = {
    assistant_pb2.COMPLETION_STATE_SUCCEEDED: events_pb2.CompletionCompletedEvent,
    assistant_pb2.COMPLETION_STATE_FAILED: events_pb2.CompletionFailedEvent,
    assistant_pb2.COMPLETION_STATE_CANCELLED: events_pb2.CompletionCancelledEvent,
}


def _stamp() -> timestamp_pb2.Timestamp:
    return wellknown.timestamp(datetime.now(UTC))


def cancelled_status(reason: str) -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.CANCELLED, message=reason or "cancelled by the caller")


class Completions:
    """Creates, runs, cancels and follows async completions."""

    def __init__(
        self,
        store: CompletionStore,
        bus: Bus,
        turns: Turns,
        chats: StandaloneChats,
        replies: Replies,
    ) -> None:
        self._store = store
        self._bus = bus
        self._turns = turns
        self._chats = chats
        self._replies = replies
        self._running: dict[str, asyncio.Task[tuple[Outcome, str]]] = {}
        self._cancels: set[str] = set()
        self._listener: Listener | None = None
        self._consumer: Subscription[events_pb2.CompletionRequestedEvent] | None = None

    async def start(self, workers: int) -> None:
        """Listen for cancellations; with workers, consume the queue too."""
        subject = subject_of(events_pb2.CompletionCancellationRequestedEvent)
        self._listener = await self._bus.listen(subject, self._on_cancel)
        if workers:
            self._consumer = await self._bus.subscribe(
                events_pb2.CompletionRequestedEvent,
                DURABLE,
                self._handle,
                concurrency=workers,
                batch=workers,
                handler_timeout=900.0,
            )

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._listener is not None:
            await self._listener.stop()

    async def create(self, owner: str, given: Completion, request_id: str) -> Completion:
        """Store the job QUEUED and publish it; a known request id returns the earlier job."""
        job = Completion()
        job.CopyFrom(given)
        # What a job produces: cleared from what a caller creates it with.
        for output in ("output_text", "tool_calls", "tool_results", "reply_message", "usage",
                       "timing", "finish_reason", "error", "attempts", "cancel_requested",
                       "start_time", "end_time"):  # fmt: skip
            job.ClearField(output)
        job.name = f"completions/{new_id()}"
        job.owner, job.state = owner, assistant_pb2.COMPLETION_STATE_QUEUED
        job.model = self._turns.model(job.model, "completion.model")[1]
        if not job.HasField("hemisphere"):
            in_force = await self._chats.balances.in_force(owner)
            job.hemisphere.CopyFrom(in_force.balance.message())
        job.create_time.CopyFrom(_stamp())
        job.update_time.CopyFrom(job.create_time)
        stored, known = await self._store.add(job, request_id or None)
        if not known:
            await self._bus.publish(events_pb2.CompletionRequestedEvent(completion=stored))
        return stored

    async def cancel(self, job: Completion, requester: str, reason: str) -> Completion:
        """QUEUED: cancelled now; RUNNING: asked to stop; final: FAILED_PRECONDITION."""
        job_id = job.name.removeprefix("completions/")

        def now_cancelled(c: Completion) -> None:
            _end(c, assistant_pb2.COMPLETION_STATE_CANCELLED)
            c.error.CopyFrom(cancelled_status(reason))

        def asked(c: Completion) -> None:
            c.cancel_requested = True
            c.update_time.CopyFrom(_stamp())
            c.error.CopyFrom(cancelled_status(reason))

        queued = {assistant_pb2.COMPLETION_STATE_QUEUED}
        done = await self._store.change(job_id, queued, now_cancelled)
        if done is not None:
            await self._bus.publish(events_pb2.CompletionCancelledEvent(completion=done))
            return done
        running = await self._store.change(job_id, {assistant_pb2.COMPLETION_STATE_RUNNING}, asked)
        if running is None:
            current = await self._store.get(job_id) or job
            state = assistant_pb2.CompletionState.Name(current.state)
            raise errors.failed_precondition(f"completion is already {state}", "STATE", job.name)
        await self._bus.publish(
            events_pb2.CompletionCancellationRequestedEvent(
                completion=job.name, requester=requester, reason=reason, time=_stamp()
            )
        )
        return running

    def watch(self, job: Completion) -> AsyncIterator[Completion]:
        """The job now, then on every change, until a final state (`voka.watch`): any event
        naming the job wakes the loop."""
        job_id, name = job.name.removeprefix("completions/"), job.name.encode()

        async def read() -> Completion | None:
            return await self._store.get(job_id)

        return watch.changes(
            self._bus,
            EVENTS,
            lambda msg: name in msg.data,
            watch.Watched(
                read,
                version=lambda c: (c.state, c.cancel_requested, c.attempts),
                final=lambda c: c.state in FINAL,
            ),
        )

    async def _on_cancel(self, msg: Msg) -> None:
        request = events_pb2.CompletionCancellationRequestedEvent.FromString(msg.data)
        job_id = request.completion.removeprefix("completions/")
        task = self._running.get(job_id)
        if task is not None:
            self._cancels.add(job_id)
            task.cancel()

    async def _handle(self, event: Event[events_pb2.CompletionRequestedEvent]) -> None:
        job_id = event.message.completion.name.removeprefix("completions/")
        waiting = {assistant_pb2.COMPLETION_STATE_QUEUED, assistant_pb2.COMPLETION_STATE_RUNNING}
        job = await self._store.change(job_id, waiting, _started)
        if job is None:
            return  # cancelled while queued, or finished by an earlier delivery
        task = asyncio.create_task(self._generate(job))
        self._running[job_id] = task
        try:
            outcome, reply = await task
            ending = _succeeded(outcome, reply)
        except asyncio.CancelledError:
            if job_id not in self._cancels:
                raise  # shutting down: the message stays unacked and is redelivered
            ending = _cancelled
        except errors.VokaError as exc:
            ending = _failed(exc.to_status())
        finally:
            self._running.pop(job_id, None)
            self._cancels.discard(job_id)
        await self._finish(job_id, ending)

    async def _finish(self, job_id: str, ending: Callable[[Completion], None]) -> None:
        running = {assistant_pb2.COMPLETION_STATE_RUNNING}
        final = await self._store.change(job_id, running, ending)
        if final is not None:
            await self._bus.publish(ENDINGS[final.state](completion=final))

    async def _generate(self, job: Completion) -> tuple[Outcome, str]:
        """Answer the job: as a turn of its conversation, or stand-alone."""
        override = Balance.of(job.hemisphere) if job.HasField("hemisphere") else None
        if job.conversation:
            return await self._turn(job, override)
        chat = await self._chats.prepare(
            ChatInput(
                owner=job.owner,
                messages=with_prompt(job.messages, job.prompt),
                model=job.model,
                sampling=job.sampling,
                hemisphere=override,
                context=convert.plain(job.context),
                tools=job.tools,
                instructions=job.instructions,
                channel=events_pb2.REPLY_CHANNEL_COMPLETION,
                completion=job.name,
            )
        )
        async for _ in self._chats.stream(chat):
            pass
        return chat.outcome, ""

    async def _turn(self, job: Completion, override: Balance | None) -> tuple[Outcome, str]:
        """A turn of the job's conversation. It is not among the conversation's live replies:
        deleting the conversation leaves the job to end on its own."""
        ask = TurnInput(
            owner=job.owner,
            message=job.prompt,
            conversation=job.conversation,
            context=convert.plain(job.context),
            model=job.model,
            sampling=job.sampling,
            hemisphere=override,
            channel=events_pb2.REPLY_CHANNEL_COMPLETION,
            completion=job.name,
        )
        turn = await self._turns.begin(ask, await self._turns.existing(job.conversation))
        turn.allowed &= toolnames.allowed(job.tools, self._turns.servers())
        async with self._replies.slot(turn.provider) as waited:
            turn.outcome.queue = waited
            await self._turns.store_user(turn)
            try:
                await self._replies.run(turn, self._turns.tool_name)
            finally:
                reply = await asyncio.shield(self._turns.finish(turn))
        return turn.outcome, reply.name


def _started(job: Completion) -> None:
    job.state = assistant_pb2.COMPLETION_STATE_RUNNING
    job.attempts += 1
    job.start_time.CopyFrom(_stamp())
    job.update_time.CopyFrom(job.start_time)


def _end(job: Completion, state: int) -> None:
    job.state = state  # type: ignore[assignment]
    job.end_time.CopyFrom(_stamp())
    job.update_time.CopyFrom(job.end_time)


def _succeeded(outcome: Outcome, reply: str) -> Callable[[Completion], None]:
    def apply(job: Completion) -> None:
        _end(job, assistant_pb2.COMPLETION_STATE_SUCCEEDED)
        job.output_text = outcome.text
        job.tool_calls.extend(outcome.calls)
        job.tool_results.extend(outcome.results)
        job.reply_message = reply
        job.usage.CopyFrom(outcome.usage())
        job.timing.CopyFrom(outcome.timing())
        job.finish_reason = convert.finish_reason(outcome.finish)

    return apply


def _failed(status: status_pb2.Status) -> Callable[[Completion], None]:
    def apply(job: Completion) -> None:
        _end(job, assistant_pb2.COMPLETION_STATE_FAILED)
        job.error.CopyFrom(status)

    return apply


def _cancelled(job: Completion) -> None:
    _end(job, assistant_pb2.COMPLETION_STATE_CANCELLED)
    job.finish_reason = assistant_pb2.FINISH_REASON_CANCELLED
