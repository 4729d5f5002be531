"""StreamVoiceChat: audio in → speech service (streaming STT) → a conversation turn → speech
service (TTS) → audio out, with transcripts, the reply text and the audio as typed events.

The call checks the config and finds (or starts) the conversation; `voice.VoiceChat` runs the
rest. An utterance ends after a silence (the speech service's voice activity detection), when
the caller sends END_OF_UTTERANCE (push-to-talk), or when it half-closes the stream."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from services.assistant import validation
from services.assistant.rpcs.base import AssistantRpcs, Context, forwarded
from services.assistant.voice import VoiceChat
from voka import authn
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation


class VoiceChatsRpcs(AssistantRpcs):
    """The voice round trip."""

    async def StreamVoiceChat(
        self,
        request_iterator: AsyncIterable[assistant_pb2.StreamVoiceChatRequest],
        context: Context,
    ) -> AsyncIterator[assistant_pb2.StreamVoiceChatResponse]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("voice_request") != "config":
            validation.require([FieldViolation("config", "the first message must carry it")])
        config = first.config  # type: ignore[union-attr]
        validation.require(validation.voice_chat_config(config))
        owner = authn.caller().subject
        if config.conversation:
            record = await self._conversation(config.conversation, "config.conversation")
        else:
            record = await self._deps.turns.start_conversation(
                owner, assistant_pb2.Conversation(display_name="Voice chat")
            )
        yield assistant_pb2.StreamVoiceChatResponse(
            started=assistant_pb2.VoiceChatStarted(
                conversation=record.name, conversation_created=not config.conversation
            )
        )
        chat = VoiceChat(
            self._deps.turns,
            self._deps.speech,
            config=config,
            conversation=record.name,
            owner=owner,
            metadata=forwarded(context),
        )
        async for out in chat.run(requests):
            yield out
