"""Requests → field violations, every bad field named at once (INVALID_ARGUMENT). The image's
own checks (size, type, pixels, decoding) are `images.decode`'s, on `body`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voka.errors import FieldViolation
from voka.vision.v1 import vision_pb2

MAX_RESULTS, DEFAULT_RESULTS = 50, 10
MAX_HANDS, DEFAULT_HANDS = 4, 2
DEVICE = re.compile(r"^devices/[0-9]{1,3}$")
ANALYSIS = re.compile(r"^analyses/([0-9a-f]{32})$")


@dataclass(frozen=True)
class ImageSource:
    """Where a request's image comes from: its body, or a Kinect device (`devices/{n}`)."""

    data: bytes
    kinect_device: str


def source(body_data: bytes, kinect_device: str) -> tuple[ImageSource, list[FieldViolation]]:
    """Exactly one of the body and a Kinect device."""
    if kinect_device:
        if body_data:
            return ImageSource(b"", ""), [
                FieldViolation(
                    "kinect_device", "give either an image body or a Kinect device, not both"
                )
            ]
        if not DEVICE.match(kinect_device):
            return ImageSource(b"", ""), [
                FieldViolation("kinect_device", "must be `devices/{device}`, e.g. devices/0")
            ]
    return ImageSource(body_data, kinect_device), []  # an empty body is the decoder's to refuse


def _bounded(value: int, path: str, default: int, most: int) -> tuple[int, list[FieldViolation]]:
    if value < 0 or value > most:
        return 0, [FieldViolation(path, f"must be between 1 and {most} (0: {default})")]
    return value or default, []


def analyze(
    request: vision_pb2.AnalyzeImageRequest,
) -> tuple[ImageSource, int, float, list[FieldViolation]]:
    """AnalyzeImage's source, result count and threshold (0: the service's defaults)."""
    found, violations = source(request.body.data, request.kinect_device)
    count, bad = _bounded(request.max_results, "max_results", DEFAULT_RESULTS, MAX_RESULTS)
    violations += bad
    if not 0.0 <= request.min_score <= 1.0:
        violations.append(FieldViolation("min_score", "must be between 0 and 1"))
    return found, count, request.min_score, violations


def hands(
    request: vision_pb2.DetectHandsRequest,
) -> tuple[ImageSource, int, list[FieldViolation]]:
    """DetectHands' source and hand count."""
    found, violations = source(request.body.data, request.kinect_device)
    count, bad = _bounded(request.max_hands, "max_hands", DEFAULT_HANDS, MAX_HANDS)
    return found, count, violations + bad


def analysis_id(name: str, path: str = "name") -> tuple[str, list[FieldViolation]]:
    matched = ANALYSIS.match(name)
    if matched is None:
        return "", [FieldViolation(path, "must be `analyses/{analysis}`")]
    return matched.group(1), []


def list_kind(kind: int) -> list[FieldViolation]:
    if kind not in vision_pb2.AnalysisKind.values():
        return [FieldViolation("kind", "is not an AnalysisKind")]
    return []
