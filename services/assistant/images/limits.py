"""The bounds of a message's images: how many, how large, and which types (PNG, JPEG and WebP,
sniffed from the bytes, never trusted from the caller). The stored conversation keeps each
image with its message, so these bounds are also what one message may store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

# What each accepted type's bytes start with (WebP: a RIFF container whose form is WEBP).
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


def sniff(data: bytes) -> str | None:
    """The image type `data` shows, or None when it is none of PNG, JPEG and WebP."""
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class ImageLimits:
    """At most `count` images per message, each of at most `size` bytes."""

    count: int
    size: int

    def violations(
        self, images: Sequence[assistant_pb2.ImageAttachment], path: str = "images"
    ) -> list[FieldViolation]:
        """Each problem with a message's images, by field path."""
        if len(images) > self.count:
            return [FieldViolation(path, f"at most {self.count} images per message")]
        problems = []
        for index, image in enumerate(images):
            where = f"{path}[{index}].data"
            if len(image.data) > self.size:
                problems.append(FieldViolation(where, f"must be at most {self.size} bytes"))
            elif sniff(image.data) is None:
                problems.append(FieldViolation(where, "must be a PNG, JPEG or WebP image"))
        return problems

    def in_messages(self, messages: Sequence[assistant_pb2.ChatMessage]) -> list[FieldViolation]:
        """Each problem with a stand-alone chat's images, as `messages[i].images...`."""
        return [
            problem
            for index, message in enumerate(messages)
            for problem in self.violations(message.images, f"messages[{index}].images")
        ]
