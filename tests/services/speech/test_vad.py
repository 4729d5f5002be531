"""Streaming segmentation: utterances come out while the stream goes on, at the right places."""

from __future__ import annotations

import numpy as np
import pytest

from services.speech.engines.base import FASTER_WHISPER, TranscribeOptions
from services.speech.models import ModelCatalogue
from services.speech.vad import SAMPLE_RATE, Segmenter
from tests.services.speech.conftest import Clip
from tests.services.speech.wer import wer

CHUNK = SAMPLE_RATE // 10  # 100 ms, as a browser would send


def noise(samples: int, level: float) -> np.ndarray:
    return (level * np.random.default_rng(7).standard_normal(samples)).astype(np.float32)


def silence(seconds: float, level: float = 0.0) -> np.ndarray:
    return noise(int(seconds * SAMPLE_RATE), level)


def chunks(audio: np.ndarray) -> list[np.ndarray]:
    return [audio[i : i + CHUNK] for i in range(0, audio.size, CHUNK)]


@pytest.mark.parametrize("level", [0.0, 0.003])
def test_two_sentences_become_two_utterances_mid_stream(
    piper_clip: Clip, piper_clip_2: Clip, level: float
) -> None:
    """A quiet room (-50 dBFS of noise) must not keep an utterance open."""
    first, second = piper_clip.audio.samples, piper_clip_2.audio.samples
    stream = np.concatenate([silence(0.5), first, silence(1.0), second, silence(0.8)])
    stream = stream + noise(stream.size, level)
    segmenter = Segmenter(min_silence=0.5)
    emitted: list[tuple[float, float, float]] = []  # (stream time when emitted, start, end)
    for chunk in chunks(stream):
        for utterance in segmenter.feed_utterances(chunk):
            emitted.append((segmenter.received_seconds, utterance.start, utterance.end))
    tail = segmenter.flush_utterances()
    assert len(emitted) + len(tail) == 2
    second_starts = 0.5 + first.size / SAMPLE_RATE + 1.0
    assert emitted[0][0] < second_starts  # final of sentence 1 before sentence 2 begins
    assert emitted[0][1] == pytest.approx(0.5, abs=0.3)
    assert emitted[0][2] == pytest.approx(0.5 + first.size / SAMPLE_RATE, abs=0.4)


def test_utterances_transcribe_to_their_sentences(
    model_catalogue: ModelCatalogue, piper_clip: Clip, piper_clip_2: Clip
) -> None:
    segmenter = Segmenter()
    stream = np.concatenate(
        [piper_clip.audio.samples, silence(1.0), piper_clip_2.audio.samples, silence(0.6)]
    )
    utterances = [u for c in chunks(stream) for u in segmenter.feed(c)] + segmenter.flush()
    recognizer = model_catalogue.get("tiny.en", FASTER_WHISPER)
    texts = [recognizer.transcribe(u, TranscribeOptions()).text for u in utterances]
    assert len(texts) == 2
    assert wer(piper_clip.text, texts[0]) <= 0.10, texts[0]
    assert wer(piper_clip_2.text, texts[1]) <= 0.10, texts[1]


def test_long_speech_is_cut_at_max_segment() -> None:
    t = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    segmenter = Segmenter(max_segment=2.0)
    cut = [u for c in chunks(tone) for u in segmenter.feed(c)]
    assert [round(u.size / SAMPLE_RATE, 1) for u in cut] == [2.0, 2.0]
    assert segmenter.in_speech
    assert segmenter.current().size > 0
    (rest,) = segmenter.flush()
    assert rest.size / SAMPLE_RATE == pytest.approx(1.0, abs=0.05)


def test_silence_noise_and_clicks_are_not_speech() -> None:
    segmenter = Segmenter()
    click = np.zeros(SAMPLE_RATE, dtype=np.float32)
    click[8000:8100] = 0.9  # 6 ms: shorter than min_speech
    for audio in (silence(2.0), silence(2.0, 0.003), click):
        assert [u for c in chunks(audio) for u in segmenter.feed(c)] == []
    assert segmenter.flush() == []
    assert segmenter.received_seconds == pytest.approx(5.0, abs=0.05)
