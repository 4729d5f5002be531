"""StreamVoiceChat: audio in → speech service (streaming STT) → a conversation turn → speech
service (TTS) → audio out, with transcripts, the reply text and the audio as typed events.

The call checks the config and finds (or starts) the conversation; `voice.VoiceChat` runs the
rest. An utterance ends after a silence (the speech service's voice activity detection), when
the caller sends END_OF_UTTERANCE (push-to-talk), or when it half-closes the stream."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import grpc

from services.assistant import validation
from services.assistant.rpc_replies import ReplyRpcs
from services.assistant.voice import VoiceChat
from voka import authn
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

A = assistant_pb2
Context = grpc.aio.ServicerContext[Any, Any]
SILENCE_SECONDS = (0.1, 5.0)


def check_config(config: A.VoiceChatConfig) -> None:
    problems: list[FieldViolation] = []
    if config.conversation:
        problems += validation.resource_id(config.conversation, "conversations",
                                           "config.conversation")[1]  # fmt: skip
    rate = config.input_sample_rate_hertz
    if rate and not 8000 <= rate <= 48000:
        problems.append(FieldViolation("config.input_sample_rate_hertz", "8000 to 48000"))
    if config.input_encoding == A.AUDIO_ENCODING_MP3:
        problems.append(FieldViolation("config.input_encoding", "MP3 is output only"))
    if config.HasField("end_of_utterance_silence"):
        seconds = config.end_of_utterance_silence.ToTimedelta().total_seconds()
        if not SILENCE_SECONDS[0] <= seconds <= SILENCE_SECONDS[1]:
            problems.append(FieldViolation("config.end_of_utterance_silence", "100ms to 5s"))
    problems += validation.sampling(config.sampling, "config.sampling")
    problems += validation.balance(config.hemisphere, config.HasField("hemisphere"),
                                   "config.hemisphere")  # fmt: skip
    validation.require(problems)


def forwarded(context: Context) -> list[tuple[str, str]]:
    """The caller's bearer token, passed on so the speech service sees the same user."""
    return [(k, v) for k, v in context.invocation_metadata() or () if k == "authorization"]  # type: ignore[misc]


class VoiceRpcs(ReplyRpcs):
    """The voice round trip on top of the reply RPCs."""

    async def StreamVoiceChat(
        self, request_iterator: AsyncIterable[A.StreamVoiceChatRequest], context: Context
    ) -> AsyncIterator[A.StreamVoiceChatResponse]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("voice_request") != "config":
            validation.require([FieldViolation("config", "the first message must carry it")])
        config = first.config  # type: ignore[union-attr]
        check_config(config)
        identity = authn.caller()
        turns = self._deps.turns
        if config.conversation:
            record = await turns.visible(config.conversation.removeprefix("conversations/"),
                                         identity.subject, identity.is_admin)  # fmt: skip
        else:
            record = await turns.start_conversation(
                identity.subject, A.Conversation(display_name="Voice chat"))  # fmt: skip
        yield A.StreamVoiceChatResponse(started=A.VoiceChatStarted(
            conversation=record.name, conversation_created=not config.conversation))  # fmt: skip
        chat = VoiceChat(turns, self._turn_events, self._deps.speech, config=config,
                         conversation=record.name, identity=identity,
                         metadata=forwarded(context))  # fmt: skip
        async for out in chat.run(requests):
            yield out
