"""One voice chat: the caller's audio heard (`listening.Ear`), each final transcript answered as
a conversation turn, the reply spoken (`speaking.Speaker`), all over one bidirectional stream.

Three tasks run at once, so the caller can go on talking, or cancel, while a reply is made:
the reader takes the caller's messages (audio, END_OF_UTTERANCE, CANCEL_REPLY); the listener
turns recognition results into transcript events and queues final ones; the answerer runs one
turn per queued utterance, in order. CANCEL_REPLY cancels the turn in progress: its generation
stops, the partial reply is stored with finish reason CANCELLED and `reply_completed` says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import aclosing
from typing import Any

from services.assistant import convert, validation
from services.assistant.hemisphere import Balance
from services.assistant.listening import Ear, Heard, nothing_heard
from services.assistant.speaking import Speaker
from services.assistant.speech import SpeechClient
from services.assistant.turns import Turn, TurnInput, Turns
from voka import errors
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.errors import FieldViolation

Out = assistant_pb2.StreamVoiceChatResponse
Requests = AsyncIterator[assistant_pb2.StreamVoiceChatRequest]
MAX_CHUNK_BYTES = 1 << 20
REPLY_EVENTS = {"started": "reply_started", "delta": "reply_delta", "tool_call": "tool_call",
                "tool_result": "tool_result", "completed": "reply_completed"}  # fmt: skip


def transcript(heard: Heard) -> Out:
    result = heard.result
    return Out(
        transcript=assistant_pb2.VoiceTranscript(
            utterance_index=heard.index,
            text=result.text.strip(),
            is_final=result.is_final,
            language=result.language,
            language_probability=result.language_probability,
        )
    )


class VoiceChat:
    """The state of one StreamVoiceChat call."""

    def __init__(
        self,
        turns: Turns,
        speech: SpeechClient,
        *,
        config: assistant_pb2.VoiceChatConfig,
        conversation: str,
        owner: str,
        metadata: Sequence[tuple[str, str]],
    ) -> None:
        self._turns = turns
        self._speech = speech
        self._config = config
        self._conversation = conversation
        self._owner = owner
        self._metadata = metadata
        self._ear = Ear(speech, config, metadata)
        self._out: asyncio.Queue[Out | BaseException | None] = asyncio.Queue()
        self._utterances: asyncio.Queue[str | None] = asyncio.Queue()
        self._reply: asyncio.Task[None] | None = None
        self._cancelled = False  # the caller asked to stop the reply in progress

    async def run(self, requests: Requests) -> AsyncIterator[Out]:
        """The chat's events until the caller's audio ended and the last reply is done."""
        tasks = [asyncio.create_task(self._guard(work)) for work in
                 (self._read(requests), self._listen(), self._answer_all())]  # fmt: skip
        try:
            while (item := await self._out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._ear.abort()
            for task in [*tasks, self._reply]:
                if task is not None:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """A part's failure ends the call with its status."""
        try:
            await work
        except Exception as exc:
            self._out.put_nowait(exc)

    async def _read(self, requests: Requests) -> None:
        async for message in requests:
            kind = message.WhichOneof("voice_request")
            if kind == "audio":
                if len(message.audio) > MAX_CHUNK_BYTES:
                    validation.require([FieldViolation("audio", "a chunk holds at most 1 MiB")])
                self._ear.hear(message.audio)
            elif kind == "config":
                validation.require([FieldViolation("config", "only in the first message")])
            elif message.control.action == assistant_pb2.VOICE_CHAT_ACTION_END_OF_UTTERANCE:
                self._ear.end_utterance()
            elif message.control.action == assistant_pb2.VOICE_CHAT_ACTION_CANCEL_REPLY:
                self._cancel_reply()
        await self._ear.close()

    def _cancel_reply(self) -> None:
        if self._reply is not None and not self._reply.done():
            self._cancelled = True
            self._reply.cancel()

    async def _listen(self) -> None:
        """Transcripts out as they come; final ones queued to be answered."""
        try:
            async for heard in self._ear.results():
                if isinstance(heard, errors.VokaError):
                    self._out.put_nowait(Out(error=heard.to_status()))
                elif not heard.result.is_final:
                    self._out.put_nowait(transcript(heard))
                elif not heard.result.text.strip():
                    self._out.put_nowait(Out(error=nothing_heard().to_status()))
                else:
                    self._out.put_nowait(transcript(heard))
                    self._utterances.put_nowait(heard.result.text.strip())
        finally:
            self._utterances.put_nowait(None)

    async def _answer_all(self) -> None:
        while (text := await self._utterances.get()) is not None:
            self._cancelled = False
            self._reply = asyncio.create_task(self._answer(text))
            await asyncio.wait([self._reply])
            failure = None if self._reply.cancelled() else self._reply.exception()
            if failure is not None:
                raise failure
        self._out.put_nowait(None)

    async def _answer(self, text: str) -> None:
        """One turn: reply events with the audio interleaved, then reply_completed."""
        config = self._config
        override = Balance.of(config.hemisphere) if config.HasField("hemisphere") else None
        ask = TurnInput(
            owner=self._owner,
            message=text,
            conversation=self._conversation,
            context=convert.plain(config.context),
            model=config.model,
            sampling=config.sampling,
            hemisphere=override,
            disable_tools=config.disable_tools,
            channel=events_pb2.REPLY_CHANNEL_VOICE,
        )
        turn: Turn | None = None
        try:
            # Read again for each utterance: settings change and conversations go meanwhile.
            record = await self._turns.conversation(self._conversation)
            turn = await self._turns.begin(ask, record)
            await self._speak(turn)
        except errors.VokaError as exc:
            self._out.put_nowait(Out(error=exc.to_status()))
        except asyncio.CancelledError:
            if not self._cancelled:
                raise
            if turn is not None and turn.reply is not None:  # stored as cancelled
                completed = turn.outcome.completed(turn.reply.name)
                self._out.put_nowait(Out(reply_completed=completed))

    async def _speak(self, turn: Turn) -> None:
        speaker = Speaker(self._speech, self._config, self._metadata)
        async with aclosing(self._turns.stream(turn)) as events:
            async for kind, message in events:
                if kind == "completed":
                    await self._put_all(speaker.flush())
                self._out.put_nowait(Out(**{REPLY_EVENTS[kind]: message}))  # type: ignore[arg-type]
                if kind == "delta":
                    await self._put_all(speaker.add(message.text))  # type: ignore[attr-defined]

    async def _put_all(self, outs: AsyncIterator[Out]) -> None:
        async for out in outs:
            self._out.put_nowait(out)
