"""The translate service's settings: the kit's, plus where models live and how batching behaves.

Every variable has a default that works on one machine with no model installed (Apertium only).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field

from voka.config import Settings


class TranslateSettings(Settings):
    """`VOKA_TRANSLATE_*` variables on top of the shared ones."""

    translate_models_dir: Path | None = Field(
        default=None,
        description="MarianMT models, one opus-mt directory per pair (`es-en/`), and their "
        "CTranslate2 conversions under `ctranslate2/`; "
        "empty: <data_dir>/translate/models.",
    )
    translate_engines: dict[str, str] = Field(
        default_factory=dict,
        description="Engine per pair, overriding the default choice: "
        '\'{"en-es": "apertium"}\'; engines: marian, ctranslate2, apertium, llm.',
    )
    translate_apertium_binary: str = Field(default="apertium", description="Apertium program.")
    translate_apertium_timeout: float = Field(
        default=30.0, description="Seconds one Apertium run may take."
    )
    translate_batch_window_ms: float = Field(
        default=5.0, description="How long a batch waits for more requests after its first."
    )
    translate_max_batch: int = Field(default=32, description="Segments per model batch, at most.")
    translate_queue_size: int = Field(
        default=512, description="Segments waiting per model; more is RESOURCE_EXHAUSTED."
    )
    translate_cache_size: int = Field(
        default=10_000, description="Results kept in the (model, text) cache."
    )
    translate_memory_budget_mb: int = Field(
        default=4096,
        description="Memory for loaded models, per neural engine; least recently used unload.",
    )
    translate_idle_unload_seconds: float = Field(
        default=900.0, description="A neural model unused this long is unloaded."
    )
    translate_ct2_compute_type: str = Field(
        default="int8",
        description="CTranslate2 compute type for converted models (int8, int8_float32, float32).",
    )
    translate_ct2_threads: int = Field(
        default=0, description="CTranslate2 threads per model; 0: CTranslate2's default."
    )
    translate_workers: int = Field(default=2, description="Inference threads.")
    translate_llm_model: Path | None = Field(
        default=None,
        description="GGUF of the language-model engine (`llm`), which serves any pair: "
        "by default those no other engine has, others on request; `make up` sets it to the "
        "Qwen2.5 1.5B it installs; empty: the engine is off.",
    )
    translate_llm_threads: int = Field(
        default=2,
        ge=0,
        description="llama.cpp threads of the language-model engine; 0: its default.",
    )
    translate_llm_context: int = Field(
        default=2048, gt=0, description="llama.cpp context (tokens) of the language-model engine."
    )

    @cached_property
    def models_dir(self) -> Path:
        return self.translate_models_dir or self.data_dir / "translate" / "models"
