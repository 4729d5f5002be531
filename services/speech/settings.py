"""The speech service's settings: the kit's, plus models, engines, limits and quotas.

Every default works on one machine: the multilingual model packaged on PyPI is joined into the
models directory at first start, and espeak-ng plus the packaged Piper voice speak.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field

from voka.config import Settings


class SpeechSettings(Settings):
    """`VOKA_SPEECH_*` variables on top of the shared ones."""

    speech_models_dir: Path | None = Field(
        default=None,
        description="Recognition models (`faster-whisper/<model>/` CTranslate2 directories, "
        "`whisper.cpp/ggml-<model>.bin` files) and Piper voices (`piper/*.onnx`); "
        "empty: <data_dir>/speech/models.",
    )
    speech_engine: str = Field(
        default="faster-whisper",
        description="Recognition engine when a request names none: faster-whisper, whisper.cpp.",
    )
    speech_default_model: str = Field(
        default="base",
        description="Recognition model when a request names none (`base`: multilingual, "
        "`tiny.en`: English only, fast).",
    )
    speech_install_default_models: bool = Field(
        default=True,
        description="Install the packaged models into the models directory at start (once).",
    )
    speech_compute_type: str = Field(
        default="int8", description="CTranslate2 compute type (int8, int8_float32, float32)."
    )
    speech_threads: int = Field(
        default=0, description="Inference threads per model; 0: the engine's default."
    )
    speech_workers: int = Field(default=1, description="Recognitions run at the same time.")
    speech_queue_size: int = Field(
        default=8, description="Recognitions waiting for a worker; more is RESOURCE_EXHAUSTED."
    )
    speech_max_upload_bytes: int = Field(
        default=25 * 1024 * 1024, description="Largest audio upload, in bytes."
    )
    speech_max_stream_upload_bytes: int = Field(
        default=2 * 1024**3,
        gt=0,
        description="Largest audio UploadTranscription streams in, or CreateTranscription "
        "copies from the object store (`audio_uri`), in bytes; more is RESOURCE_EXHAUSTED. "
        "Written to disk as it arrives: it bounds the disk, not the memory.",
    )
    speech_max_seconds: float = Field(
        default=600.0, description="Longest audio Transcribe accepts, in seconds."
    )
    speech_stream_max_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest audio one StreamingRecognize stream (so one StreamVoiceChat "
        "recognition stream) may carry, in seconds; more is INVALID_ARGUMENT (too_long). "
        "With rates of 8-48 kHz, it also bounds the bytes: 192 000 a second at most.",
    )
    speech_stream_max_pending: int = Field(
        default=4,
        ge=1,
        description="Finished utterances of one stream waiting for recognition; while they "
        "are this many, the stream reads no more audio (the client is held back).",
    )
    speech_espeak_binary: str = Field(default="espeak-ng", description="espeak-ng program.")
    speech_tts_max_chars: int = Field(default=5000, description="Longest text to synthesize.")
    speech_sample_max_count: int = Field(
        default=20, description="Voice samples one user may store."
    )
    speech_sample_max_bytes: int = Field(
        default=100 * 1024 * 1024, description="Bytes of voice samples one user may store."
    )
    speech_job_max_seconds: float = Field(
        default=4 * 3600.0, description="Longest audio CreateTranscription accepts, in seconds."
    )
    speech_embedded_worker: bool = Field(
        default=True,
        description="Run a transcription worker inside the service (false: only "
        "`python -m services.speech.worker` processes transcribe jobs).",
    )
    speech_job_concurrency: int = Field(
        default=1, description="Transcription jobs one worker runs at the same time."
    )
    speech_job_ack_seconds: float = Field(
        default=30.0,
        description="A worker silent this long (killed, hung) loses its job to another worker.",
    )
    speech_job_max_attempts: int = Field(
        default=3, description="Attempts a job gets (a killed worker costs one) before FAILED."
    )

    @cached_property
    def models_dir(self) -> Path:
        return self.speech_models_dir or self.data_dir / "speech" / "models"
