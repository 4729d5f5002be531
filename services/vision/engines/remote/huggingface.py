"""The Hugging Face Inference API, as OVA used it: the raw image POSTed to
`{base}/models/{model}` with the token as a bearer. Its answers by task:

* object detection: `[{"label", "score", "box": {"xmin", "ymin", "xmax", "ymax"}}]` in pixels;
* image classification (the sign model): `[{"label", "score"}]`, best first;
* image to text (captions): `[{"generated_text"}]`.
"""

from __future__ import annotations

from typing import Any

from services.vision.engines.remote.guard import Guard
from services.vision.images.decode import Picture
from services.vision.records import Box, Caption, Detection, Label


class HuggingFace:
    """One token, one guard, any number of models."""

    def __init__(self, base_url: str, token: str, guard: Guard) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self.guard = guard

    async def infer(self, model: str, picture: Picture) -> list[dict[str, Any]]:
        headers = {"Content-Type": picture.content_type}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        answer = await self.guard.post(
            f"{self._base}/models/{model}", headers, content=picture.data
        )
        if not isinstance(answer, list) or not all(isinstance(a, dict) for a in answer):
            raise self.guard.malformed("something other than a list of results")
        return answer


class HfObjectDetector:
    """Objects from an object-detection model (HF_MODELO_IMG)."""

    def __init__(self, client: HuggingFace, model: str) -> None:
        self.name = f"huggingface/{model}"
        self._client = client
        self._model = model

    async def detect(self, picture: Picture, max_results: int, min_score: float) -> list[Detection]:
        found = []
        for item in await self._client.infer(self._model, picture):
            try:
                box = item["box"]
                left, top = float(box["xmin"]) / picture.width, float(box["ymin"]) / picture.height
                right = float(box["xmax"]) / picture.width
                bottom = float(box["ymax"]) / picture.height
                detection = Detection(str(item["label"]), float(item["score"]),
                                      Box(left, top, right - left, bottom - top))  # fmt: skip
            except (KeyError, TypeError, ValueError) as exc:
                raise self._client.guard.malformed(f"a detection without {exc}") from exc
            if detection.score >= min_score:
                found.append(detection)
        found.sort(key=lambda d: -d.score)
        return found[:max_results]


class HfSignClassifier:
    """The sign a hand shows, from an image-classification model of signs (HF_MODELO_SIGN)."""

    def __init__(self, client: HuggingFace, model: str) -> None:
        self.name = f"huggingface/{model}"
        self._client = client
        self._model = model

    async def sign(self, crop: Picture) -> Label | None:
        answer = await self._client.infer(self._model, crop)
        try:
            best = max(answer, key=lambda item: float(item["score"]), default=None)
            return None if best is None else Label(str(best["label"]), float(best["score"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise self._client.guard.malformed(f"a label without {exc}") from exc


class HfCaptioner:
    """Captions from an image-to-text model."""

    def __init__(self, client: HuggingFace, model: str) -> None:
        self.name = f"huggingface/{model}"
        self._client = client
        self._model = model

    async def caption(
        self, picture: Picture, objects: list[Detection], labels: list[Label]
    ) -> Caption:
        answer = await self._client.infer(self._model, picture)
        try:
            return Caption(str(answer[0]["generated_text"]).strip(), self.name)
        except (IndexError, KeyError) as exc:
            raise self._client.guard.malformed("no generated_text") from exc
