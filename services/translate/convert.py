"""Domain values ↔ contract messages."""

from __future__ import annotations

from typing import Any

from services.translate.catalogue import Leg, Route
from services.translate.detection import Detected
from voka.translate.v1 import translate_pb2
from voka.wellknown import duration, timestamp


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


def translation(row: dict[str, Any]) -> translate_pb2.Translation:
    message = translate_pb2.Translation(
        name=f"translations/{row['id']}",
        owner=row["owner"],
        source_text=row["source_text"],
        translated_text=row["translated_text"],
        source_language_code=row["source_language_code"],
        target_language_code=row["target_language_code"],
        engine=row["engine"],
        legs=[leg_from_json(x) for x in row["legs"]],
        character_count=row["character_count"],
        cached=row["cached"],
        latency=duration(row["latency_ms"] / 1000),
        origin=row["origin"],
        create_time=timestamp(row["create_time"]),
    )
    if row["detected_language_code"]:
        message.detected_language.CopyFrom(
            detected(Detected(row["detected_language_code"], row["detected_confidence"] or 0.0))
        )
    return message
