"""The speech and assistant services as the meetings service calls them, always with its own
identity (`voka.service_identity`): the pipeline runs from events, long after the uploader's
token has expired, so no user token is forwarded. Each call names the user whose work it is
(`for_user`: the uploader, who asked for the summary, who asks the project;
`voka.peer_calls.on_behalf_of`), so the peer counts it against that user's rate limit and
quotas, with the meetings service as the actor.

The speech jobs are therefore owned by the uploader at the speech service (by
`services/meetings` when a service uploaded, and before this change), and the meetings service
keeps its own tenancy over them: a recording's transcription is only ever reached through its
meeting, and completion events are only taken from jobs of its own or of the recording's
uploader.

Which answers are final and which are retried is the kit's one policy (`voka.peer_calls`): a
refusal raises `RefusedError`, anything else raises as it is, for the event's redelivery with
backoff; RPCs that wait on the assistant for a user (project chat) map both with `answering`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from typing import Any

import grpc

from services.meetings.settings import MeetingsSettings
from voka import errors, peer_calls, service_identity
from voka.assistant.v1 import (
    assistant_pb2,
    assistant_pb2_grpc,
    embeddings_pb2,
    embeddings_pb2_grpc,
)
from voka.service_identity import ServiceIdentity
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

SERVICE = "meetings"
SUBJECT = f"services/{SERVICE}"


def own_identity(settings: MeetingsSettings) -> ServiceIdentity | None:
    """The identity configured by VOKA_SERVICE_SECRET (traded at the auth service)."""
    return service_identity.from_env(SERVICE, settings.address_of("auth"))


class Peers:
    """Stubs for the speech and assistant services on channels carrying the identity."""

    def __init__(self, settings: MeetingsSettings, identity: ServiceIdentity | None) -> None:
        self._timeout = settings.meetings_peer_timeout
        self._channels = service_identity.PeerChannels(settings, identity)

    def _channel(self, domain: str) -> grpc.aio.Channel:
        try:
            return self._channels.channel(domain)
        except service_identity.NoIdentityError as exc:
            raise errors.unavailable(str(exc)) from exc

    async def close(self) -> None:
        await self._channels.close()

    async def create_transcription(
        self, audio_uri: str, *, language: str, file_name: str, reference: str, request_id: str,
        for_user: str,
    ) -> speech_pb2.Transcription:  # fmt: skip
        """An async transcription job at the speech service on the recording handed over by
        reference (`audio_uri`, an object of the mesh's object store owned by `for_user`, which
        speech copies before it answers). `request_id` makes a repeated request (a redelivered
        event) return the job already created."""
        stub = speech_pb2_grpc.SpeechServiceStub(self._channel("speech"))
        hint = language.split("-", maxsplit=1)[0].lower()  # the speech service takes ISO 639-1
        request = speech_pb2.CreateTranscriptionRequest(
            audio_uri=audio_uri, config=speech_pb2.RecognitionConfig(language=hint),
            file_name=file_name[:255], external_reference=reference, request_id=request_id,
        )  # fmt: skip
        metadata = peer_calls.on_behalf_of(for_user)
        rpc = functools.partial(stub.CreateTranscription, metadata=metadata)
        reply = await peer_calls.call(rpc, request, timeout=self._timeout)
        return reply.transcription

    async def complete_chat(
        self, messages: list[assistant_pb2.ChatMessage], *, model: str, max_tokens: int,
        for_user: str,
    ) -> assistant_pb2.CompleteChatResponse:  # fmt: skip
        """One chat completion, nothing stored at the assistant service; low temperature, as
        the answer must follow a format."""
        stub = assistant_pb2_grpc.AssistantServiceStub(self._channel("assistant"))
        request = assistant_pb2.CompleteChatRequest(
            messages=messages, model=model, sampling=_sampling(max_tokens)
        )
        rpc = functools.partial(stub.CompleteChat, metadata=peer_calls.on_behalf_of(for_user))
        return await peer_calls.call(rpc, request, timeout=self._timeout)

    async def context_tokens(self, model: str) -> int:
        """The context window the assistant states for `model` (empty: its default model);
        0 when it lists no such model (CompleteChat then says why)."""
        stub = assistant_pb2_grpc.AssistantServiceStub(self._channel("assistant"))
        request = assistant_pb2.ListModelsRequest(page_size=500)
        reply = await peer_calls.call(stub.ListModels, request, timeout=self._timeout)
        found = (m for m in reply.models if m.id == model or (not model and m.is_default))
        return next((m.context_length for m in found), 0)

    async def embed_texts(
        self, texts: list[str], *, purpose: embeddings_pb2.EmbeddingPurpose.ValueType,
        for_user: str = "", wait: float | None = None,
    ) -> embeddings_pb2.EmbedTextsResponse:  # fmt: skip
        """Vectors of `texts` from the assistant's EmbeddingService, its default model:
        passages for the search index (as the service itself), a query for a user's search
        (waiting `wait` seconds at most; None: the peer timeout)."""
        stub = embeddings_pb2_grpc.EmbeddingServiceStub(self._channel("assistant"))
        request = embeddings_pb2.EmbedTextsRequest(texts=texts, purpose=purpose)
        rpc = functools.partial(stub.EmbedTexts, metadata=peer_calls.on_behalf_of(for_user))
        return await peer_calls.call(rpc, request, timeout=wait or self._timeout)

    async def stream_chat(
        self, messages: list[assistant_pb2.ChatMessage], *, model: str, max_tokens: int,
        for_user: str,
    ) -> AsyncGenerator[assistant_pb2.StreamCompleteChatResponse]:  # fmt: skip
        """complete_chat token by token: the assistant's events as they come. Closing the
        iterator early (the caller went away) cancels the call at the assistant."""
        stub = assistant_pb2_grpc.AssistantServiceStub(self._channel("assistant"))
        request = assistant_pb2.StreamCompleteChatRequest(
            messages=messages, model=model, sampling=_sampling(max_tokens)
        )
        rpc: Any = stub.StreamCompleteChat  # the stubs are typed for sync gRPC
        call = rpc(request, timeout=self._timeout, metadata=peer_calls.on_behalf_of(for_user))
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as exc:
            raise peer_calls.refusal(exc) or exc from exc
        finally:
            call.cancel()


def _sampling(max_tokens: int) -> assistant_pb2.SamplingOptions:
    """Low temperature: summaries follow a format, answers keep to their sources."""
    return assistant_pb2.SamplingOptions(temperature=0.2, max_output_tokens=max_tokens)
