"""Domain values and records ↔ contract messages: the one place that knows both shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from services.translate.catalogue import Leg, Route
from services.translate.detection import Detected
from services.translate.records import Figures, TranslationRecord
from services.translate.translator import Job, Outcome
from voka.translate.v1 import translate_pb2
from voka.wellknown import duration, timestamp


def time_field(message: Any, name: str) -> datetime | None:
    """An optional Timestamp field of a request, None when unset."""
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    return value.ToDatetime(tzinfo=UTC)


def job(
    request: translate_pb2.TranslateTextRequest | translate_pb2.StreamTranslateTextRequest,
    origin: int,
    source: str = "",
    target: str = "",
) -> Job:
    """A validated request's text to translate; `source`/`target` fill empty languages (a
    batch's defaults)."""
    return Job(
        text=request.text,
        source=request.source_language_code or source,
        target=request.target_language_code or target,
        engine=request.engine,
        skip_history=request.skip_history,
        origin=origin,
    )


def leg(value: Leg, loaded: bool = True) -> translate_pb2.TranslationLeg:
    return translate_pb2.TranslationLeg(
        source_language_code=value.source,
        target_language_code=value.target,
        engine=value.engine,  # type: ignore[arg-type]
        model=value.model,
        installed=value.installed,
        loaded=loaded and value.installed,
    )


def leg_from_json(value: dict[str, Any]) -> translate_pb2.TranslationLeg:
    return translate_pb2.TranslationLeg(**value, installed=True, loaded=True)


def leg_to_json(value: Leg) -> dict[str, Any]:
    return {
        "source_language_code": value.source,
        "target_language_code": value.target,
        "engine": value.engine,
        "model": value.model,
    }


def detected(value: Detected) -> translate_pb2.DetectedLanguage:
    return translate_pb2.DetectedLanguage(language_code=value.language, confidence=value.confidence)


def pair(route: Route) -> translate_pb2.LanguagePair:
    """A catalogue pair; its legs' `loaded` is filled by the caller, for the page shown."""
    return translate_pb2.LanguagePair(
        name=f"language-pairs/{route.source}-{route.target}",
        source_language_code=route.source,
        target_language_code=route.target,
        route_type=translate_pb2.ROUTE_TYPE_PIVOT
        if route.is_pivot
        else translate_pb2.ROUTE_TYPE_DIRECT,
        pivot_language_code=route.legs[0].target if route.is_pivot else "",
        legs=[leg(x, loaded=False) for x in route.legs],
        engine=route.engine,  # type: ignore[arg-type]
        installed=route.installed,
        install_commands=route.install_commands,
    )


def response(
    job: Job, outcome: Outcome, translation_id: str
) -> translate_pb2.TranslateTextResponse:
    message = translate_pb2.TranslateTextResponse(
        translated_text=outcome.text,
        source_language_code=outcome.source,
        target_language_code=outcome.target,
        engine=outcome.engine,  # type: ignore[arg-type]
        model=outcome.legs[-1].model if outcome.legs else "",
        legs=[leg(x) for x in outcome.legs],
        character_count=len(job.text),
        cached=outcome.cached,
        latency=duration(outcome.latency),
        translation=f"translations/{translation_id}" if translation_id else "",
        number_check=outcome.number_check,  # type: ignore[arg-type]
    )
    if outcome.detected is not None:
        message.detected_language.CopyFrom(detected(outcome.detected))
    return message


def translation(record: TranslationRecord) -> translate_pb2.Translation:
    message = translate_pb2.Translation(
        name=record.name,
        owner=record.owner,
        source_text=record.source_text,
        translated_text=record.translated_text,
        source_language_code=record.source_language_code,
        target_language_code=record.target_language_code,
        engine=record.engine,  # type: ignore[arg-type]
        legs=[leg_from_json(x) for x in record.legs],
        character_count=record.character_count,
        cached=record.cached,
        latency=duration(record.latency_ms / 1000),
        origin=record.origin,  # type: ignore[arg-type]
        create_time=timestamp(record.create_time),
    )
    if record.detected_language_code:
        found = Detected(record.detected_language_code, record.detected_confidence or 0.0)
        message.detected_language.CopyFrom(detected(found))
    return message


def stats(
    owner: str,
    start: datetime | None,
    end: datetime | None,
    total: Figures,
    groups: dict[tuple[str, str, int], Figures],
) -> translate_pb2.TranslationStats:
    """`owner` is `-` for everyone's; an open window runs from the first request to now."""
    now = datetime.now(UTC)
    message = translate_pb2.TranslationStats(
        owner=owner,
        start_time=timestamp(start or total.first or now),
        end_time=timestamp(end or now),
        **_figures(total),
    )
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].requests, kv[0]))
    for (source, target, engine), figures in ordered:
        group = message.pairs.add(
            source_language_code=source,
            target_language_code=target,
            engine=engine,
            **_figures(figures),
        )
        if figures.last is not None:
            group.last_request_time.CopyFrom(timestamp(figures.last))
    return message


def _figures(figures: Figures) -> dict[str, Any]:
    """The fields TranslationStats and LanguagePairStats share."""
    return {
        "request_count": figures.requests,
        "character_count": figures.characters,
        "error_count": figures.errors,
        "cached_count": figures.cached,
        "mean_latency": duration(figures.mean_ms / 1000),
        "p95_latency": duration(figures.p95_ms / 1000),
    }
