"""The two sockets and the gRPC stream each maps onto: which RPC, which request message carries
a config, an audio chunk or a control, and where a response carries audio.

Adding a socket for another bidirectional stream is one more Endpoint here; the session and
the server know none of these messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message

from gateway.ws_bridge import protocol
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

PREFIX = "/api/v1/ws/"
StreamFactory = Callable[[grpc.aio.Channel], Any]  # channel -> StreamStreamMultiCallable


@dataclass(frozen=True)
class Endpoint:
    """One socket path and its gRPC stream."""

    name: str  # the path's last segment, also the metrics label
    domain: str  # the service that serves the stream
    method: StreamFactory
    config_request: Callable[[dict[str, Any]], Message]
    audio_request: Callable[[bytes], Message]
    controls: Mapping[str, Message] = field(default_factory=dict)
    audio_of: Callable[[Message], bytes | None] = lambda response: None

    @property
    def path(self) -> str:
        return PREFIX + self.name

    def control_request(self, kind: str) -> Message:
        """The request a control frame of `kind` becomes; one this socket lacks is refused."""
        request = self.controls.get(kind)
        if request is None:
            known = ", ".join([*self.controls, protocol.END])
            raise protocol.bad_message(f"{self.name} takes no {kind!r} (it takes {known})")
        return request


# --- voice chat: AssistantService.StreamVoiceChat -------------------------------------------


def _voice_config(config: dict[str, Any]) -> Message:
    parsed = protocol.parse_config(config, assistant_pb2.VoiceChatConfig())
    return assistant_pb2.StreamVoiceChatRequest(config=parsed)


def _voice_control(action: assistant_pb2.VoiceChatAction.ValueType) -> Message:
    return assistant_pb2.StreamVoiceChatRequest(
        control=assistant_pb2.VoiceChatControl(action=action)
    )


def _voice_audio(response: Message) -> bytes | None:
    if not isinstance(response, assistant_pb2.StreamVoiceChatResponse):
        return None
    return response.audio.data if response.WhichOneof("event") == "audio" else None


VOICE_CHAT = Endpoint(
    name="voice-chat",
    domain="assistant",
    method=lambda channel: assistant_pb2_grpc.AssistantServiceStub(channel).StreamVoiceChat,
    config_request=_voice_config,
    audio_request=lambda chunk: assistant_pb2.StreamVoiceChatRequest(audio=chunk),
    controls={
        "end_of_utterance": _voice_control(assistant_pb2.VOICE_CHAT_ACTION_END_OF_UTTERANCE),
        "cancel_reply": _voice_control(assistant_pb2.VOICE_CHAT_ACTION_CANCEL_REPLY),
    },
    audio_of=_voice_audio,
)


# --- recognition: SpeechService.StreamingRecognize ------------------------------------------


def _recognize_config(config: dict[str, Any]) -> Message:
    parsed = protocol.parse_config(config, speech_pb2.StreamingRecognitionConfig())
    return speech_pb2.StreamingRecognizeRequest(config=parsed)


RECOGNIZE = Endpoint(
    name="recognize",
    domain="speech",
    method=lambda channel: speech_pb2_grpc.SpeechServiceStub(channel).StreamingRecognize,
    config_request=_recognize_config,
    audio_request=lambda chunk: speech_pb2.StreamingRecognizeRequest(audio=chunk),
)

ENDPOINTS = {endpoint.path: endpoint for endpoint in (VOICE_CHAT, RECOGNIZE)}
