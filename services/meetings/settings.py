"""The meetings service's settings: the kit's, plus the Jitsi server, the recording limit and
how summaries and chat answers are asked of the assistant service."""

from __future__ import annotations

from pydantic import Field

from voka.config import Settings


class MeetingsSettings(Settings):
    """`VOKA_MEETINGS_*` variables on top of the shared ones."""

    meetings_jitsi_base_url: str = Field(
        default="https://meet.jit.si",
        description="Jitsi server whose rooms meetings use; a room URL is this plus the room name.",
    )
    meetings_max_recording_bytes: int = Field(
        default=500 * 1024 * 1024,
        description="Largest recording UploadRecording stores, in bytes (the speech service "
        "has its own limit for what it transcribes: VOKA_SPEECH_MAX_UPLOAD_BYTES).",
    )
    meetings_summary_model: str = Field(
        default="",
        description="Model the assistant service writes summaries with (`provider/model`); "
        "empty: its default.",
    )
    meetings_summary_max_tokens: int = Field(
        default=400, description="Most tokens a summary may take to write."
    )
    meetings_summary_transcript_chars: int = Field(
        default=6000,
        description="Transcript characters given to the model for a summary (the start and "
        "the end are kept when it is longer).",
    )
    meetings_chat_model: str = Field(
        default="",
        description="Model the assistant service answers project chat questions with "
        "(`provider/model`); empty: its default.",
    )
    meetings_chat_max_tokens: int = Field(
        default=256, gt=0, description="Most tokens an answer of the project chat may take."
    )
    meetings_chat_context_chars: int = Field(
        default=4000,
        gt=0,
        description="Characters of project data, sources and earlier turns given to the model "
        "with a chat question (in that order of priority; the rest is left out).",
    )
    meetings_auto_end_after: float = Field(
        default=7200.0,
        ge=0,
        description="Seconds after its scheduled end when a meeting still SCHEDULED or "
        "IN_PROGRESS reads as ENDED (worked out when read; the row keeps what happened).",
    )
    meetings_peer_timeout: float = Field(
        default=120.0, description="Seconds a call to the speech or assistant service may take."
    )
