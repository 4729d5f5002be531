"""Task functions that call the other services with the tasks service's identity (peers.py):
translate a text, synthesize speech. Their results are the task's result."""

from __future__ import annotations

import base64
from typing import Any

from services.tasks import peers
from services.tasks.registry import task_function
from voka.speech.v1 import speech_pb2, speech_pb2_grpc
from voka.tasks.v1 import tasks_pb2
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

LANGUAGE = {"type": "string", "maxLength": 35}
MAX_SPEECH_TEXT = 1000  # the audio comes back in the task's result, so keep it short


@task_function(
    "translate.text",
    worker_type=tasks_pb2.WORKER_TYPE_NETWORK_INTENSIVE,
    description="Translates a text with the translate service (source empty: detected).",
    args_schema={
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 5000},
            "target_language_code": {**LANGUAGE, "minLength": 2},
            "source_language_code": LANGUAGE,
        },
        "required": ["text", "target_language_code"],
        "additionalProperties": False,
    },
    idempotent=True,
)
async def translate_text(
    text: str, target_language_code: str, source_language_code: str = ""
) -> dict[str, Any]:
    stub = translate_pb2_grpc.TranslateServiceStub(peers.current().channel("translate"))
    request = translate_pb2.TranslateTextRequest(
        text=text, source_language_code=source_language_code,
        target_language_code=target_language_code, skip_history=True,
    )  # fmt: skip
    reply = await peers.call(stub.TranslateText, request)
    return {
        "translated_text": reply.translated_text,
        "source_language_code": reply.source_language_code,
        "target_language_code": reply.target_language_code,
        "engine": translate_pb2.Engine.Name(reply.engine),
        "model": reply.model,
    }


@task_function(
    "speech.synthesize",
    worker_type=tasks_pb2.WORKER_TYPE_NETWORK_INTENSIVE,
    description=f"Speaks a text (at most {MAX_SPEECH_TEXT} characters) with the speech "
    "service; the result holds the WAV audio in base64.",
    args_schema={
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": MAX_SPEECH_TEXT},
            "language": LANGUAGE,
            "voice": {"type": "string", "maxLength": 200},
        },
        "required": ["text"],
        "additionalProperties": False,
    },
    idempotent=True,
)
async def synthesize(text: str, language: str = "", voice: str = "") -> dict[str, Any]:
    stub = speech_pb2_grpc.SpeechServiceStub(peers.current().channel("speech"))
    request = speech_pb2.SynthesizeSpeechRequest(text=text, language=language, voice=voice)
    body = await peers.call(stub.SynthesizeSpeech, request)
    return {
        "content_type": body.content_type,
        "audio_base64": base64.b64encode(body.data).decode(),
        "bytes": len(body.data),
    }
