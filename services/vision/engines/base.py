"""What every engine of a task offers, local or remote, so the analyses never ask which one
runs. Each engine has a `name` the results carry (`local/...`, `huggingface/<model>`, ...).

Calls are async: a local engine runs its model in the service's bounded worker threads, a
remote one awaits its provider through a guard (timeout, retries with backoff, breaker).
"""

from __future__ import annotations

from typing import Protocol

from services.vision.images.decode import Picture
from services.vision.records import Caption, Detection, HandFinding, Label


class ObjectDetector(Protocol):
    name: str

    async def detect(self, picture: Picture, max_results: int, min_score: float) -> list[Detection]:
        """Objects, best first."""
        ...


class ImageClassifier(Protocol):
    name: str

    async def classify(self, picture: Picture, max_results: int, min_score: float) -> list[Label]:
        """Labels of the whole image, best first."""
        ...


class Captioner(Protocol):
    name: str

    async def caption(
        self, picture: Picture, objects: list[Detection], labels: list[Label]
    ) -> Caption:
        """A sentence about the image (what was found may help a weaker captioner)."""
        ...


class HandDetector(Protocol):
    name: str

    async def hands(self, picture: Picture, max_hands: int) -> list[HandFinding]:
        """Hands, most confident first."""
        ...


class SignClassifier(Protocol):
    """Names the sign a hand shows, from a crop around it (the remote provider's job)."""

    name: str

    async def sign(self, crop: Picture) -> Label | None: ...
