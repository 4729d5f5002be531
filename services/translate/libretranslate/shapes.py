"""LibreTranslate's JSON answers, as the bodies of HttpBody responses (UTF-8, not ASCII-escaped,
as LibreTranslate sends them). Confidences are LibreTranslate's 0 to 100, rounded to a whole
number; Voka's detector gives 0 to 1."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.api import httpbody_pb2

from services.translate.catalogue import AUTO
from services.translate.libretranslate.parsing import TranslateAsk

CONTENT_TYPE = "application/json"
# How long LibreTranslate's web UI waits after a keystroke before translating, in ms (its
# default).
FRONTEND_TIMEOUT_MS = 500


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float  # 0 to 1


@dataclass(frozen=True)
class Result:
    """One translated text, with what detection found when the source was `auto`."""

    text: str
    detected: Detection | None


@dataclass(frozen=True)
class LanguageEntry:
    code: str
    name: str
    targets: Sequence[str]


def body(value: Any) -> httpbody_pb2.HttpBody:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=data)


def detection(found: Detection) -> dict[str, Any]:
    return {"confidence": float(round(found.confidence * 100)), "language": found.language}


def translated(ask: TranslateAsk, results: Sequence[Result]) -> httpbody_pb2.HttpBody:
    """`{"translatedText", "detectedLanguage"?, "alternatives"?}`: arrays when `q` was an array;
    `detectedLanguage` when the source was `auto`; `alternatives` when some were asked for
    (none are offered: the engines give one translation each)."""
    texts = [r.text for r in results]
    found = [detection(r.detected) if r.detected else None for r in results]
    answer: dict[str, Any] = {"translatedText": texts if ask.batch else texts[0]}
    if ask.source == AUTO:
        answer["detectedLanguage"] = found if ask.batch else found[0]
    if ask.alternatives > 0:
        answer["alternatives"] = [[] for _ in results] if ask.batch else []
    return body(answer)


def detections(found: Sequence[Detection]) -> httpbody_pb2.HttpBody:
    return body([detection(d) for d in found])


def languages(entries: Sequence[LanguageEntry]) -> httpbody_pb2.HttpBody:
    return body([{"code": e.code, "name": e.name, "targets": list(e.targets)} for e in entries])


def frontend_settings(char_limit: int, target: LanguageEntry | None) -> httpbody_pb2.HttpBody:
    """What LibreTranslate's web UI and clients read first: an API key is needed, no files."""
    default_target = {"code": target.code, "name": target.name} if target else None
    return body(
        {
            "charLimit": char_limit,
            "frontendTimeout": FRONTEND_TIMEOUT_MS,
            "apiKeys": True,
            "keyRequired": True,
            "suggestions": False,
            "filesTranslation": False,
            "supportedFilesFormat": [],
            "language": {
                "source": {"code": AUTO, "name": "Auto Detect"},
                "target": default_target,
            },
        }
    )
