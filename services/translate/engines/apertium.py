"""Apertium, the rule-based engine that runs here out of the box: Debian's `apertium` program
with its pair packages. One run per batch, one text per line: the program's start-up (~0.2 s)
is paid once per batch, not once per text."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Mapping, Sequence

from services.translate.engines.base import EngineError, ModelMissingError
from voka.translate.v1 import translate_pb2

# ISO 639-1 → ISO 639-3, as Apertium's newer pairs name their modes (`eng-spa`); older pairs
# use the two-letter codes (`fr-es`), so both are tried.
THREE_LETTER: Mapping[str, str] = {
    "ar": "ara",
    "ca": "cat",
    "de": "deu",
    "en": "eng",
    "es": "spa",
    "fr": "fra",
    "it": "ita",
    "ja": "jpn",
    "ko": "kor",
    "nl": "nld",
    "pl": "pol",
    "pt": "por",
    "ru": "rus",
    "tr": "tur",
    "zh": "zho",
}


class ApertiumEngine:
    """Runs `apertium -u <mode>` with the texts on stdin; never through a shell."""

    def __init__(self, binary: str = "apertium", timeout: float = 30.0) -> None:
        self._binary = binary
        self._timeout = timeout

    @property
    def kind(self) -> int:
        return translate_pb2.ENGINE_APERTIUM

    @functools.cached_property
    def modes(self) -> frozenset[str]:
        """The installed modes (`eng-spa`, `fr-es`, ...); none when the program is missing."""
        try:
            listed = subprocess.run(
                [self._binary, "-l"], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        return frozenset(line.strip() for line in listed.stdout.splitlines() if line.strip())

    def mode(self, source: str, target: str) -> str | None:
        for a in (THREE_LETTER.get(source, source), source):
            for b in (THREE_LETTER.get(target, target), target):
                if f"{a}-{b}" in self.modes:
                    return f"{a}-{b}"
        return None

    def installed(self, source: str, target: str) -> bool:
        return self.mode(source, target) is not None

    def loaded(self, source: str, target: str) -> bool:
        return self.installed(source, target)

    def model_id(self, source: str, target: str) -> str:
        default = f"{THREE_LETTER.get(source, source)}-{THREE_LETTER.get(target, target)}"
        return f"apertium {self.mode(source, target) or default}"

    def translate(self, source: str, target: str, texts: Sequence[str]) -> list[str]:
        mode = self.mode(source, target)
        if mode is None:
            raise ModelMissingError(source, target)
        lines = [" ".join(text.splitlines()) for text in texts]
        output = self._run(mode, "\n".join(lines) + "\n")
        translated = output.split("\n")[: len(lines)]
        if len(translated) != len(lines):
            raise EngineError(f"apertium {mode} returned {len(translated)} of {len(lines)} lines")
        return [line.strip() for line in translated]

    def _run(self, mode: str, stdin: str) -> str:
        try:
            done = subprocess.run(
                [self._binary, "-u", mode],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"apertium {mode} took over {self._timeout:g} s") from exc
        except OSError as exc:
            raise EngineError(f"cannot run {self._binary}: {exc}") from exc
        if done.returncode != 0:
            raise EngineError(f"apertium {mode} failed: {done.stderr.strip()[:300]}")
        return done.stdout
