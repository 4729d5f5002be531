"""Cutting long audio into chunks (`services/speech/chunked.py`) and decoding a file as it is
read (`audio.open_file`): short audio stays one chunk, long audio is cut at its silences into
chunks of at most 30 s whose times map back to the audio's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.speech import audio
from services.speech.chunked import CHUNK_SECONDS, Chunker, on_audio_time
from services.speech.engines.base import Segment, Word

RATE = audio.SAMPLE_RATE


def _tone(seconds: float) -> np.ndarray:
    """A loud 220 Hz tone: speech as far as the energy detector can tell."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _timeline(total: float, bursts: list[tuple[float, float]]) -> np.ndarray:
    """`total` seconds of faint noise with tones at (start, seconds)."""
    samples = np.random.default_rng(4).normal(0, 1e-4, int(total * RATE)).astype(np.float32)
    for start, seconds in bursts:
        tone = _tone(seconds)
        samples[int(start * RATE) : int(start * RATE) + tone.size] += tone
    return samples


def _pieces(samples: np.ndarray, size: int = 4000) -> list[np.ndarray]:
    return [samples[i : i + size] for i in range(0, samples.size, size)]


def test_short_audio_is_one_chunk_whole() -> None:
    samples = _timeline(20.0, [(5.0, 2.0)])
    chunker = Chunker()
    chunks = list(chunker.chunks(_pieces(samples)))
    assert len(chunks) == 1
    assert np.array_equal(chunks[0].samples, samples)
    assert chunks[0].audio_time(7.5) == 7.5
    assert chunker.seconds == pytest.approx(20.0)


def test_long_audio_is_cut_at_its_silences_and_times_map_back() -> None:
    bursts = [(10.0, 4.0), (50.0, 12.0), (70.0, 12.0), (100.0, 8.0), (170.0, 3.0)]
    chunker = Chunker()
    chunks = list(chunker.chunks(_pieces(_timeline(180.0, bursts))))
    assert chunker.seconds == pytest.approx(180.0)
    assert all(c.samples.size <= CHUNK_SECONDS * RATE for c in chunks)
    starts = [p.start for c in chunks for p in c.pieces]
    assert [round(s) for s in starts] == [10, 50, 70, 100, 170]  # 0.2 s pre-roll each
    speech = sum(c.samples.size for c in chunks) / RATE
    assert 39.0 <= speech <= 45.0  # the silences are left out
    second = next(c for c in chunks if any(round(p.start) == 70 for p in c.pieces))
    at_70 = next(p for p in second.pieces if round(p.start) == 70)
    segment = Segment(
        at_70.position + 1.0,
        at_70.position + 2.0,
        " hello",
        words=(Word(" hello", at_70.position + 1.0, at_70.position + 1.5, 0.9),),
    )
    moved = on_audio_time(segment, second)
    assert moved.start == pytest.approx(at_70.start + 1.0)
    assert moved.words[0].end == pytest.approx(at_70.start + 1.5)
    assert [c.end for c in chunks] == sorted(c.end for c in chunks)


def test_a_file_is_decoded_as_it_is_read(tmp_path: Path) -> None:
    samples = _timeline(3.0, [(1.0, 1.0)])
    path = tmp_path / "a.wav"
    path.write_bytes(audio.resample_wav(audio.float_to_wav(samples), 48_000))
    with audio.open_file(path, max_bytes=10**7, max_seconds=60) as stream:
        pieces = list(stream.chunks)
        assert stream.format is audio.WAV
        assert stream.claimed_seconds == pytest.approx(3.0, abs=0.01)
    assert len(pieces) > 1
    assert sum(p.size for p in pieces) == pytest.approx(3 * RATE, abs=RATE // 100)
    with (
        pytest.raises(audio.AudioError, match="at most 2"),
        audio.open_file(path, max_bytes=10**7, max_seconds=2),
    ):
        pass
    text = tmp_path / "a.txt"
    text.write_bytes(b"not audio at all" * 10)
    with (
        pytest.raises(audio.AudioError) as refused,
        audio.open_file(text, max_bytes=10**7, max_seconds=60),
    ):
        pass
    assert refused.value.reason == "unsupported_format"
