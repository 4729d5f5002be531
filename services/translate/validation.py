"""Field-level checks of requests: every bad field is named, all at once, by its path in the
request (`requests[2].target_language_code`), so a caller fixes a batch in one round."""

from __future__ import annotations

from collections.abc import Sequence

from services.translate import convert
from services.translate.catalogue import AUTO, LANGUAGES
from voka import errors
from voka.errors import FieldViolation
from voka.translate.v1 import translate_pb2

MAX_TEXT_CHARS = 5_000
MAX_BATCH_ITEMS = 128
MAX_BATCH_CHARS = 100_000
TRANSLATIONS = "translations"


def check(*groups: Sequence[FieldViolation]) -> None:
    """INVALID_ARGUMENT naming every violation of every group, if there is any."""
    if any(groups):
        raise errors.invalid_argument([v for group in groups for v in group])


def text(value: str, path: str) -> list[FieldViolation]:
    if not value.strip():
        return [FieldViolation(path, "must not be empty")]
    if len(value) > MAX_TEXT_CHARS:
        return [FieldViolation(path, f"must be at most {MAX_TEXT_CHARS} characters")]
    if "\x00" in value:  # PostgreSQL stores no NUL in text: the history could not keep it
        return [FieldViolation(path, "must not contain NUL characters")]
    return []


def language(code: str, path: str, *, allow_auto: bool, required: bool) -> list[FieldViolation]:
    if not code:
        return [FieldViolation(path, "is required")] if required else []
    if code == AUTO and allow_auto:
        return []
    if code not in LANGUAGES:
        known = ", ".join(sorted(LANGUAGES))
        return [FieldViolation(path, f"unknown language code {code!r} (known: {known})")]
    return []


def filter_language(code: str, path: str) -> list[FieldViolation]:
    return language(code, path, allow_auto=False, required=False)


def engine(value: int, path: str) -> list[FieldViolation]:
    if value not in translate_pb2.Engine.values():
        return [FieldViolation(path, f"unknown engine {value}")]
    return []


def item(
    request: translate_pb2.TranslateTextRequest | translate_pb2.StreamTranslateTextRequest,
    prefix: str = "",
    target_default: str = "",
) -> list[FieldViolation]:
    """One text to translate: a TranslateText request, a batch item (`prefix` is its path,
    `target_default` the batch's target) or a stream segment (its languages carried over)."""
    return [
        *text(request.text, f"{prefix}text"),
        *language(
            request.source_language_code,
            f"{prefix}source_language_code",
            allow_auto=True,
            required=False,
        ),
        *language(
            request.target_language_code or target_default,
            f"{prefix}target_language_code",
            allow_auto=False,
            required=True,
        ),
        *engine(request.engine, f"{prefix}engine"),
    ]


def batch(request: translate_pb2.BatchTranslateTextRequest) -> list[FieldViolation]:
    violations = [
        *language(
            request.source_language_code, "source_language_code", allow_auto=True, required=False
        ),
        *language(
            request.target_language_code, "target_language_code", allow_auto=False, required=False
        ),
    ]
    count = len(request.requests)
    if not 1 <= count <= MAX_BATCH_ITEMS:
        violations.append(
            FieldViolation("requests", f"must hold 1 to {MAX_BATCH_ITEMS} items, not {count}")
        )
    if sum(len(r.text) for r in request.requests) > MAX_BATCH_CHARS:
        violations.append(
            FieldViolation("requests", f"must hold at most {MAX_BATCH_CHARS} characters in all")
        )
    for i, entry in enumerate(request.requests):
        violations += item(entry, f"requests[{i}].", request.target_language_code)
    return violations


def history_filter(
    request: translate_pb2.ListTranslationsRequest | translate_pb2.PurgeTranslationsRequest,
) -> list[FieldViolation]:
    """The pair and time window of ListTranslations and PurgeTranslations."""
    violations = [
        *filter_language(request.source_language_code, "source_language_code"),
        *filter_language(request.target_language_code, "target_language_code"),
    ]
    start, end = convert.time_field(request, "start_time"), convert.time_field(request, "end_time")
    if start and end and start >= end:
        violations.append(FieldViolation("end_time", "must be after start_time"))
    return violations


def pair_filter(request: translate_pb2.ListLanguagePairsRequest) -> list[FieldViolation]:
    return [
        *filter_language(request.source_language_code, "source_language_code"),
        *filter_language(request.target_language_code, "target_language_code"),
        *engine(request.engine, "engine"),
    ]


def translation_id(name: str, path: str = "name") -> str:
    """The id in `translations/{id}`; INVALID_ARGUMENT when `name` is not one."""
    prefix, _, found = name.partition("/")
    if prefix != TRANSLATIONS or not found:
        raise errors.invalid_argument([FieldViolation(path, "must be translations/{id}")])
    return found
