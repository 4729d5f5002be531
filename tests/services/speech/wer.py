"""Word error rate, the measure the recognition tests assert on.

WER = (substitutions + deletions + insertions) / words in the reference, after both texts are
lower-cased and stripped of punctuation, with small numbers written as digits (Whisper's
punctuation, casing and "9" for "nine" are not errors).
"""

from __future__ import annotations

import re
import unicodedata

_PUNCTUATION = re.compile(r"[^\w\s']", re.UNICODE)


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve")  # fmt: skip
_NUMBERS = {word: str(value) for value, word in enumerate(_NUMBER_WORDS)}


def words(text: str) -> list[str]:
    normal = unicodedata.normalize("NFKC", text).lower()
    return [_NUMBERS.get(word, word) for word in _PUNCTUATION.sub(" ", normal).split()]


def wer(reference: str, hypothesis: str) -> float:
    """Edit distance over words, divided by the reference's word count."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        current = [i]
        for j, other in enumerate(hyp, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1] / max(1, len(ref))
