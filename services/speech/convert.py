"""Domain values (engine dataclasses, stored records) ↔ contract messages."""

from __future__ import annotations

from services.speech.engines.base import FASTER_WHISPER, WHISPER_CPP, ModelInfo, Segment, Transcript
from services.speech.engines.base import Word as EngineWord
from services.speech.records import TranscriptionRecord, VoiceSampleRecord
from services.speech.tts.base import CUSTOM, ESPEAK_NG, PIPER, Voice
from services.speech.voice_sample_store import Usage
from voka.speech.v1 import speech_pb2
from voka.wellknown import duration, timestamp

RECOGNITION_ENGINES: dict[str, int] = {
    WHISPER_CPP: speech_pb2.RECOGNITION_ENGINE_WHISPER_CPP,
    FASTER_WHISPER: speech_pb2.RECOGNITION_ENGINE_FASTER_WHISPER,
}
ENGINE_NAMES: dict[int, str] = {v: k for k, v in RECOGNITION_ENGINES.items()}
VOICE_ENGINES: dict[str, int] = {
    ESPEAK_NG: speech_pb2.VOICE_ENGINE_ESPEAK_NG,
    PIPER: speech_pb2.VOICE_ENGINE_PIPER,
    CUSTOM: speech_pb2.VOICE_ENGINE_CUSTOM,
}
GENDERS: dict[str, int] = {
    "female": speech_pb2.VOICE_GENDER_FEMALE,
    "male": speech_pb2.VOICE_GENDER_MALE,
    "neutral": speech_pb2.VOICE_GENDER_NEUTRAL,
}


def word(value: EngineWord, offset: float = 0.0) -> speech_pb2.Word:
    return speech_pb2.Word(
        word=value.text,
        start_offset=duration(value.start + offset),
        end_offset=duration(value.end + offset),
        probability=value.probability,
    )


def segment(index: int, value: Segment, offset: float = 0.0) -> speech_pb2.TranscriptSegment:
    return speech_pb2.TranscriptSegment(
        index=index,
        start_offset=duration(value.start + offset),
        end_offset=duration(value.end + offset),
        text=value.text.strip(),
        words=[word(w, offset) for w in value.words],
        avg_log_probability=value.avg_logprob or 0.0,
        no_speech_probability=value.no_speech_prob or 0.0,
    )


def result(
    transcript: Transcript, model: ModelInfo, task: int, processing_seconds: float
) -> speech_pb2.TranscriptionResult:
    return speech_pb2.TranscriptionResult(
        text=transcript.text,
        language=transcript.language,
        language_probability=transcript.language_probability,
        segments=[segment(i, s) for i, s in enumerate(transcript.segments)],
        duration=duration(transcript.duration),
        engine=RECOGNITION_ENGINES.get(model.engine, speech_pb2.RECOGNITION_ENGINE_UNSPECIFIED),  # type: ignore[arg-type]
        model=model.id,
        task=task or speech_pb2.RECOGNITION_TASK_TRANSCRIBE,  # type: ignore[arg-type]
        processing_duration=duration(processing_seconds),
    )


def recognition_model(value: ModelInfo) -> speech_pb2.RecognitionModel:
    return speech_pb2.RecognitionModel(
        engine=RECOGNITION_ENGINES.get(value.engine, speech_pb2.RECOGNITION_ENGINE_UNSPECIFIED),  # type: ignore[arg-type]
        model=value.id,
        display_name=value.display_name or value.id,
        multilingual=value.multilingual,
        size_bytes=value.size_bytes if value.installed else 0,
        loaded=value.loaded,
        is_default=value.is_default,
    )


def voice(value: Voice) -> speech_pb2.Voice:
    return speech_pb2.Voice(
        name=f"voices/{value.id}",
        display_name=value.name,
        engine=VOICE_ENGINES.get(value.engine, speech_pb2.VOICE_ENGINE_UNSPECIFIED),  # type: ignore[arg-type]
        languages=list(value.languages or (value.language,)),
        gender=GENDERS.get(value.gender, speech_pb2.VOICE_GENDER_UNSPECIFIED),  # type: ignore[arg-type]
        sample_rate_hertz=value.sample_rate,
        quality=value.quality,
        description=value.description,
        is_default=value.is_default,
    )


def transcription(record: TranscriptionRecord, view: int) -> speech_pb2.Transcription:
    """The job as the contract shows it; BASIC leaves the result's segments out."""
    message = speech_pb2.Transcription(
        name=record.name,
        owner=record.owner,
        state=record.state,
        config=record.config,
        file_name=record.file_name,
        external_reference=record.external_reference,
        content_type=record.content_type,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        progress_percent=record.progress_percent,
        processed_duration=duration(record.processed_seconds),
        attempts=record.attempts,
        cancel_requested=record.cancel_requested,
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
        actor=record.actor,
    )
    if record.audio_seconds is not None:
        message.audio_duration.CopyFrom(duration(record.audio_seconds))
    if record.result is not None:
        message.result.CopyFrom(record.result)
        if view != speech_pb2.TRANSCRIPTION_VIEW_FULL:
            message.result.ClearField("segments")
    if record.error is not None:
        message.error.CopyFrom(record.error)
    if record.start_time is not None:
        message.start_time.CopyFrom(timestamp(record.start_time))
    if record.end_time is not None:
        message.end_time.CopyFrom(timestamp(record.end_time))
    return message


def voice_sample(record: VoiceSampleRecord) -> speech_pb2.VoiceSample:
    return speech_pb2.VoiceSample(
        name=record.name,
        display_name=record.display_name,
        language=record.language,
        description=record.description,
        owner=record.owner,
        file_name=record.file_name,
        content_type=record.content_type,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        duration=duration(record.duration_seconds),
        sample_rate_hertz=record.sample_rate,
        channel_count=record.channel_count,
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )


def quota(usage: Usage, max_count: int, max_bytes: int) -> speech_pb2.VoiceSampleQuota:
    return speech_pb2.VoiceSampleQuota(
        sample_count=usage.count,
        max_sample_count=max_count,
        used_bytes=usage.bytes,
        max_bytes=max_bytes,
    )
