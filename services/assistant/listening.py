"""The listening side of a voice chat: the caller's audio streamed to the speech service's
StreamingRecognize, whose voice activity detection ends an utterance after a silence and whose
partial results become interim transcripts.

Audio opens a recognition stream; END_OF_UTTERANCE (push-to-talk) half-closes it, so the speech
service answers with what it heard at once, and the next audio opens a new stream. Streams are
read one after the other, so utterances keep their order and their index. A stream that fails
is reported once; the audio after it is dropped until END_OF_UTTERANCE or, for a caller that
relies on silence alone, until the speech client's breaker lets calls through again.

Audio waits in memory until its stream sends it, and a stream starts only when the one before it
has given all its results; what waits, all streams together, is bounded (`MAX_WAITING_AUDIO`).
Audio beyond it is RESOURCE_EXHAUSTED, which ends the chat: the caller sends faster than the
speech service listens, and holding on would only grow the process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from services.assistant.speech import SpeechClient, encoding
from voka import errors, wellknown
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation, VokaError
from voka.speech.v1 import speech_pb2

DEFAULT_SILENCE = 0.7  # seconds that end an utterance, as the contract says
RETRY_PAUSE = 2.0  # seconds of audio dropped after a failed stream, at least
# Bytes of audio heard and not yet sent to the speech service, one chat's streams together:
# 8 MiB is over a minute of 48 kHz 16-bit PCM (4 min at 16 kHz), more than a speech service
# that keeps up ever leaves waiting.
MAX_WAITING_AUDIO = 8 << 20


@dataclass(frozen=True)
class Heard:
    """A partial or final transcript of the chat's utterance `index`."""

    index: int
    result: speech_pb2.StreamingRecognitionResult


def nothing_heard() -> VokaError:
    return errors.invalid_argument([FieldViolation("audio", "nothing intelligible was heard")])


def recognition_config(
    config: assistant_pb2.VoiceChatConfig,
) -> speech_pb2.StreamingRecognitionConfig:
    """The speech service's stream settings for a voice chat's config."""
    if config.HasField("end_of_utterance_silence"):
        silence = config.end_of_utterance_silence
    else:
        silence = wellknown.duration(DEFAULT_SILENCE)
    return speech_pb2.StreamingRecognitionConfig(
        config=speech_pb2.RecognitionConfig(
            language=config.language, model=config.recognition_model
        ),
        encoding=encoding(config.input_encoding),
        sample_rate_hertz=config.input_sample_rate_hertz,
        interim_results=config.interim_transcripts,
        min_silence_duration=silence,
    )


class Ear:
    """Recognition streams of one voice chat; `results()` yields what was heard, in order."""

    def __init__(self, speech: SpeechClient, config: assistant_pb2.VoiceChatConfig,
                 metadata: Sequence[tuple[str, str]]) -> None:  # fmt: skip
        self._speech = speech
        self._config = recognition_config(config)
        self._metadata = metadata
        self._heard: asyncio.Queue[Heard | VokaError | None] = asyncio.Queue()
        self._chunks: asyncio.Queue[bytes | None] | None = None  # the open stream's audio
        self._waiting = 0  # bytes in the streams' queues, bounded by MAX_WAITING_AUDIO
        self._newest: asyncio.Task[None] | None = None
        self._next_index = 0
        self._resume_at = 0.0

    def hear(self, chunk: bytes) -> None:
        """More audio: to the open stream, or to a new one; RESOURCE_EXHAUSTED when it would
        leave more than MAX_WAITING_AUDIO waiting."""
        if self._waiting + len(chunk) > MAX_WAITING_AUDIO:
            raise errors.resource_exhausted(
                f"audio arrives faster than the speech service takes it: at most "
                f"{MAX_WAITING_AUDIO >> 20} MiB may wait to be recognised"
            )
        if self._chunks is None:
            if time.monotonic() < self._resume_at:
                return
            self._chunks = asyncio.Queue()
            self._newest = asyncio.create_task(self._recognize(self._chunks, self._newest))
        self._chunks.put_nowait(chunk)
        self._waiting += len(chunk)

    def end_utterance(self) -> None:
        """Push-to-talk: the audio so far is the utterance; answer it without a silence."""
        if self._chunks is not None:
            self._chunks.put_nowait(None)
        self._chunks, self._resume_at = None, 0.0

    async def close(self) -> None:
        """The caller's audio ended: finish the open stream; `results()` ends after it."""
        self.end_utterance()
        if self._newest is not None:
            await asyncio.wait([self._newest])
        self._heard.put_nowait(None)

    def abort(self) -> None:
        """The chat ended early: stop recognising."""
        if self._newest is not None:
            self._newest.cancel()

    async def results(self) -> AsyncIterator[Heard | VokaError]:
        """Partial and final transcripts, and failures, as they come."""
        while (item := await self._heard.get()) is not None:
            yield item

    async def _recognize(
        self, chunks: asyncio.Queue[bytes | None], previous: asyncio.Task[None] | None
    ) -> None:
        """One stream, once the one before it has given all its results."""
        if previous is not None:
            await asyncio.wait([previous])
        first = self._next_index
        try:
            async for response in self._speech.recognize(self._config, self._sent(chunks),
                                                         self._metadata):  # fmt: skip
                if response.HasField("result"):
                    result = response.result
                    if result.is_final:
                        self._next_index = first + result.segment_index + 1
                    self._heard.put_nowait(Heard(first + result.segment_index, result))
        except VokaError as exc:
            self._failed(chunks, exc)
            return
        finally:
            self._ended(chunks)
        if self._next_index == first:
            self._heard.put_nowait(nothing_heard())

    async def _sent(self, chunks: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        """A stream's audio until its end, no longer waiting once taken to be sent."""
        while (chunk := await chunks.get()) is not None:
            self._waiting -= len(chunk)
            yield chunk

    def _ended(self, chunks: asyncio.Queue[bytes | None]) -> None:
        """A stream is over: audio still queued for it will not be sent, so it no longer waits,
        and the next audio opens a new stream."""
        if self._chunks is chunks:
            self._chunks = None
        while not chunks.empty():
            chunk = chunks.get_nowait()
            self._waiting -= len(chunk or b"")

    def _failed(self, chunks: asyncio.Queue[bytes | None], exc: VokaError) -> None:
        self._heard.put_nowait(exc)
        if self._chunks is chunks:
            pause = max(RETRY_PAUSE, self._speech.breaker.retry_after)
            self._chunks, self._resume_at = None, time.monotonic() + pause
