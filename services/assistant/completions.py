"""Async completions: a job stored QUEUED and published as `completion.requested`; a durable
JetStream consumer in the service answers it and stores the result. The job survives a restart:
an unacknowledged message is redelivered to whichever replica runs next, and the conditional
state changes make a second delivery of a finished job change nothing.

Cancelling a RUNNING job publishes `completion.cancellation_requested`; every replica listens,
and the one generating it stops the generation and stores it CANCELLED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from services.assistant import convert, toolnames
from services.assistant.chats import ChatInput, Chats, with_prompt
from services.assistant.hemisphere import Balance
from services.assistant.replies import Outcome, Replies
from services.assistant.store import Store
from services.assistant.turns import TurnInput, Turns, new_id
from voka import errors, wellknown
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.bus import Bus, Event, Subscription, subject_of

log = logging.getLogger(__name__)
A, E = assistant_pb2, events_pb2
FINAL = frozenset({A.COMPLETION_STATE_SUCCEEDED, A.COMPLETION_STATE_FAILED,
                   A.COMPLETION_STATE_CANCELLED})  # fmt: skip
DURABLE = "assistant-completions"
POLL_SECONDS = 1.0
ENDINGS: dict[int, Callable[[A.Completion], Message]] = {
    A.COMPLETION_STATE_SUCCEEDED: lambda c: E.CompletionCompletedEvent(completion=c),
    A.COMPLETION_STATE_FAILED: lambda c: E.CompletionFailedEvent(completion=c),
    A.COMPLETION_STATE_CANCELLED: lambda c: E.CompletionCancelledEvent(completion=c),
}


def _stamp() -> timestamp_pb2.Timestamp:
    return wellknown.timestamp(datetime.now(UTC))


def cancelled_status(reason: str) -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.CANCELLED, message=reason or "cancelled by the caller")


class Completions:
    """Creates, runs, cancels and follows async completions."""

    def __init__(
        self, store: Store, bus: Bus, turns: Turns, chats: Chats, replies: Replies
    ) -> None:
        self._store = store
        self._bus = bus
        self._turns = turns
        self._chats = chats
        self._replies = replies
        self._running: dict[str, asyncio.Task[tuple[Outcome, str]]] = {}
        self._cancels: set[str] = set()
        self._listener: NatsSubscription | None = None
        self._consumer: Subscription[E.CompletionRequestedEvent] | None = None

    async def start(self, workers: int) -> None:
        """Listen for cancellations; with workers, consume the queue too."""
        subject = subject_of(E.CompletionCancellationRequestedEvent)
        self._listener = await self._bus.nc.subscribe(subject, cb=self._on_cancel)
        if workers:
            self._consumer = await self._bus.subscribe(
                E.CompletionRequestedEvent, DURABLE, self._handle,
                concurrency=workers, batch=workers, handler_timeout=900.0,
            )  # fmt: skip

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.unsubscribe()

    async def create(self, owner: str, given: A.Completion, request_id: str) -> A.Completion:
        """Store the job QUEUED and publish it; a known request id returns the earlier job."""
        job = A.Completion()
        job.CopyFrom(given)
        for output in ("output_text", "tool_calls", "tool_results", "reply_message", "usage",
                       "timing", "finish_reason", "error", "attempts", "cancel_requested",
                       "start_time", "end_time"):  # fmt: skip
            job.ClearField(output)
        job.name, job.owner, job.state = f"completions/{new_id()}", owner, A.COMPLETION_STATE_QUEUED
        job.model = self._turns.model(job.model, "completion.model")[1]
        if not job.HasField("hemisphere"):
            in_force = await self._chats.balances.in_force(owner)
            job.hemisphere.CopyFrom(in_force.balance.message())
        job.create_time.CopyFrom(_stamp())
        job.update_time.CopyFrom(job.create_time)
        stored, known = await self._store.add_completion(job, request_id or None)
        if not known:
            await self._bus.publish(E.CompletionRequestedEvent(completion=stored))
        return stored

    async def cancel(self, job: A.Completion, requester: str, reason: str) -> A.Completion:
        """QUEUED: cancelled now; RUNNING: asked to stop; final: FAILED_PRECONDITION."""
        job_id = job.name.removeprefix("completions/")

        def now_cancelled(c: A.Completion) -> None:
            _end(c, A.COMPLETION_STATE_CANCELLED)
            c.error.CopyFrom(cancelled_status(reason))

        def asked(c: A.Completion) -> None:
            c.cancel_requested = True
            c.update_time.CopyFrom(_stamp())
            c.error.CopyFrom(cancelled_status(reason))

        done = await self._store.change_completion(job_id, {A.COMPLETION_STATE_QUEUED},
                                                   now_cancelled)  # fmt: skip
        if done is not None:
            await self._bus.publish(E.CompletionCancelledEvent(completion=done))
            return done
        running = await self._store.change_completion(job_id, {A.COMPLETION_STATE_RUNNING}, asked)
        if running is None:
            current = await self._store.completion(job_id) or job
            state = A.CompletionState.Name(current.state)
            raise errors.failed_precondition(f"completion is already {state}", "STATE", job.name)
        await self._bus.publish(E.CompletionCancellationRequestedEvent(
            completion=job.name, requester=requester, reason=reason, time=_stamp()))  # fmt: skip
        return running

    async def watch(self, job_id: str) -> AsyncIterator[A.Completion]:
        """The job now, then on every change, until a final state. Events are hints; the
        store has the truth, and a slow poll covers a lost hint."""
        hints: asyncio.Queue[None] = asyncio.Queue()

        async def on_event(_: Msg) -> None:
            hints.put_nowait(None)

        listener = await self._bus.nc.subscribe("voka.assistant.completion.>", cb=on_event)
        try:
            seen: tuple[int, bool, int] | None = None
            while True:
                job = await self._store.completion(job_id)
                if job is None:
                    return
                version = (job.state, job.cancel_requested, job.attempts)
                if version != seen:
                    seen = version
                    yield job
                if job.state in FINAL:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await hints.get()
        finally:
            await listener.unsubscribe()

    async def _on_cancel(self, msg: Msg) -> None:
        request = E.CompletionCancellationRequestedEvent.FromString(msg.data)
        job_id = request.completion.removeprefix("completions/")
        task = self._running.get(job_id)
        if task is not None:
            self._cancels.add(job_id)
            task.cancel()

    async def _handle(self, event: Event[E.CompletionRequestedEvent]) -> None:
        job_id = event.message.completion.name.removeprefix("completions/")
        job = await self._store.change_completion(
            job_id, {A.COMPLETION_STATE_QUEUED, A.COMPLETION_STATE_RUNNING}, _started
        )
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

    async def _finish(self, job_id: str, ending: Callable[[A.Completion], None]) -> None:
        final = await self._store.change_completion(job_id, {A.COMPLETION_STATE_RUNNING}, ending)
        if final is not None:
            await self._bus.publish(ENDINGS[final.state](final))

    async def _generate(self, job: A.Completion) -> tuple[Outcome, str]:
        """Answer the job: as a turn of its conversation, or stand-alone."""
        override = Balance.of(job.hemisphere) if job.HasField("hemisphere") else None
        if job.conversation:
            return await self._turn(job, override)
        chat = await self._chats.prepare(ChatInput(
            owner=job.owner, messages=with_prompt(job.messages, job.prompt), model=job.model,
            sampling=job.sampling, hemisphere=override, context=convert.plain(job.context),
            tools=job.tools, instructions=job.instructions, channel=E.REPLY_CHANNEL_COMPLETION,
            completion=job.name))  # fmt: skip
        async with self._replies.slot(chat.provider) as waited:
            chat.outcome.queue = waited
            try:
                await self._replies.run(chat, self._turns.tool_name)
            finally:
                await asyncio.shield(self._chats.finish(chat))
        return chat.outcome, ""

    async def _turn(self, job: A.Completion, override: Balance | None) -> tuple[Outcome, str]:
        turn = await self._turns.begin(TurnInput(
            owner=job.owner, admin=False, message=job.prompt, conversation=job.conversation,
            context=convert.plain(job.context), model=job.model, sampling=job.sampling,
            hemisphere=override, channel=E.REPLY_CHANNEL_COMPLETION,
            completion=job.name))  # fmt: skip
        turn.allowed &= toolnames.allowed(job.tools, self._turns.servers())
        async with self._replies.slot(turn.provider) as waited:
            turn.outcome.queue = waited
            await self._turns.store_user(turn)
            try:
                await self._replies.run(turn, self._turns.tool_name)
            finally:
                reply = await asyncio.shield(self._turns.finish(turn))
        return turn.outcome, reply.name


def _started(job: A.Completion) -> None:
    job.state = A.COMPLETION_STATE_RUNNING
    job.attempts += 1
    job.start_time.CopyFrom(_stamp())
    job.update_time.CopyFrom(job.start_time)


def _end(job: A.Completion, state: int) -> None:
    job.state = state  # type: ignore[assignment]
    job.end_time.CopyFrom(_stamp())
    job.update_time.CopyFrom(job.end_time)


def _succeeded(outcome: Outcome, reply: str) -> Callable[[A.Completion], None]:
    def apply(job: A.Completion) -> None:
        _end(job, A.COMPLETION_STATE_SUCCEEDED)
        job.output_text = outcome.text
        job.tool_calls.extend(outcome.calls)
        job.tool_results.extend(outcome.results)
        job.reply_message = reply
        job.usage.CopyFrom(outcome.usage())
        job.timing.CopyFrom(outcome.timing())
        job.finish_reason = convert.finish_reason(outcome.finish)

    return apply


def _failed(status: status_pb2.Status) -> Callable[[A.Completion], None]:
    def apply(job: A.Completion) -> None:
        _end(job, A.COMPLETION_STATE_FAILED)
        job.error.CopyFrom(status)

    return apply


def _cancelled(job: A.Completion) -> None:
    _end(job, A.COMPLETION_STATE_CANCELLED)
    job.finish_reason = A.FINISH_REASON_CANCELLED
