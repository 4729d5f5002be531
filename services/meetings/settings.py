"""The meetings service's settings: the kit's, plus the Jitsi server, the recording limit, how
summaries and chat answers are asked of the assistant service, and the contact form's bounds."""

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
        description="Largest recording UploadRecording stores, in bytes (it reaches the "
        "speech service by reference, within VOKA_SPEECH_MAX_STREAM_UPLOAD_BYTES).",
    )
    meetings_objects_max_bytes: int = Field(
        default=4 * 1024**3,
        gt=0,
        description="Bytes the meetings' object bucket (voka-meetings) may hold: recordings "
        "being handed to the speech service by reference, each only until speech has copied "
        "it. Applies when the bucket is created.",
    )
    meetings_objects_max_age: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Seconds after which an object of the meetings' bucket is dropped even if "
        "never deleted (one whose hand-over died midway). Applies when the bucket is created.",
    )
    meetings_summary_model: str = Field(
        default="",
        description="Model the assistant service writes summaries with (`provider/model`); "
        "empty: its default.",
    )
    meetings_summary_max_tokens: int = Field(
        default=400, description="Most tokens a summary may take to write."
    )
    meetings_summary_context_tokens: int = Field(
        default=0,
        ge=0,
        description="Context window of the summary model, in tokens: a transcript longer than "
        "fits is summarised in steps (sections, then their summaries combined), never cut. "
        "0: the context length the assistant's ListModels states for the model.",
    )
    meetings_summary_concurrency: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Sections of a long transcript summarised at the same time (calls to the "
        "assistant one summary makes at once).",
    )
    meetings_summary_timeout: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds one summary may take, all its steps together (a long transcript "
        "takes a call per section); past that it is retried by redelivery.",
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
    meetings_contact_max_body_chars: int = Field(
        default=5000,
        gt=0,
        le=19_000,
        description="Longest contact message body, in characters (at most 19000, so subject "
        "and body fit the 20000 characters of a client's notes when it becomes a client).",
    )
    meetings_contact_burst: int = Field(
        default=5,
        ge=1,
        description="Contact messages one client address, and one sender e-mail, may send at "
        "once before the rate below applies (per process).",
    )
    meetings_contact_per_hour: float = Field(
        default=10.0,
        gt=0,
        description="Contact messages per hour one client address, and one sender e-mail, may "
        "send on average after the burst (RESOURCE_EXHAUSTED beyond).",
    )
    meetings_search_index_batch: int = Field(
        default=32,
        ge=1,
        le=256,
        description="Passages the search indexer embeds per call to the assistant's "
        "EmbeddingService (at most 256, its per-call limit).",
    )
    meetings_search_index_backstop: float = Field(
        default=30.0,
        gt=0,
        description="Longest the search indexer sleeps when no passage is left to embed: a "
        "commit that writes passage text wakes it at once (new or changed content is "
        "searchable by meaning within a round, by its words at once); this round catches "
        "anything a wake-up missed. After a failed round it retries in 2 s, twice as long each "
        "time, up to 60.",
    )
    meetings_search_embed_timeout: float = Field(
        default=3.0,
        gt=0,
        description="Seconds Search waits for the assistant to embed the query; past that, or "
        "with the assistant away, it ranks by the query's words alone.",
    )
    meetings_search_min_similarity: float = Field(
        default=0.82,
        ge=0,
        le=1,
        description="Cosine similarity a passage needs to the query to rank by meaning "
        "(multilingual-e5-small puts unrelated short texts at about 0.75 to 0.82).",
    )
    meetings_search_cache_vectors: int = Field(
        default=100_000,
        ge=1,
        description="Most passage vectors each replica keeps decoded in memory for Search (1.5 "
        "KB each at 384 dimensions: up to 150 MB for 100000, grown as used); when full the "
        "cache starts over. A search whose scope holds more ranks only this many by meaning "
        "(all of it by words).",
    )
