"""Cuts a live stream of 16 kHz float audio into utterances while the speaker goes on.

An energy detector on 30 ms frames: a frame is speech when it is louder than both an absolute
floor and the running noise level by a margin. An utterance ends after `min_silence` seconds of
non-speech (or at `max_segment`, cut mid-speech), so a stream's final results arrive during the
stream, not at its end. Cheap enough to run on the event loop (a few µs per frame); the model
only sees finished utterances. A short pre-roll keeps the soft onset of the first word.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Utterance:
    """A finished stretch of speech and where it lies in the stream (seconds)."""

    samples: np.ndarray
    start: float
    end: float


class Segmenter:
    """Feed it chunks; it hands back the utterances that ended in them."""

    def __init__(
        self,
        *,
        min_silence: float = 0.5,
        max_segment: float = 30.0,
        min_speech: float = 0.15,
        frame_seconds: float = 0.03,
        floor_dbfs: float = -45.0,
        margin_db: float = 12.0,
        pre_roll: float = 0.2,
    ) -> None:
        self._frame = int(frame_seconds * SAMPLE_RATE)
        self._silence_frames = max(1, round(min_silence / frame_seconds))
        self._max_frames = max(1, round(max_segment / frame_seconds))
        self._min_speech_frames = max(1, round(min_speech / frame_seconds))
        self._floor = floor_dbfs
        self._margin = margin_db
        self._noise = floor_dbfs - margin_db
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(0, round(pre_roll / frame_seconds)))
        self._leftover = np.zeros(0, dtype=np.float32)
        self._frames: list[np.ndarray] = []
        self._speech_frames = 0
        self._silent_run = 0
        self._start = 0
        self._consumed = 0  # samples framed so far

    @property
    def in_speech(self) -> bool:
        """Whether an utterance is under way."""
        return bool(self._frames)

    @property
    def received_seconds(self) -> float:
        return (self._consumed + self._leftover.size) / SAMPLE_RATE

    def current(self) -> np.ndarray:
        """The utterance in progress so far (for partial results); empty outside speech."""
        return np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.float32)

    def feed(self, chunk: np.ndarray) -> list[np.ndarray]:
        """The samples of each utterance that ended within `chunk`."""
        return [u.samples for u in self.feed_utterances(chunk)]

    def feed_utterances(self, chunk: np.ndarray) -> list[Utterance]:
        """Like `feed`, with each utterance's place in the stream."""
        audio = np.concatenate([self._leftover, np.asarray(chunk, dtype=np.float32).ravel()])
        whole = audio.size - audio.size % self._frame
        self._leftover = audio[whole:]
        done = []
        for offset in range(0, whole, self._frame):
            utterance = self._step(audio[offset : offset + self._frame])
            if utterance is not None:
                done.append(utterance)
        return done

    def flush(self) -> list[np.ndarray]:
        """The utterance under way when the stream ends, if it holds enough speech."""
        return [u.samples for u in self.flush_utterances()]

    def flush_utterances(self) -> list[Utterance]:
        if self._leftover.size and self._frames:
            self._frames.append(self._leftover)
        self._consumed += self._leftover.size
        self._leftover = np.zeros(0, dtype=np.float32)
        utterance = self._finish(trailing=0)
        return [utterance] if utterance is not None else []

    def _step(self, frame: np.ndarray) -> Utterance | None:
        speech = self._is_speech(frame)
        self._consumed += frame.size
        if not self._frames:
            if not speech:
                self._pre_roll.append(frame)
                return None
            self._start = self._consumed - frame.size - sum(f.size for f in self._pre_roll)
            self._frames = [*self._pre_roll, frame]
            self._pre_roll.clear()
            self._speech_frames, self._silent_run = 1, 0
            return None
        self._frames.append(frame)
        self._speech_frames += speech
        self._silent_run = 0 if speech else self._silent_run + 1
        if self._silent_run >= self._silence_frames:
            return self._finish(trailing=self._silent_run - 1)
        if len(self._frames) >= self._max_frames:
            return self._finish(trailing=0)
        return None

    def _finish(self, trailing: int) -> Utterance | None:
        """Close the utterance, keeping one frame of its trailing silence."""
        frames = self._frames[: len(self._frames) - trailing]
        enough = self._speech_frames >= self._min_speech_frames
        self._frames, self._speech_frames, self._silent_run = [], 0, 0
        if not frames or not enough:
            return None
        samples = np.concatenate(frames)
        start = self._start / SAMPLE_RATE
        return Utterance(samples=samples, start=start, end=start + samples.size / SAMPLE_RATE)

    def _is_speech(self, frame: np.ndarray) -> bool:
        level = 10.0 * np.log10(float(np.mean(frame.astype(np.float64) ** 2)) + 1e-12)
        speech = level > max(self._floor, self._noise + self._margin)
        if not speech:
            self._noise = 0.95 * self._noise + 0.05 * level  # follows the room, slowly
        return bool(speech)
