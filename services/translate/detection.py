"""Language detection for `auto`: py3langid, whose model ships inside the wheel (nothing is
downloaded at run time), restricted to the catalogue's languages so it never answers with a
language we cannot name. Its model takes ~1 s to load, so it loads once, on first use.

On a word or two it guesses ("hi": every language equally likely, Arabic first by name), so a
translation trusts a detection only from MIN_CONFIDENCE up; below, the caller is asked for the
source language instead of getting a translation from a guess."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

# Wrong guesses on short texts stay under 0.3 (measured on greetings and one-word texts);
# right ones on a short sentence are over 0.7.
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Detected:
    language: str
    confidence: float

    @property
    def sure(self) -> bool:
        """Whether a translation may take it as the source language."""
        return self.confidence >= MIN_CONFIDENCE


class Detector:
    """Ranks the catalogue's languages for a text (thread-safe; blocking: run in an executor)."""

    def __init__(self, languages: Iterable[str]) -> None:
        self._languages = sorted(languages)
        self._identifier: Any = None
        self._lock = threading.Lock()

    @property
    def detectable(self) -> frozenset[str]:
        return frozenset(self._languages)

    def detect(self, text: str, top: int = 3) -> list[Detected]:
        ranked = self._load().rank(text)
        return [Detected(str(code), round(float(p), 4)) for code, p in ranked[:top]]

    def _load(self) -> Any:
        with self._lock:
            if self._identifier is None:
                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages(self._languages)
                self._identifier = identifier
            return self._identifier
