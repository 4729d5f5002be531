"""OpenAI's model and voice names in Voka's terms.

OpenAI's recognition models all mean the service's configured default (engine and model), so
a client written for OpenAI works unchanged; a Voka model id picks an installed model, with
its engine when prefixed (`whisper.cpp/base`). OpenAI's voices (alloy, echo, ...) all mean the
default English voice, as no packaged voice imitates theirs; a Voka voice id picks that voice.
OpenAI's speech models mean any engine; `piper` or `espeak-ng` as the model picks that
engine's English voice for an OpenAI voice name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.speech.engines.base import ModelInfo
from services.speech.tts.base import Voice
from services.speech.tts.catalogue import speaks

OPENAI_RECOGNITION_MODELS = frozenset({
    "whisper-1", "gpt-transcribe", "gpt-4o-transcribe", "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
})  # fmt: skip
OPENAI_SPEECH_MODELS = frozenset({
    "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15",
})  # fmt: skip
OPENAI_VOICES = frozenset({
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
    "verse", "marin", "cedar",
})  # fmt: skip
OPENAI_VOICE_LANGUAGE = "en"


class UnknownName(LookupError):
    """A model or voice name neither OpenAI's nor Voka's; the message lists what is known."""


@dataclass(frozen=True)
class ModelChoice:
    """The recognition model a request runs on: engine and id empty mean the configured
    default, `info` is the model that will run (None when it is not installed)."""

    engine: str
    model: str
    info: ModelInfo | None


def recognition_model(
    name: str, known: Sequence[ModelInfo], default_engine: str, default_model: str
) -> ModelChoice:
    """The model `name` means among the `known` ones (installed or installable)."""
    if name in OPENAI_RECOGNITION_MODELS:
        engine, model_id, choice = default_engine, default_model, ModelChoice("", "", None)
    else:
        engine, _, model_id = name.rpartition("/")
        engine = engine or default_engine
        choice = ModelChoice(engine if "/" in name else "", model_id, None)
    for info in known:
        if (info.engine, info.id) == (engine, model_id):
            return ModelChoice(choice.engine, choice.model, info if info.installed else None)
    if name in OPENAI_RECOGNITION_MODELS:  # the default is not even installable
        return choice
    names = sorted({m.id for m in known if m.engine == default_engine}
                   | {f"{m.engine}/{m.id}" for m in known})  # fmt: skip
    raise UnknownName(
        f"unknown model {name!r}; use whisper-1 (the default model) or one of {', '.join(names)}"
    )


def voice_id(name: str, model: str, voices: Sequence[Voice]) -> str:
    """The id of the voice `name` means for speech `model` among `voices` (the catalogue's):
    for an OpenAI voice name, the default English voice (of the model's engine when the model
    names one); else the Voka voice of that id (`voices/` prefix optional)."""
    if name in OPENAI_VOICES:
        engine = "" if model in OPENAI_SPEECH_MODELS else model
        english = [v for v in voices if speaks(v, OPENAI_VOICE_LANGUAGE)
                   and (not engine or v.engine == engine)]  # fmt: skip
        for voice in sorted(english, key=lambda v: not v.is_default):
            return voice.id
        raise UnknownName(f"no {OPENAI_VOICE_LANGUAGE!r} voice for model {model!r}")
    wanted = name.removeprefix("voices/")
    if any(v.id == wanted for v in voices):
        return wanted
    raise UnknownName(
        f"unknown voice {name!r}; use one of {', '.join(sorted(OPENAI_VOICES))} or a voice id "
        "that GET /api/v1/voices lists"
    )
