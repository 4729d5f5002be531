"""The caption when no captioning model is configured or reachable: a sentence composed from
what the detector and the classifier found, which says that is what it is (its text and its
engine, `composed-from-labels`), so nobody mistakes it for a model's description."""

from __future__ import annotations

from collections import Counter

from services.vision.images.decode import Picture
from services.vision.records import COMPOSED_ENGINE, Caption, Detection, Label

MAX_NAMED = 3  # labels named in the sentence


def _objects(objects: list[Detection]) -> str:
    counts = Counter(o.label.lower() for o in objects)
    return ", ".join(name if n == 1 else f"{n} x {name}" for name, n in counts.most_common())


def compose(objects: list[Detection], labels: list[Label]) -> Caption:
    """One sentence naming the objects, then the likeliest labels."""
    parts = []
    if objects:
        parts.append(f"objects detected: {_objects(objects)}")
    if labels:
        parts.append("it looks like " + ", ".join(label.label for label in labels[:MAX_NAMED]))
    found = "; ".join(parts) if parts else "nothing the detector or the classifier recognises"
    return Caption(f"Composed from labels (no captioning model): {found}.", COMPOSED_ENGINE)


class ComposedCaptioner:
    """The Captioner interface over `compose`; no model, no I/O."""

    name = COMPOSED_ENGINE

    async def caption(
        self, picture: Picture, objects: list[Detection], labels: list[Label]
    ) -> Caption:
        return compose(objects, labels)
