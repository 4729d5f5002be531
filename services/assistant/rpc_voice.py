"""StreamVoiceChat: audio in → speech service (STT) → a conversation turn → speech service
(TTS) → audio out, with the transcript, the reply text and the audio as typed events.

An utterance ends when the caller sends END_OF_UTTERANCE (push-to-talk) or half-closes the
stream. The reply is spoken sentence by sentence as the text arrives, so the first audio comes
before the reply is finished. A turn that fails (nothing heard, speech service down) sends an
`error` event and the chat goes on with the next utterance."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import grpc

from services.assistant import convert, validation
from services.assistant.hemisphere import Balance
from services.assistant.rpc_replies import ReplyRpcs
from services.assistant.speech import pcm_to_wav, sample_rate, split_sentences
from services.assistant.turns import TurnInput
from voka import authn, errors
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

A, S = assistant_pb2, speech_pb2
Context = grpc.aio.ServicerContext[Any, Any]
MAX_UTTERANCE_BYTES = 16 * 1024 * 1024
INPUT_TYPES = {A.AUDIO_ENCODING_WAV: "audio/wav", A.AUDIO_ENCODING_OGG_OPUS: "audio/ogg",
               A.AUDIO_ENCODING_WEBM_OPUS: "audio/webm"}  # fmt: skip
REPLY_EVENTS = {"started": "reply_started", "delta": "reply_delta", "tool_call": "tool_call",
                "tool_result": "tool_result", "completed": "reply_completed"}  # fmt: skip
Out = A.StreamVoiceChatResponse


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
    ) -> AsyncIterator[Out]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or first.WhichOneof("voice_request") != "config":
            validation.require([FieldViolation("config", "the first message must carry it")])
        config = first.config  # type: ignore[union-attr]
        check_config(config)
        identity = authn.caller()
        if config.conversation:
            record = await self._deps.turns.visible(
                config.conversation.removeprefix("conversations/"), identity.subject,
                identity.is_admin)  # fmt: skip
            created = False
        else:
            record = await self._deps.turns.start_conversation(
                identity.subject, A.Conversation(display_name="Voice chat"))  # fmt: skip
            created = True
        yield Out(started=A.VoiceChatStarted(conversation=record.name,
                                             conversation_created=created))  # fmt: skip
        heard, index = bytearray(), 0
        async for message in requests:
            kind = message.WhichOneof("voice_request")
            if kind == "audio":
                heard += message.audio
                if len(heard) > MAX_UTTERANCE_BYTES:
                    validation.require([FieldViolation("audio", "utterance over 16 MiB")])
            elif (
                kind == "control" and message.control.action == A.VOICE_CHAT_ACTION_END_OF_UTTERANCE
            ):
                async for out in self._utterance(bytes(heard), index, record.name, config, context):
                    yield out
                heard, index = bytearray(), index + 1
            elif kind == "config":
                validation.require([FieldViolation("config", "only in the first message")])
        if heard:
            async for out in self._utterance(bytes(heard), index, record.name, config, context):
                yield out

    async def _utterance(
        self, audio: bytes, index: int, conversation: str, config: A.VoiceChatConfig,
        context: Context,
    ) -> AsyncIterator[Out]:  # fmt: skip
        """One turn: transcript, reply events with audio interleaved, reply_completed."""
        metadata = forwarded(context)
        try:
            result = await self._transcribe(audio, config, metadata)
        except errors.VokaError as exc:
            yield Out(error=exc.to_status())
            return
        if not result.text.strip():
            yield Out(
                error=errors.invalid_argument(
                    [FieldViolation("audio", "nothing intelligible was heard")]
                ).to_status()
            )
            return
        yield Out(
            transcript=A.VoiceTranscript(
                utterance_index=index,
                text=result.text.strip(),
                is_final=True,
                language=result.language,
                language_probability=result.language_probability,
            )
        )
        identity = authn.caller()
        override = Balance.of(config.hemisphere) if config.HasField("hemisphere") else None
        turn = await self._deps.turns.begin(TurnInput(
            owner=identity.subject, admin=identity.is_admin, message=result.text.strip(),
            conversation=conversation, context=convert.plain(config.context),
            model=config.model, sampling=config.sampling, hemisphere=override,
            disable_tools=config.disable_tools))  # fmt: skip
        voice = _Voice(self, config, metadata)
        try:
            async for kind, message in self._turn_events(turn, ""):
                if kind == "completed":
                    async for out in voice.flush(last=True):
                        yield out
                yield Out(**{REPLY_EVENTS[kind]: message})  # type: ignore[arg-type]
                if kind == "delta":
                    async for out in voice.add(message.text):  # type: ignore[attr-defined]
                        yield out
        except errors.VokaError as exc:
            yield Out(error=exc.to_status())

    async def _transcribe(
        self, audio: bytes, config: A.VoiceChatConfig, metadata: list[tuple[str, str]]
    ) -> S.TranscriptionResult:
        encoding = config.input_encoding
        if encoding in (A.AUDIO_ENCODING_UNSPECIFIED, A.AUDIO_ENCODING_LINEAR16):
            body, content_type = (
                pcm_to_wav(audio, config.input_sample_rate_hertz or 16000),
                "audio/wav",
            )
        else:
            body, content_type = audio, INPUT_TYPES[encoding]
        recognition = S.RecognitionConfig(language=config.language, model=config.recognition_model)
        return await self._deps.speech.transcribe(body, content_type, recognition, metadata)


class _Voice:
    """Speaks the reply sentence by sentence as its text arrives."""

    def __init__(self, rpcs: VoiceRpcs, config: A.VoiceChatConfig,
                 metadata: list[tuple[str, str]]) -> None:  # fmt: skip
        self._rpcs = rpcs
        self._config = config
        self._metadata = metadata
        self._pending = ""
        self._sequence = 0

    async def add(self, text: str) -> AsyncIterator[Out]:
        self._pending += text
        sentences, self._pending = split_sentences(self._pending)
        for sentence in sentences:
            async for out in self._speak(sentence, last=False):
                yield out

    async def flush(self, last: bool) -> AsyncIterator[Out]:
        rest, self._pending = self._pending.strip(), ""
        if rest or self._sequence:
            async for out in self._speak(rest, last=last):
                yield out

    async def _speak(self, text: str, last: bool) -> AsyncIterator[Out]:
        config = self._config
        if config.disable_audio_output:
            return
        encoding = config.output_encoding or A.AUDIO_ENCODING_LINEAR16
        data, rate = b"", config.output_sample_rate_hertz
        if text:
            request = S.SynthesizeSpeechRequest(
                text=text, voice=config.voice, language=config.language,
                speaking_rate=config.speaking_rate, audio_encoding=encoding,  # type: ignore[arg-type]
                sample_rate_hertz=config.output_sample_rate_hertz)  # fmt: skip
            try:
                body = await self._rpcs._deps.speech.speak(request, self._metadata)
            except errors.VokaError as exc:
                yield Out(error=exc.to_status())
                return
            data, rate = body.data, sample_rate(body, config.output_sample_rate_hertz)
        yield Out(audio=A.AudioChunk(data=data, encoding=encoding, sample_rate_hertz=rate,
                                     sequence=self._sequence, text=text, last=last))  # fmt: skip
        self._sequence += 1
