"""The speech service as the voice round trip uses it: StreamingRecognize (STT with voice
activity detection and partial results) and SynthesizeSpeech (TTS), and as a turn that refers
to a transcription reads it (GetTranscription, `transcripts`), over gRPC, behind one circuit
breaker, so a dead speech service costs a quick UNAVAILABLE instead of a hang per utterance.

Answers follow the kit's peer rule (`voka.peer_calls`): a refusal that no retry can change is
FAILED_PRECONDITION naming the speech service, anything else UNAVAILABLE. Only the peer's own
failures (down, timed out, an internal fault) count against the breaker: a refused request, or a
caller's token it does not accept, shows it is up.

A synthesis has a deadline. A recognition stream lasts as long as the caller talks, so its
deadline starts when its audio ends: the last final result must come within it.

Calls forward the caller's own bearer token (speech keeps tenancy per user); without one the
service's own identity (`voka.service_identity`) is attached by the channel's interceptor, and
the call names the user it is made for (`voice_chats.forwarded`)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
from google.api import httpbody_pb2

from voka import errors, peer_calls
from voka.assistant.v1 import assistant_pb2
from voka.breaker import CircuitBreaker
from voka.service_identity import ServiceIdentity, channel
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

PEER = "speech"
Metadata = Sequence[tuple[str, str]]
PEER_FAILURES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                 grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)  # fmt: skip


def encoding(value: assistant_pb2.AudioEncoding.ValueType) -> speech_pb2.AudioEncoding.ValueType:
    """The speech contract's encoding of the same name."""
    return speech_pb2.AudioEncoding.Value(assistant_pb2.AudioEncoding.Name(value))


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
            if self._identity is not None:
                self._channel = channel(self._address, self._identity)
            else:
                self._channel = peer_calls.open_channel(self._address)
            self._stub = speech_pb2_grpc.SpeechServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def recognize(
        self,
        config: speech_pb2.StreamingRecognitionConfig,
        audio: AsyncIterator[bytes],
        metadata: Metadata,
    ) -> AsyncIterator[speech_pb2.StreamingRecognizeResponse]:
        """StreamingRecognize over `audio`, half-closed when `audio` ends; the results as they
        come."""
        self._check_breaker()
        loop = asyncio.get_running_loop()
        with peer_calls.answering(PEER), self._counted():
            async with asyncio.timeout(None) as deadline:

                async def requests() -> AsyncIterator[speech_pb2.StreamingRecognizeRequest]:
                    yield speech_pb2.StreamingRecognizeRequest(config=config)
                    async for chunk in audio:
                        yield speech_pb2.StreamingRecognizeRequest(audio=chunk)
                    deadline.reschedule(loop.time() + self._timeout)

                rpc: Any = self._speech().StreamingRecognize  # the stubs are typed for sync gRPC
                call = rpc(requests(), metadata=tuple(metadata))
                try:
                    async for response in call:
                        yield response
                except grpc.aio.AioRpcError as exc:
                    raise peer_calls.refusal(exc) or exc from exc
                except TimeoutError as exc:
                    call.cancel()
                    self.breaker.failed()
                    raise errors.unavailable(
                        f"speech service: no final transcript {self._timeout:g} s after the "
                        "audio ended"
                    ) from exc

    async def speak(
        self, request: speech_pb2.SynthesizeSpeechRequest, metadata: Metadata
    ) -> httpbody_pb2.HttpBody:
        self._check_breaker()
        with peer_calls.answering(PEER), self._counted():
            stub: Any = self._speech()  # the stubs are typed for sync gRPC
            rpc = functools.partial(stub.SynthesizeSpeech, metadata=tuple(metadata))
            body: httpbody_pb2.HttpBody = await peer_calls.call(rpc, request, timeout=self._timeout)
            return body

    async def transcription(self, name: str, metadata: Metadata) -> speech_pb2.Transcription:
        """GetTranscription (FULL: with its text) as the caller; a final refusal raises as
        `peer_calls.RefusedError`, for the caller to map."""
        self._check_breaker()
        with self._counted():
            stub: Any = self._speech()  # the stubs are typed for sync gRPC
            rpc = functools.partial(stub.GetTranscription, metadata=tuple(metadata))
            request = speech_pb2.GetTranscriptionRequest(
                name=name, view=speech_pb2.TRANSCRIPTION_VIEW_FULL
            )
            answer: speech_pb2.GetTranscriptionResponse = await peer_calls.call(
                rpc, request, timeout=self._timeout
            )
            return answer.transcription

    def _check_breaker(self) -> None:
        if not self.breaker.allow():
            raise errors.unavailable(
                f"speech service unavailable (circuit open, retry in "
                f"{self.breaker.retry_after:.0f} s)"
            )

    @contextmanager
    def _counted(self) -> Iterator[None]:
        """A call's answer, told to the breaker."""
        try:
            yield
        except peer_calls.RefusedError:
            self.breaker.succeeded()
            raise
        except grpc.aio.AioRpcError as exc:
            if exc.code() in PEER_FAILURES:
                self.breaker.failed()
            else:
                self.breaker.succeeded()
            raise
        except errors.VokaError:
            raise  # counted where it was raised
        else:
            self.breaker.succeeded()
