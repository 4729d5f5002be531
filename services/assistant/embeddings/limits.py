"""The per-call input limits of embedding requests, checked before any work so a bad call is
refused with every offending text named (`texts[3]`, or `input[3]` for OpenAI's shape)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voka.errors import FieldViolation


@dataclass(frozen=True)
class Limits:
    """Texts per call and characters per text."""

    max_texts: int
    max_chars: int

    def check(self, texts: Sequence[str], path: str) -> list[FieldViolation]:
        """What is wrong with `texts`, named from `path` (the request field holding them)."""
        if not texts:
            return [FieldViolation(path, "must hold at least one text")]
        if len(texts) > self.max_texts:
            return [
                FieldViolation(path, f"at most {self.max_texts} texts per call, got {len(texts)}")
            ]
        problems = []
        for index, text in enumerate(texts):
            if not text:
                problems.append(FieldViolation(f"{path}[{index}]", "must not be empty"))
            elif len(text) > self.max_chars:
                problems.append(
                    FieldViolation(
                        f"{path}[{index}]",
                        f"at most {self.max_chars} characters, got {len(text)}",
                    )
                )
        return problems
