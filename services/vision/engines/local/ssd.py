"""SSD decoding for the Open Images SSD-MobileNetV2 of MediaPipe's objectron package.

The tflite gives raw outputs (1917 box encodings and 24 class logits per anchor); MediaPipe's
graph turns them into detections with its anchor and decoding calculators, which this module
does in numpy with the same options (object_detection_oid_v4 graph): six layers at strides 16
to 512 over a 300 x 300 input, scales 0.2 to 0.95, aspect ratios 1, 2, 1/2, 3, 1/3 (the lowest
layer three boxes only) plus one interpolated scale, offsets at the cell centres; encodings
(y, x, h, w) scaled by 10, 10, 5, 5 with exponential sizes; sigmoid scores; class 0 is the
background. Overlapping boxes of one class are suppressed greedily above an IoU of 0.45.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

INPUT_SIZE = 300
STRIDES = (16, 32, 64, 128, 256, 512)
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
Y_SCALE = X_SCALE = 10.0
H_SCALE = W_SCALE = 5.0
NMS_IOU = 0.45

Floats = NDArray[np.float32]


def _scale(layer: int) -> float:
    return MIN_SCALE + (MAX_SCALE - MIN_SCALE) * layer / (len(STRIDES) - 1)


def _layer_shapes(layer: int) -> list[tuple[float, float]]:
    """(scale, aspect ratio) of each anchor of a cell of `layer`."""
    if layer == 0:  # reduce_boxes_in_lowest_layer
        return [(0.1, 1.0), (_scale(0), 2.0), (_scale(0), 0.5)]
    following = 1.0 if layer == len(STRIDES) - 1 else _scale(layer + 1)
    shapes = [(_scale(layer), ratio) for ratio in ASPECT_RATIOS]
    return [*shapes, (math.sqrt(_scale(layer) * following), 1.0)]


def anchors() -> Floats:
    """Every anchor as (y centre, x centre, height, width), fractions of the input."""
    rows: list[tuple[float, float, float, float]] = []
    for layer, stride in enumerate(STRIDES):
        cells = math.ceil(INPUT_SIZE / stride)
        shapes = _layer_shapes(layer)
        for y in range(cells):
            for x in range(cells):
                for scale, ratio in shapes:
                    root = math.sqrt(ratio)
                    rows.append(((y + 0.5) / cells, (x + 0.5) / cells, scale / root, scale * root))
    return np.asarray(rows, dtype=np.float32)


def decode_boxes(encodings: Floats, anchor_boxes: Floats) -> Floats:
    """Encodings → (top, left, bottom, right) fractions, clipped to the image."""
    y = encodings[:, 0] / Y_SCALE * anchor_boxes[:, 2] + anchor_boxes[:, 0]
    x = encodings[:, 1] / X_SCALE * anchor_boxes[:, 3] + anchor_boxes[:, 1]
    h = np.exp(encodings[:, 2] / H_SCALE) * anchor_boxes[:, 2]
    w = np.exp(encodings[:, 3] / W_SCALE) * anchor_boxes[:, 3]
    boxes: Floats = np.clip(np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=1), 0, 1)
    return boxes.astype(np.float32)


def _iou(box: Floats, others: Floats) -> Floats:
    top = np.maximum(box[0], others[:, 0])
    left = np.maximum(box[1], others[:, 1])
    bottom = np.minimum(box[2], others[:, 2])
    right = np.minimum(box[3], others[:, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    overlap: Floats = inter / np.maximum(area + areas - inter, 1e-9)
    return overlap.astype(np.float32)


def select(
    boxes: Floats, logits: Floats, *, min_score: float, max_results: int
) -> list[tuple[int, float, Floats]]:
    """(class, score, box) of the kept detections, best first: each anchor's best class but
    the background, at least `min_score`, the weaker of two same-class boxes that overlap
    suppressed."""
    scores = 1.0 / (1.0 + np.exp(-logits[:, 1:]))
    classes = scores.argmax(axis=1) + 1
    best = scores.max(axis=1)
    order = [int(i) for i in np.argsort(-best) if best[i] >= min_score]
    kept: list[tuple[int, float, Floats]] = []
    for index in order:
        if len(kept) >= max_results:
            break
        same = [box for cls, _, box in kept if cls == classes[index]]
        if same and float(_iou(boxes[index], np.asarray(same)).max()) > NMS_IOU:
            continue
        kept.append((int(classes[index]), float(best[index]), boxes[index]))
    return kept
