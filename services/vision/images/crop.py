"""A region of a picture as a picture of its own (a hand for the sign model): padded, clipped
to the image, encoded as PNG so a provider receives an ordinary image file."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from services.vision.images.decode import Picture
from services.vision.records import Box

PADDING = 0.2  # of the box's size on each side: a sign model wants the whole hand and a margin


def crop(picture: Picture, box: Box) -> Picture:
    pad_x, pad_y = box.width * PADDING, box.height * PADDING
    left = max(0, int((box.left - pad_x) * picture.width))
    top = max(0, int((box.top - pad_y) * picture.height))
    right = min(picture.width, max(left + 1, int((box.left + box.width + pad_x) * picture.width)))
    bottom = min(picture.height,
                 max(top + 1, int((box.top + box.height + pad_y) * picture.height)))  # fmt: skip
    pixels = picture.pixels[top:bottom, left:right].copy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    return Picture(pixels, data, "image/png", hashlib.sha256(data).hexdigest())
