"""Bytes → an RGB picture, refusing what must not be decoded.

The checks run cheapest first, each naming `body` in INVALID_ARGUMENT: the size of the upload,
its magic bytes (PNG, JPEG, GIF, BMP, WebP; never the Content-Type or a file name), then the
dimensions its header declares, read by Pillow's lazy `Image.open` before any pixel is
decoded: a 20 000 x 20 000 PNG of a few hundred bytes (a decompression bomb) is refused
without allocating its 1.2 GB. Only then are the pixels decoded. Decoding is CPU work and runs
in the service's worker threads, never on the event loop.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from voka import errors
from voka.errors import FieldViolation

FIELD = "body"
# Magic bytes → MIME type; WebP is a RIFF container whose form type is at bytes 8-12.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
PIL_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "BMP": "image/bmp",
               "WEBP": "image/webp"}  # fmt: skip


@dataclass(frozen=True)
class Picture:
    """A decoded image: its pixels (height x width x 3, uint8) and what is kept of it."""

    pixels: NDArray[np.uint8]
    data: bytes
    content_type: str
    sha256: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def refuse(description: str) -> errors.VokaError:
    return errors.invalid_argument([FieldViolation(FIELD, description)])


def sniff(data: bytes) -> str:
    """The MIME type the bytes show, or INVALID_ARGUMENT when they are no image we take."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, content_type in SIGNATURES:
        if data.startswith(magic):
            return content_type
    raise refuse("is not an image: PNG, JPEG, GIF, BMP or WebP expected")


class Decoder:
    """The service's bounds on images, and the decoding within them."""

    def __init__(self, *, max_bytes: int, max_pixels: int) -> None:
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        # Pillow's own guard, process-wide, at the same bound: a path that opens an image
        # without this class (a provider's thumbnail, say) is still covered.
        Image.MAX_IMAGE_PIXELS = max_pixels

    def check_size(self, data: bytes) -> None:
        """Cheap enough for the event loop: refused before any work is queued."""
        if not data:
            raise refuse("is empty: send the image as the request body")
        if len(data) > self.max_bytes:
            raise refuse(f"is {len(data)} bytes, more than the {self.max_bytes} allowed")

    def decode(self, data: bytes) -> Picture:
        """The picture, or INVALID_ARGUMENT naming what is wrong with the bytes."""
        self.check_size(data)
        content_type = sniff(data)
        with warnings.catch_warnings():
            # Pillow's guard (at our bound) warns up to twice it, where our own check refuses
            # with the dimensions, and raises beyond it, before our check can run.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(data)) as image:
                    self._check_dimensions(*image.size)
                    if PIL_FORMATS.get(image.format or "") != content_type:
                        raise refuse(f"does not decode as {content_type}")
                    image.load()  # the pixels, now that their number is known to be bounded
                    rgb = ImageOps.exif_transpose(image).convert("RGB")
            except errors.VokaError:
                raise
            except Image.DecompressionBombError as exc:
                raise refuse(
                    f"declares more than {2 * self.max_pixels} pixels, more than the "
                    f"{self.max_pixels} allowed"
                ) from exc
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                raise refuse(f"does not decode as {content_type}: {exc}") from exc
        pixels = np.asarray(rgb, dtype=np.uint8)
        return Picture(pixels, data, content_type, hashlib.sha256(data).hexdigest())

    def _check_dimensions(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise refuse(f"declares an empty image ({width} x {height})")
        if width * height > self.max_pixels:
            raise refuse(
                f"declares {width} x {height} pixels, more than the {self.max_pixels} allowed"
            )
