"""Real recognition of generated speech with the packaged models, in both engines.

Word error rate thresholds (see `wer.py`): Piper's neural voice is transcribed exactly by both
packaged models (PLATFORM.md), so ≤ 10 % (one word in ten) leaves room only for a spelling
variant; espeak-ng's robotic voice causes real word errors, so ≤ 35 % for English and ≤ 40 %
for Spanish still proves the words were heard, not hallucinated.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest

from services.speech.engines.base import (
    FASTER_WHISPER,
    WHISPER_CPP,
    ModelCorrupt,
    ModelMissing,
    Segment,
    TranscribeOptions,
    UnsupportedOption,
)
from services.speech.models import ModelCatalogue, ensure_default_models, ggml_path
from services.speech.recognition import Cancelled, RecognitionPool
from services.speech.settings import SpeechSettings
from tests.services.speech.conftest import Clip
from tests.services.speech.wer import wer
from voka.errors import VokaError

NEURAL_WER = 0.10
ROBOTIC_WER_EN = 0.35
ROBOTIC_WER_ES = 0.40


@pytest.mark.parametrize("engine", [FASTER_WHISPER, WHISPER_CPP])
def test_piper_speech_is_transcribed(
    model_catalogue: ModelCatalogue, piper_clip: Clip, engine: str
) -> None:
    recognizer = model_catalogue.get("tiny.en", engine)
    seen: list[Segment] = []
    transcript = recognizer.transcribe(piper_clip.audio.samples, TranscribeOptions(), seen.append)
    assert wer(piper_clip.text, transcript.text) <= NEURAL_WER, transcript.text
    assert transcript.language == "en"
    assert transcript.duration == pytest.approx(piper_clip.audio.duration, abs=0.05)
    assert [s.text for s in seen] == [s.text for s in transcript.segments]
    assert all(0 <= s.start < s.end <= transcript.duration + 0.5 for s in transcript.segments)


@pytest.mark.parametrize("engine", [FASTER_WHISPER, WHISPER_CPP])
def test_word_timestamps(model_catalogue: ModelCatalogue, piper_clip: Clip, engine: str) -> None:
    recognizer = model_catalogue.get("tiny.en", engine)
    options = TranscribeOptions(word_timestamps=True)
    transcript = recognizer.transcribe(piper_clip.audio.samples, options)
    words = [w for s in transcript.segments for w in s.words]
    assert wer(piper_clip.text, " ".join(w.text for w in words)) <= NEURAL_WER
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= transcript.duration + 0.5 for w in words)
    assert all(0.0 <= w.probability <= 1.0 for w in words)


def test_espeak_english_is_transcribed(
    model_catalogue: ModelCatalogue, espeak_english_clip: Clip
) -> None:
    transcript = model_catalogue.get("tiny.en", FASTER_WHISPER).transcribe(
        espeak_english_clip.audio.samples, TranscribeOptions()
    )
    assert wer(espeak_english_clip.text, transcript.text) <= ROBOTIC_WER_EN, transcript.text


@pytest.mark.slow
def test_spanish_with_the_multilingual_model(
    model_catalogue: ModelCatalogue, espeak_spanish_clip: Clip
) -> None:
    """Whisper base (the packaged multilingual model) detects and transcribes Spanish."""
    transcript = model_catalogue.get("base", FASTER_WHISPER).transcribe(
        espeak_spanish_clip.audio.samples, TranscribeOptions()
    )
    assert transcript.language == "es"
    assert 0.5 < transcript.language_probability <= 1.0
    assert wer(espeak_spanish_clip.text, transcript.text) <= ROBOTIC_WER_ES, transcript.text


def test_english_only_model_refuses_what_it_cannot_do(
    model_catalogue: ModelCatalogue, piper_clip: Clip
) -> None:
    recognizer = model_catalogue.get("tiny.en", FASTER_WHISPER)
    with pytest.raises(UnsupportedOption) as translate:
        recognizer.transcribe(piper_clip.audio.samples, TranscribeOptions(translate=True))
    assert translate.value.field == "config.task"
    with pytest.raises(UnsupportedOption) as language:
        recognizer.transcribe(piper_clip.audio.samples, TranscribeOptions(language="es"))
    assert language.value.field == "config.language"


def test_catalogue_lists_installed_and_installable_models(
    model_catalogue: ModelCatalogue,
) -> None:
    models = {(m.engine, m.id): m for m in model_catalogue.models()}
    assert models[(FASTER_WHISPER, "tiny.en")].installed
    assert not models[(FASTER_WHISPER, "tiny.en")].multilingual
    assert models[(FASTER_WHISPER, "base")].multilingual
    assert models[(WHISPER_CPP, "tiny.en")].installed
    assert models[(FASTER_WHISPER, "tiny.en")].is_default
    assert models[(FASTER_WHISPER, "tiny.en")].size_bytes > 70_000_000


def test_missing_model_names_what_to_install(models_dir: Path) -> None:
    catalogue = ModelCatalogue(models_dir)
    with pytest.raises(ModelMissing) as ggml_missing:
        catalogue.get("base", WHISPER_CPP)
    assert "convert-ggml base" in ggml_missing.value.install_hint
    with pytest.raises(ModelMissing) as unknown:
        catalogue.get("large-v3", FASTER_WHISPER)
    assert "pull large-v3" in unknown.value.install_hint
    with pytest.raises(UnsupportedOption):
        catalogue.get("../../etc", FASTER_WHISPER)


def test_corrupt_ggml_file_is_refused(tmp_path: Path) -> None:
    path = ggml_path(tmp_path, "broken")
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ModelCorrupt):
        ModelCatalogue(tmp_path).get("broken", WHISPER_CPP)


async def test_pool_transcribes_off_the_loop(
    model_catalogue: ModelCatalogue, piper_clip: Clip
) -> None:
    pool = RecognitionPool(model_catalogue, queue_size=2)
    seen: list[Segment] = []
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    try:
        transcript = await pool.transcribe(
            None, piper_clip.audio.samples, TranscribeOptions(), seen.append
        )
    finally:
        beat.cancel()
        pool.close()
    assert wer(piper_clip.text, transcript.text) <= NEURAL_WER
    assert ticks > 5  # the loop kept running while the model worked
    assert seen
    assert seen[-1].text == transcript.segments[-1].text
    assert any(m.loaded for m in pool.models())


async def test_pool_refuses_beyond_its_queue(
    model_catalogue: ModelCatalogue, piper_clip: Clip
) -> None:
    pool = RecognitionPool(model_catalogue, queue_size=0, workers=1)
    audio = piper_clip.audio.samples
    try:
        first = asyncio.create_task(pool.transcribe("tiny.en", audio, TranscribeOptions()))
        await asyncio.sleep(0)
        with pytest.raises(VokaError) as refused:
            await pool.transcribe("tiny.en", audio, TranscribeOptions())
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await first).text
    finally:
        pool.close()


async def test_pool_refuses_a_missing_model_before_queueing(
    model_catalogue: ModelCatalogue,
) -> None:
    pool = RecognitionPool(model_catalogue, queue_size=1)
    try:
        with pytest.raises(ModelMissing):
            await pool.transcribe("small", np.zeros(16_000, np.float32), TranscribeOptions())
    finally:
        pool.close()


async def test_cancelled_recognition_stops(
    model_catalogue: ModelCatalogue, piper_clip: Clip
) -> None:
    pool = RecognitionPool(model_catalogue, queue_size=1)
    cancel = threading.Event()
    cancel.set()
    try:
        with pytest.raises(Cancelled):
            await pool.transcribe(
                "tiny.en", piper_clip.audio.samples, TranscribeOptions(), cancel=cancel
            )
    finally:
        pool.close()


def test_default_models_are_installed_once(tmp_path: Path) -> None:
    settings = SpeechSettings(data_dir=tmp_path)
    installed = {(m.engine, m.id) for m in ensure_default_models(settings)}
    assert {(FASTER_WHISPER, "base"), (FASTER_WHISPER, "tiny.en")} <= installed
    model_bin = settings.models_dir / "faster-whisper" / "base" / "model.bin"
    first = model_bin.stat().st_mtime_ns
    ensure_default_models(settings)
    assert model_bin.stat().st_mtime_ns == first
