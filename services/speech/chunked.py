"""Audio of any length cut into pieces the model takes one at a time, and their transcripts
joined back on the audio's own timeline.

Audio that lasts at most `CHUNK_SECONDS` is one chunk, whole, as it always was. Longer audio
goes through the stream's voice activity detector (`vad.Segmenter`): its utterances (each at
most `CHUNK_SECONDS`, cut mid-speech when someone talks longer) are grouped, in order, into
chunks of at most `CHUNK_SECONDS` of speech, the silence between them left out, which Whisper's
30-second window takes in one pass. Each chunk remembers where its pieces lie in the audio, so
segment and word times map back exactly (`Chunk.audio_time`).

Memory: the chunker holds at most three stretches of `CHUNK_SECONDS` of 16 kHz float32 samples
at once (the buffered start that decides between the two modes, the utterance in progress and
the group being filled: 3 x 1.9 MB at 30 s), whatever the audio's length.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from services.speech.audio import SAMPLE_RATE
from services.speech.engines.base import Segment, Transcript, join_segments
from services.speech.vad import Segmenter, Utterance

CHUNK_SECONDS = 30.0


@dataclass(frozen=True)
class Piece:
    """`seconds` of the chunk from `position` (in the chunk) are the audio's from `start`."""

    position: float
    start: float
    seconds: float


@dataclass(frozen=True)
class Chunk:
    """Samples for the model, and where they came from."""

    samples: np.ndarray
    pieces: tuple[Piece, ...]

    @property
    def end(self) -> float:
        """Where the chunk's last piece ends in the audio (the progress it stands for)."""
        last = self.pieces[-1]
        return last.start + last.seconds

    def audio_time(self, seconds: float) -> float:
        """A time in the chunk as a time in the audio."""
        for piece in reversed(self.pieces):
            if seconds >= piece.position:
                return piece.start + min(seconds - piece.position, piece.seconds)
        return self.pieces[0].start


class Chunker:
    """Cuts decoded audio into chunks; `seconds` counts the audio seen so far."""

    def __init__(self, max_seconds: float = CHUNK_SECONDS) -> None:
        self._limit = int(max_seconds * SAMPLE_RATE)
        self._max_seconds = max_seconds
        self._samples = 0

    @property
    def seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    def chunks(self, decoded: Iterable[np.ndarray]) -> Iterator[Chunk]:
        source = iter(decoded)
        head: list[np.ndarray] = []
        buffered = 0
        for piece in self._counted(source):
            head.append(piece)
            buffered += piece.size
            if buffered > self._limit:
                break
        else:  # short audio: one chunk, whole
            if buffered:
                samples = np.concatenate(head)
                yield Chunk(samples, (Piece(0.0, 0.0, samples.size / SAMPLE_RATE),))
            return
        yield from self._by_speech(itertools.chain(head, self._counted(source)))

    def _counted(self, source: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for piece in source:
            self._samples += piece.size
            yield piece

    def _by_speech(self, decoded: Iterator[np.ndarray]) -> Iterator[Chunk]:
        segmenter = Segmenter(max_segment=self._max_seconds)
        group: list[Utterance] = []
        for piece in decoded:
            for utterance in segmenter.feed_utterances(piece):
                yield from self._add(group, utterance)
        for utterance in segmenter.flush_utterances():
            yield from self._add(group, utterance)
        if group:
            yield _joined(group)

    def _add(self, group: list[Utterance], utterance: Utterance) -> Iterator[Chunk]:
        """Start a new group when the utterance would make this one too long."""
        if group and sum(u.samples.size for u in group) + utterance.samples.size > self._limit:
            yield _joined(group)
            group.clear()
        group.append(utterance)


def _joined(group: list[Utterance]) -> Chunk:
    pieces, position = [], 0.0
    for utterance in group:
        seconds = utterance.samples.size / SAMPLE_RATE
        pieces.append(Piece(position, utterance.start, seconds))
        position += seconds
    return Chunk(np.concatenate([u.samples for u in group]), tuple(pieces))


def on_audio_time(segment: Segment, chunk: Chunk) -> Segment:
    """A chunk's segment with its times (and its words') on the audio's timeline."""
    words = tuple(
        dataclasses.replace(w, start=chunk.audio_time(w.start), end=chunk.audio_time(w.end))
        for w in segment.words
    )
    return dataclasses.replace(
        segment, start=chunk.audio_time(segment.start), end=chunk.audio_time(segment.end),
        words=words,
    )  # fmt: skip


def joined(parts: list[Transcript], duration: float) -> Transcript:
    """The chunks' transcripts (segments already on the audio's timeline) as one."""
    segments = tuple(s for part in parts for s in part.segments)
    first = next((p for p in parts if p.segments), parts[0] if parts else None)
    return Transcript(
        text=join_segments(segments),
        language=first.language if first else "",
        language_probability=first.language_probability if first else 0.0,
        duration=duration,
        segments=segments,
    )
