"""Helpers of the speech RPC tests: reading error details, WAV facts, waiting for jobs."""

from __future__ import annotations

import asyncio
import io
import struct
import wave

import grpc
import numpy as np
from google.api import httpbody_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.speech import audio
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

FINAL = {speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED, speech_pb2.TRANSCRIPTION_STATE_FAILED,
         speech_pb2.TRANSCRIPTION_STATE_CANCELLED}  # fmt: skip


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    """The BadRequest field violations of an INVALID_ARGUMENT, by field."""
    status = rpc_status.from_call(err)
    assert status is not None, err
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    return {v.field: v.description for v in bad.field_violations}


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def wav_claiming(size: int, rate: int = 16_000) -> bytes:
    """A WAV header whose data chunk claims `size` bytes, followed by one second of silence."""
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", (36 + size) & 0xFFFFFFFF, b"WAVE",
                         b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16, b"data", size)  # fmt: skip
    return header + bytes(rate * 2)


async def wait_state(
    stub: speech_pb2_grpc.SpeechServiceStub,
    name: str,
    metadata: tuple[tuple[str, str]],
    state: speech_pb2.TranscriptionState.ValueType,
    seconds: float = 60.0,
) -> None:
    """Poll GetTranscription until the job is in `state`."""
    async with asyncio.timeout(seconds):
        while True:
            request = speech_pb2.GetTranscriptionRequest(name=name)
            if (
                await stub.GetTranscription(request, metadata=metadata)
            ).transcription.state == state:
                return
            await asyncio.sleep(0.05)


async def wait_final(
    stub: speech_pb2_grpc.SpeechServiceStub,
    name: str,
    metadata: tuple[tuple[str, str]],
    seconds: float = 60.0,
) -> speech_pb2.Transcription:
    """Poll GetTranscription until the job reaches a final state."""
    async with asyncio.timeout(seconds):
        while True:
            reply = await stub.GetTranscription(speech_pb2.GetTranscriptionRequest(name=name),
                                                metadata=metadata)  # fmt: skip
            if reply.transcription.state in FINAL:
                return reply.transcription
            await asyncio.sleep(0.1)


def long_wav(*clips: np.ndarray, times: int) -> bytes:
    """The clips one after the other, `times` over, with half a second of silence between."""
    gap = np.zeros(audio.SAMPLE_RATE // 2, dtype=np.float32)
    return audio.float_to_wav(np.concatenate([part for _ in range(times) for c in clips
                                              for part in (c, gap)]))  # fmt: skip


def upload(data: bytes, **fields: object) -> speech_pb2.CreateTranscriptionRequest:
    return speech_pb2.CreateTranscriptionRequest(
        body=httpbody_pb2.HttpBody(content_type="application/octet-stream", data=data), **fields
    )
