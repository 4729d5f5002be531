"""Word error rate of a transcript against the text that was read.

The word alignment is jiwer's (the measure speech research reports, Levenshtein over words in
C through rapidfuzz); what counts as a word is decided here, once, so the number means the same
everywhere: both texts are Unicode-normalised (NFKC), lower-cased and stripped of punctuation
(an apostrophe inside a word stays: "o'clock", "don't"). Whisper's casing and punctuation are
then not errors, and an entry's rate can be compared with any other's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import jiwer

_PUNCTUATION = re.compile(r"[^\w\s']|(?<!\w)'|'(?!\w)", re.UNICODE)


@dataclass(frozen=True)
class WordErrors:
    """The alignment of a hypothesis against a reference, in normalised words."""

    reference_words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def rate(self) -> float:
        """(S + D + I) / N; 0 for an empty reference heard as nothing, 1 per word otherwise."""
        edits = self.substitutions + self.deletions + self.insertions
        return edits / self.reference_words if self.reference_words else float(edits)


def words(text: str) -> list[str]:
    """The text's words as the rate counts them."""
    normal = unicodedata.normalize("NFKC", text).lower()
    return _PUNCTUATION.sub(" ", normal).split()


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """How `hypothesis` (a transcript) differs from `reference` (the text read)."""
    expected, heard = words(reference), words(hypothesis)
    if not expected or not heard:  # jiwer refuses empty inputs; the answer is plain
        return WordErrors(len(expected), 0, len(expected), len(heard))
    output = jiwer.process_words(" ".join(expected), " ".join(heard))
    return WordErrors(len(expected), output.substitutions, output.deletions, output.insertions)
