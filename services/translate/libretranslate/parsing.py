"""LibreTranslate's request fields, checked in its order and with its messages, into what to
translate or detect.

Bounds: a text is at most 5,000 characters (TranslateText's limit; LibreTranslate's `charLimit`),
an array `q` at most 128 texts (BatchTranslateText's), `alternatives` at most 3. Language codes
are matched case-insensitively, LibreTranslate's aliases included (`zh-Hans` is `zh`, `pb` and
`pt-BR` are `pt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.translate import validation
from services.translate.catalogue import AUTO, LANGUAGES
from services.translate.libretranslate import refusals
from services.translate.libretranslate.forms import Fields

MAX_ALTERNATIVES = 3
TEXT = "text"
HTML = "html"
FORMATS = (TEXT, HTML)
ALIASES = {"zh-hans": "zh", "pb": "pt", "pt-br": "pt"}
NOT_TEXTS = "Invalid request: q must be a string or an array of strings"


@dataclass(frozen=True)
class TranslateAsk:
    """A checked `POST /translate`."""

    texts: list[str]
    batch: bool  # `q` was an array: every answer field is an array too
    source: str  # a catalogue code or `auto`
    target: str
    format: str  # `text` or `html`
    alternatives: int


def api_key(fields: Fields) -> str:
    value = fields.get("api_key")
    return value.strip() if isinstance(value, str) else ""


def translate_ask(fields: Fields, is_json: bool) -> TranslateAsk:
    """LibreTranslate's checks of `/translate`, in its order: presence of `q`, `source` and
    `target`; `alternatives`; sizes; the languages; the format."""
    texts, batch = _texts(fields.get("q"), is_json)
    source, target = _code(fields, "source"), _code(fields, "target")
    alternatives = _alternatives(fields.get("alternatives", 0))
    if batch and len(texts) > validation.MAX_BATCH_ITEMS:
        raise refusals.too_long("q", len(texts), validation.MAX_BATCH_ITEMS)
    for text in texts:
        if len(text) > validation.MAX_TEXT_CHARS:
            raise refusals.too_long("q", len(text), validation.MAX_TEXT_CHARS)
    _known(source, "source", allow_auto=True)
    _known(target, "target", allow_auto=False)
    text_format = fields.get("format") or TEXT
    if text_format not in FORMATS:
        raise refusals.invalid("format", f"{text_format} format is not supported")
    return TranslateAsk(texts, batch, source, target, text_format, alternatives)


def detect_text(fields: Fields) -> str:
    """`/detect`'s `q`: a text, or an array of texts detected as one (LibreTranslate pools
    their candidates)."""
    texts, _ = _texts(fields.get("q"), is_json=True)
    text = "\n".join(texts)
    if len(text) > validation.MAX_TEXT_CHARS:
        raise refusals.too_long("q", len(text), validation.MAX_TEXT_CHARS)
    return text


def _texts(q: Any, is_json: bool) -> tuple[list[str], bool]:
    if not q:
        raise refusals.missing("q")
    if isinstance(q, list):
        if not all(isinstance(text, str) for text in q):
            raise refusals.invalid("q", NOT_TEXTS)
        return list(q), True
    if not isinstance(q, str):
        raise refusals.invalid("q", NOT_TEXTS)
    # Form text: LF line endings only, so the character limit counts the same everywhere.
    return [q if is_json else "\n".join(q.splitlines())], False


def _code(fields: Fields, name: str) -> str:
    value = fields.get(name)
    if not value:
        raise refusals.missing(name)
    if not isinstance(value, str):
        raise refusals.invalid(name, f"Invalid request: {name} must be a language code")
    code = value.strip().lower()
    return ALIASES.get(code, code)


def _alternatives(value: Any) -> int:
    try:
        count = max(0, int(value))
    except (TypeError, ValueError):
        raise refusals.invalid(
            "alternatives", "Invalid request: alternatives parameter is not a number"
        ) from None
    if count > MAX_ALTERNATIVES:
        raise refusals.invalid(
            "alternatives",
            f"Invalid request: alternatives parameter must be <= {MAX_ALTERNATIVES}",
        )
    return count


def _known(code: str, field: str, *, allow_auto: bool) -> None:
    if code == AUTO and allow_auto:
        return
    if code not in LANGUAGES:
        raise refusals.invalid(field, f"{code} is not supported")
