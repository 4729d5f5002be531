"""The speech service as the voice round trip uses it: Transcribe (STT) and SynthesizeSpeech
(TTS) over gRPC, each call with a deadline and behind one circuit breaker, so a dead speech
service costs a quick UNAVAILABLE instead of a hang per utterance.

Calls forward the caller's own bearer token (speech keeps tenancy per user); without one the
service's own identity (`voka.service_identity`) is attached by the channel's interceptor."""

from __future__ import annotations

import io
import re
import wave
from collections.abc import Sequence
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf.message import Message

from voka import errors
from voka.breaker import CircuitBreaker
from voka.service_identity import ServiceIdentity, channel
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

Metadata = Sequence[tuple[str, str]]
PEER_FAILURES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                 grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)  # fmt: skip
_RATE = re.compile(r"rate=(\d+)")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


class SpeechClient:
    """Transcribe and SynthesizeSpeech of the speech service at `address`."""

    def __init__(self, address: str, identity: ServiceIdentity | None, timeout: float) -> None:
        self._address = address
        self._identity = identity
        self._timeout = timeout
        self.breaker = CircuitBreaker(failures=3, reset_seconds=15.0)
        self._stub: speech_pb2_grpc.SpeechServiceStub | None = None
        self._channel: grpc.aio.Channel | None = None

    def _speech(self) -> speech_pb2_grpc.SpeechServiceStub:
        """The stub, on a channel made inside the running loop on first use."""
        if self._stub is None:
            self._channel = (channel(self._address, self._identity) if self._identity
                             else grpc.aio.insecure_channel(self._address))  # fmt: skip
            self._stub = speech_pb2_grpc.SpeechServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def transcribe(
        self, wav: bytes, content_type: str, config: speech_pb2.RecognitionConfig,
        metadata: Metadata,
    ) -> speech_pb2.TranscriptionResult:  # fmt: skip
        request = speech_pb2.TranscribeRequest(
            body=httpbody_pb2.HttpBody(content_type=content_type, data=wav), config=config
        )
        reply = await self._call("Transcribe", request, metadata)
        result: speech_pb2.TranscriptionResult = reply.result
        return result

    async def speak(
        self, request: speech_pb2.SynthesizeSpeechRequest, metadata: Metadata
    ) -> httpbody_pb2.HttpBody:
        body: httpbody_pb2.HttpBody = await self._call("SynthesizeSpeech", request, metadata)
        return body

    async def _call(self, rpc: str, request: Message, metadata: Metadata) -> Any:
        if not self.breaker.allow():
            raise errors.unavailable(
                f"speech service unavailable (circuit open, retry in "
                f"{self.breaker.retry_after:.0f} s)")  # fmt: skip
        try:
            reply = await getattr(self._speech(), rpc)(
                request, metadata=tuple(metadata), timeout=self._timeout)  # fmt: skip
        except grpc.aio.AioRpcError as exc:
            if exc.code() in PEER_FAILURES:
                self.breaker.failed()
                raise errors.unavailable(f"speech service: {exc.details()}") from exc
            self.breaker.succeeded()
            raise errors.VokaError(message=f"speech service: {exc.details()}",
                                   code=exc.code()) from exc  # fmt: skip
        self.breaker.succeeded()
        return reply


def pcm_to_wav(pcm: bytes, rate: int) -> bytes:
    """Raw 16-bit mono PCM wrapped in a WAV header, which the speech service sniffs."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def sample_rate(body: httpbody_pb2.HttpBody, asked: int) -> int:
    """The rate of synthesized audio: from its MIME type or WAV header, else what was asked."""
    found = _RATE.search(body.content_type)
    if found:
        return int(found.group(1))
    if body.data[:4] == b"RIFF":
        with wave.open(io.BytesIO(body.data), "rb") as wav:
            return wav.getframerate()
    return asked


def split_sentences(text: str) -> tuple[list[str], str]:
    """Complete sentences of `text`, and the unfinished rest."""
    parts = _SENTENCE_END.split(text)
    return [p for p in parts[:-1] if p.strip()], parts[-1]
