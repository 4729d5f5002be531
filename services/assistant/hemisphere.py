"""The hemisphere balance: technical ↔ emotional weights that shape a reply's system prompt and,
where the request leaves them unset, its sampling. The most specific setting wins: the request,
then the conversation, then the user, then what the user's profile learned from their feedback,
then the service's default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

TOLERANCE = 0.001
COOL, WARM = 0.3, 0.9  # temperature of a purely technical and a purely emotional reply

Source: TypeAlias = assistant_pb2.HemisphereSource.ValueType
DEFAULT = assistant_pb2.HEMISPHERE_SOURCE_DEFAULT
USER = assistant_pb2.HEMISPHERE_SOURCE_USER
CONVERSATION = assistant_pb2.HEMISPHERE_SOURCE_CONVERSATION
REQUEST = assistant_pb2.HEMISPHERE_SOURCE_REQUEST
PROFILE = assistant_pb2.HEMISPHERE_SOURCE_PROFILE


@dataclass(frozen=True)
class Balance:
    """Two weights in 0..1 summing to 1."""

    technical: float
    emotional: float

    @classmethod
    def of(cls, message: assistant_pb2.HemisphereBalance) -> Balance:
        return cls(message.technical, message.emotional)

    def message(self) -> assistant_pb2.HemisphereBalance:
        return assistant_pb2.HemisphereBalance(technical=self.technical, emotional=self.emotional)


@dataclass(frozen=True)
class InForce:
    """The balance that applies, where it comes from and when it was set (None: default)."""

    balance: Balance
    source: Source
    update_time: datetime | None = None


def check(message: assistant_pb2.HemisphereBalance, path: str) -> list[FieldViolation]:
    """Each weight within 0..1, and the two summing to 1 (within 0.001)."""
    problems = [
        FieldViolation(f"{path}.{side}", "must be between 0 and 1")
        for side in ("technical", "emotional")
        if not 0.0 <= getattr(message, side) <= 1.0
    ]
    if not problems and abs(message.technical + message.emotional - 1.0) > TOLERANCE:
        problems.append(FieldViolation(path, "technical and emotional must sum to 1"))
    return problems


def temperature(balance: Balance) -> float:
    """Cooler for technical answers, warmer for emotional ones."""
    return round(COOL + (WARM - COOL) * balance.emotional, 3)


def instructions(balance: Balance) -> str:
    """The system prompt's line on tone, from the weights."""
    if balance.technical >= 0.7:
        tone = "Be precise, structured and factual; prefer short, exact answers."
    elif balance.emotional >= 0.7:
        tone = "Be warm, empathetic and conversational; acknowledge feelings."
    else:
        tone = "Balance clear facts with a friendly, encouraging tone."
    return f"{tone} (technical {balance.technical:.2f}, emotional {balance.emotional:.2f})"
