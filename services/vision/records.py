"""What the engines find and what the service keeps: plain records, free of protobuf, so the
engines, the store and the conversions share one vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the enums' types only: records stay free of protobuf at run time
    from voka.vision.v1 import vision_pb2

COMPOSED_ENGINE = "composed-from-labels"  # a caption no model wrote (Caption.engine)


@dataclass(frozen=True)
class Box:
    """A box as fractions of the image's width and height, origin top left."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Detection:
    """One object: its class, confidence and box."""

    label: str
    score: float
    box: Box


@dataclass(frozen=True)
class Label:
    """One classification label of the whole image."""

    label: str
    score: float


@dataclass(frozen=True)
class Caption:
    """A sentence about the image and who wrote it."""

    text: str
    engine: str


@dataclass(frozen=True)
class Point:
    """A hand landmark: x, y as fractions of the image, z relative depth."""

    x: float
    y: float
    z: float


@dataclass(frozen=True)
class HandFinding:
    """One hand: 21 landmarks, handedness and the gesture its classifier knows."""

    landmarks: tuple[Point, ...]
    handedness: str
    handedness_score: float
    gesture: str
    gesture_score: float
    box: Box


@dataclass(frozen=True)
class Findings:
    """Everything one analysis found, with the engines that found it."""

    objects: tuple[Detection, ...] = ()
    labels: tuple[Label, ...] = ()
    caption: Caption | None = None
    hands: tuple[HandFinding, ...] = ()
    object_engine: str = ""
    label_engine: str = ""
    hand_engine: str = ""
    inference_seconds: float = 0.0


@dataclass(frozen=True)
class ImageFacts:
    """What is kept of the image itself: never its pixels."""

    source: vision_pb2.ImageSource.ValueType
    kinect_device: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class AnalysisRecord:
    """One row of the history."""

    id: str
    owner: str
    kind: vision_pb2.AnalysisKind.ValueType
    image: ImageFacts
    create_time: datetime
    findings: Findings = field(default_factory=Findings)
