"""A user message's images on their way to a model and into the stored conversation: for a
model that cannot see, each image is described by the vision service and the description is
stored with it (what the model was told); the prompt then carries those descriptions, or the
images themselves for a vision-capable model. Earlier turns are shown the same way, from the
stored message."""

from __future__ import annotations

from collections.abc import Sequence

from services.assistant.images.limits import sniff
from services.assistant.images.vision import VisionClient
from services.assistant.providers.base import Image
from voka.assistant.v1 import assistant_pb2


class Attachments:
    """Describes images for models that cannot see them."""

    def __init__(self, vision: VisionClient) -> None:
        self._vision = vision

    async def stored(
        self, images: Sequence[assistant_pb2.ImageAttachment], owner: str, *, sees: bool
    ) -> list[assistant_pb2.ImageAttachment]:
        """The images as the user's message keeps them (validated already): type, size and,
        unless the model sees them itself, the vision service's description."""
        kept = []
        for image in images:
            description = "" if sees else await self._vision.describe(image.data, owner)
            kept.append(
                assistant_pb2.ImageAttachment(
                    data=image.data,
                    mime_type=sniff(image.data) or "",
                    size_bytes=len(image.data),
                    description=description,
                )
            )
        return kept


def shown(
    message: assistant_pb2.Message | assistant_pb2.ChatMessage, *, sees: bool
) -> tuple[str, tuple[Image, ...]]:
    """A message's text and images (stored, or a stand-alone chat's) as a model gets them: a
    model that sees gets the images; any other their descriptions before the text."""
    if sees:
        return message.content, tuple(Image(i.mime_type, i.data) for i in message.images)
    notes = [i.description or "The user attached an image (not described)." for i in message.images]
    return "\n".join([*notes, message.content]), ()
