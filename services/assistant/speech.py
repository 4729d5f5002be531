"""The speech service as the voice round trip uses it: StreamingRecognize (STT with voice
activity detection and partial results) and SynthesizeSpeech (TTS) over gRPC, behind one circuit
breaker, so a dead speech service costs a quick UNAVAILABLE instead of a hang per utterance.

A synthesis has a deadline. A recognition stream lasts as long as the caller talks, so its
deadline starts when its audio ends: the last final result must come within it.

Calls forward the caller's own bearer token (speech keeps tenancy per user); without one the
service's own identity (`voka.service_identity`) is attached by the channel's interceptor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.api import httpbody_pb2

from voka import errors
from voka.assistant.v1 import assistant_pb2
from voka.breaker import CircuitBreaker
from voka.service_identity import ServiceIdentity, channel
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

S = speech_pb2
Metadata = Sequence[tuple[str, str]]
PEER_FAILURES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                 grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)  # fmt: skip


def encoding(value: assistant_pb2.AudioEncoding.ValueType) -> S.AudioEncoding.ValueType:
    """The speech contract's encoding of the same name."""
    return S.AudioEncoding.Value(assistant_pb2.AudioEncoding.Name(value))


class SpeechClient:
    """StreamingRecognize and SynthesizeSpeech of the speech service at `address`."""

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

    async def recognize(
        self, config: S.StreamingRecognitionConfig, audio: AsyncIterator[bytes],
        metadata: Metadata,
    ) -> AsyncIterator[S.StreamingRecognizeResponse]:  # fmt: skip
        """StreamingRecognize over `audio`, half-closed when `audio` ends; the results as they
        come. Failures are UNAVAILABLE (counted by the breaker) or the speech service's code."""
        self._check_breaker()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as deadline:

            async def requests() -> AsyncIterator[S.StreamingRecognizeRequest]:
                yield S.StreamingRecognizeRequest(config=config)
                async for chunk in audio:
                    yield S.StreamingRecognizeRequest(audio=chunk)
                deadline.reschedule(loop.time() + self._timeout)

            rpc: Any = self._speech().StreamingRecognize  # the stubs are typed for sync gRPC
            call = rpc(requests(), metadata=tuple(metadata))
            try:
                async for response in call:
                    yield response
            except grpc.aio.AioRpcError as exc:
                raise self._failure(exc) from exc
            except TimeoutError as exc:
                call.cancel()
                self.breaker.failed()
                raise errors.unavailable(
                    f"speech service: no final transcript {self._timeout:g} s after the audio "
                    "ended") from exc  # fmt: skip
        self.breaker.succeeded()

    async def speak(
        self, request: S.SynthesizeSpeechRequest, metadata: Metadata
    ) -> httpbody_pb2.HttpBody:
        self._check_breaker()
        try:
            rpc: Any = self._speech().SynthesizeSpeech
            body: httpbody_pb2.HttpBody = await rpc(
                request, metadata=tuple(metadata), timeout=self._timeout)  # fmt: skip
        except grpc.aio.AioRpcError as exc:
            raise self._failure(exc) from exc
        self.breaker.succeeded()
        return body

    def _check_breaker(self) -> None:
        if not self.breaker.allow():
            raise errors.unavailable(
                f"speech service unavailable (circuit open, retry in "
                f"{self.breaker.retry_after:.0f} s)")  # fmt: skip

    def _failure(self, exc: grpc.aio.AioRpcError) -> errors.VokaError:
        """A failed call as the caller sees it; only the peer's own failures count against
        the breaker (a refused request shows it is up)."""
        if exc.code() in PEER_FAILURES:
            self.breaker.failed()
            return errors.unavailable(f"speech service: {exc.details()}")
        self.breaker.succeeded()
        return errors.VokaError(message=f"speech service: {exc.details()}", code=exc.code())
