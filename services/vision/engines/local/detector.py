"""Objects with the SSD-MobileNetV2 Open Images detector (23 classes: Cat, Dog, Person, Car,
Coffee cup, ...) on ai-edge-litert, the TensorFlow Lite runtime published on PyPI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from services.vision.engines.local import ssd
from services.vision.engines.local.assets import detector_files
from services.vision.engines.local.loading import Lazy
from services.vision.images.decode import Picture
from services.vision.records import Box, Detection
from services.vision.workers import Workers


@dataclass
class _Model:
    interpreter: Any  # ai_edge_litert.interpreter.Interpreter (untyped)
    input_index: int
    box_index: int
    class_index: int
    labels: list[str]
    anchors: ssd.Floats


def _load(models_dir: Path) -> _Model:
    model_path, labels_path = detector_files(models_dir)
    interpreter = Interpreter(model_path=str(model_path), num_threads=1)
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    boxes, classes = interpreter.get_output_details()
    labels = labels_path.read_text().split("\n")
    return _Model(interpreter, source["index"], boxes["index"], classes["index"], labels,
                  ssd.anchors())  # fmt: skip


class LocalDetector:
    """The detector in the service's worker threads."""

    name = "local/ssd-mobilenet-v2-oid"

    def __init__(self, models_dir: Path, workers: Workers) -> None:
        self._model = Lazy(lambda: _load(models_dir))
        self._workers = workers

    async def detect(self, picture: Picture, max_results: int, min_score: float) -> list[Detection]:
        return await self._workers.run(
            "the object detector", self.detect_now, picture, max_results, min_score
        )

    def detect_now(self, picture: Picture, max_results: int, min_score: float) -> list[Detection]:
        """The detection itself, in the calling thread (a worker, or a benchmark's)."""
        size = (ssd.INPUT_SIZE, ssd.INPUT_SIZE)
        resized = Image.fromarray(picture.pixels).resize(size, Image.Resampling.BILINEAR)
        tensor = (np.asarray(resized, dtype=np.float32) / 127.5 - 1.0)[None]
        with self._model.lock:
            model = self._model.get()
            model.interpreter.set_tensor(model.input_index, tensor)
            model.interpreter.invoke()
            encodings = model.interpreter.get_tensor(model.box_index)[0]
            logits = model.interpreter.get_tensor(model.class_index)[0]
        boxes = ssd.decode_boxes(encodings, model.anchors)
        kept = ssd.select(boxes, logits, min_score=min_score, max_results=max_results)
        return [Detection(model.labels[cls], score, _box(box)) for cls, score, box in kept]


def _box(corners: ssd.Floats) -> Box:
    top, left, bottom, right = (float(v) for v in corners)
    return Box(left, top, right - left, bottom - top)
