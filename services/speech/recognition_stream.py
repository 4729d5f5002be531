"""One live recognition stream (StreamingRecognize): audio chunks in, speech events, partial
and final results out, so finals arrive while the speaker goes on.

Three parts run at once for one stream: the reader turns chunks into samples (`chunk_decoders`,
in the encoding the config names) and feeds the
segmenter (VAD), which hands over each utterance as soon as its trailing silence is heard; the
recognizer transcribes finished utterances in order and sends their finals while more audio
arrives; with interim results, a partial of the utterance under way is made about once a
second of new speech, skipped when the recognition pool is busy (finals never are).

What one stream may hold is bounded (`StreamLimits`), so no client can fill the service's
memory: the audio it carries (refused past the limit), and the utterances waiting for the
recognizer. When those are `max_pending`, the reader stops taking chunks until the recognizer
catches up, so a client sending faster than recognition is slowed to its pace by gRPC's flow
control, and loses nothing. StreamVoiceChat relays into this same RPC, so it is bounded too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import duration_pb2

from services.speech import audio, convert, validation
from services.speech.chunk_decoders import ChunkDecoder, decoder_for
from services.speech.engines.base import Transcript
from services.speech.recognition import Recognition
from services.speech.settings import SpeechSettings
from services.speech.vad import Segmenter, Utterance
from voka import errors
from voka.errors import FieldViolation, VokaError
from voka.speech.v1 import speech_pb2
from voka.wellknown import duration

MAX_CHUNK_BYTES = 1 << 20
PARTIAL_EVERY = 1.0  # seconds of new speech between two partial results
Response = speech_pb2.StreamingRecognizeResponse
Requests = AsyncIterator[speech_pb2.StreamingRecognizeRequest]


def _bad(field: str, description: str) -> VokaError:
    return errors.invalid_argument([FieldViolation(f"streaming_request.{field}", description)])


async def _first_config(requests: Requests) -> speech_pb2.StreamingRecognitionConfig:
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("streaming_request") != "config":
        raise _bad("config", "the first message must carry the config")
    validation.check(validation.streaming_config(first.config))
    return first.config


def _segmenter(config: speech_pb2.StreamingRecognitionConfig) -> Segmenter:
    options = {}
    if config.HasField("min_silence_duration"):
        options["min_silence"] = config.min_silence_duration.ToTimedelta().total_seconds()
    if config.HasField("max_segment_duration"):
        options["max_segment"] = config.max_segment_duration.ToTimedelta().total_seconds()
    return Segmenter(**options)


@dataclass(frozen=True)
class StreamLimits:
    """What one stream may hold: `max_seconds` of audio in all, `max_pending` finished
    utterances waiting for recognition; Ogg/WebM, buffered until the end, at most
    `buffered_bytes` and `buffered_seconds` (the upload limits)."""

    max_seconds: float
    max_pending: int
    buffered_bytes: int
    buffered_seconds: float

    @classmethod
    def from_settings(cls, settings: SpeechSettings) -> StreamLimits:
        return cls(
            max_seconds=settings.speech_stream_max_seconds,
            max_pending=settings.speech_stream_max_pending,
            buffered_bytes=settings.speech_max_upload_bytes,
            buffered_seconds=settings.speech_max_seconds,
        )


async def recognize_stream(
    requests: Requests, recognition: Recognition, limits: StreamLimits
) -> AsyncIterator[Response]:
    config = await _first_config(requests)
    decoder = decoder_for(config, max_seconds=limits.max_seconds,
                          buffered_bytes=limits.buffered_bytes,
                          buffered_seconds=limits.buffered_seconds)  # fmt: skip
    stream = _Stream(config, recognition, decoder, limits.max_pending)
    async for response in stream.run(requests):
        yield response


class _Stream:
    """One recognition stream's state."""

    def __init__(
        self,
        config: speech_pb2.StreamingRecognitionConfig,
        recognition: Recognition,
        decoder: ChunkDecoder,
        max_pending: int,
    ) -> None:
        self._config = config
        self._recognition = recognition
        self._decoder = decoder
        self._segmenter = _segmenter(config)
        self._out: asyncio.Queue[Response | BaseException | None] = asyncio.Queue()
        # bounded: a full queue holds the reader back (see the module's docstring)
        self._utterances: asyncio.Queue[Utterance | None] = asyncio.Queue(max_pending)
        self._finals = 0
        self._partial: asyncio.Task[None] | None = None
        self._partial_at = 0.0
        self._done = asyncio.Event()  # single utterance: stop reading after the first final

    async def run(self, requests: Requests) -> AsyncIterator[Response]:
        tasks = [asyncio.create_task(self._guard(self._read(requests))),
                 asyncio.create_task(self._guard(self._recognize()))]  # fmt: skip
        try:
            ended = 0
            while ended < len(tasks):
                item = await self._out.get()
                if item is None:
                    ended += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            for task in [*tasks, self._partial]:
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in tasks), return_exceptions=True)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a part; its error goes to the caller, and its end is counted either way."""
        try:
            await work
        except Exception as exc:
            self._out.put_nowait(exc)
        finally:
            self._out.put_nowait(None)

    def _received(self) -> duration_pb2.Duration:
        return duration(self._segmenter.received_seconds)

    def _event(self, event: speech_pb2.SpeechEvent.ValueType) -> None:
        self._out.put_nowait(Response(speech_event=event, received_duration=self._received()))

    async def _read(self, requests: Requests) -> None:
        """Decode and segment the chunks. The recognizer learns of their end from a None after
        the last utterance; an error needs none, as it ends the whole stream."""
        async for request in requests:
            if self._done.is_set():
                break
            if request.WhichOneof("streaming_request") != "audio":
                raise _bad("config", "only the first message may carry the config")
            if len(request.audio) > MAX_CHUNK_BYTES:
                raise _bad("audio", f"a chunk holds at most {MAX_CHUNK_BYTES} bytes")
            await self._feed(self._decode(self._decoder.feed, request.audio))
        if not self._done.is_set():
            await self._feed(self._decode(lambda _: self._decoder.finish(), b""))
            await self._close_utterances(self._segmenter.flush_utterances())
        await self._utterances.put(None)

    @staticmethod
    def _decode(step: Callable[[bytes], np.ndarray], chunk: bytes) -> np.ndarray:
        try:
            return step(chunk)
        except audio.AudioError as exc:
            raise _bad("audio", f"{exc} ({exc.reason})") from exc

    async def _feed(self, samples: np.ndarray) -> None:
        if not samples.size:
            return
        was_speaking = self._segmenter.in_speech
        finished = self._segmenter.feed_utterances(samples)
        if not was_speaking and (finished or self._segmenter.in_speech):
            self._event(speech_pb2.SPEECH_EVENT_SPEECH_STARTED)
        await self._close_utterances(finished)
        if self._segmenter.in_speech and self._config.interim_results:
            self._maybe_partial()

    async def _close_utterances(self, finished: list[Utterance]) -> None:
        for utterance in finished:
            self._event(speech_pb2.SPEECH_EVENT_SPEECH_ENDED)
            await self._utterances.put(utterance)  # waits while max_pending are waiting
            self._partial_at = 0.0
            if self._config.single_utterance:
                self._done.set()
                return

    def _maybe_partial(self) -> None:
        heard = self._segmenter.current()
        seconds = heard.size / audio.SAMPLE_RATE
        busy = self._partial is not None and not self._partial.done()
        if busy or seconds - self._partial_at < PARTIAL_EVERY:
            return
        self._partial_at = seconds
        index, start = (
            self._finals + self._utterances.qsize(),
            self._segmenter.received_seconds - seconds,
        )
        self._partial = asyncio.create_task(self._send_partial(index, start, heard))

    async def _send_partial(self, index: int, start: float, heard: np.ndarray) -> None:
        with contextlib.suppress(VokaError):  # busy or refused: a partial is optional
            transcript = await self._recognition.transcript(heard, self._config.config)
            if index >= self._finals:  # not superseded by the final meanwhile
                result = self._result(index, start, heard.size, transcript, False)
                self._out.put_nowait(Response(result=result, received_duration=self._received()))

    async def _recognize(self) -> None:
        while (utterance := await self._utterances.get()) is not None:
            transcript = await self._recognition.transcript(utterance.samples, self._config.config)
            result = self._result(
                self._finals, utterance.start, utterance.samples.size, transcript, True
            )
            if self._config.config.word_timestamps:
                result.words.extend(
                    convert.word(w, utterance.start) for s in transcript.segments for w in s.words
                )
            self._finals += 1
            self._out.put_nowait(Response(result=result, received_duration=self._received()))
            if self._config.single_utterance:
                self._event(speech_pb2.SPEECH_EVENT_END_OF_SINGLE_UTTERANCE)
                return

    @staticmethod
    def _result(
        index: int, start: float, size: int, transcript: Transcript, final: bool
    ) -> speech_pb2.StreamingRecognitionResult:
        return speech_pb2.StreamingRecognitionResult(
            segment_index=index,
            text=transcript.text,
            is_final=final,
            start_offset=duration(start),
            end_offset=duration(start + size / audio.SAMPLE_RATE),
            language=transcript.language,
            language_probability=transcript.language_probability,
        )
