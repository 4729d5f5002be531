"""Sentence splitting: long texts go to the engines as sentences (models translate sentences
best, batches pad less, and the cache hits on repeated sentences), then are joined back with the
original separators."""

from __future__ import annotations

import re
from dataclasses import dataclass

# After sentence-final punctuation followed by spaces, or at line breaks (kept as separators).
_BOUNDARY = re.compile(r"((?<=[.!?;\u3002\uff01\uff1f])[ \t]+|\s*\n\s*)")
MAX_SEGMENT_CHARS = 400  # a sentence longer than this is cut at spaces (models read ~512 tokens)


@dataclass(frozen=True)
class Split:
    """A text as segments to translate and the separators between them."""

    segments: list[str]
    separators: list[str]

    def join(self, translated: list[str]) -> str:
        parts = [translated[0]]
        for sep, seg in zip(self.separators, translated[1:], strict=True):
            parts += [sep, seg]
        return "".join(parts)


def split(text: str) -> Split:
    """Segments never contain line breaks (Apertium translates one per line) nor outer spaces."""
    pieces = _BOUNDARY.split(text.strip())
    segments: list[str] = []
    separators: list[str] = []
    for i, piece in enumerate(pieces):
        if i % 2:
            separators.append(piece if "\n" in piece else " ")
            continue
        chunks = _cut(piece)
        separators += [" "] * (len(chunks) - 1)
        segments += chunks
    return Split(segments, separators)


def _cut(sentence: str) -> list[str]:
    chunks: list[str] = []
    while len(sentence) > MAX_SEGMENT_CHARS:
        at = sentence.rfind(" ", 0, MAX_SEGMENT_CHARS)
        at = at if at > 0 else MAX_SEGMENT_CHARS
        chunks.append(sentence[:at].strip())
        sentence = sentence[at:].strip()
    return [*chunks, sentence]
