"""Overlapping square tiles at several scales, for running the palm detector on parts of a photo.

Why: the palm detector sees the whole photo squeezed to 192x192, so a hand that is a small part of
the photo is only a few pixels there and is missed. Running it again on overlapping tiles (each a
1/n-th of the photo's long side, enlarged `overlap` times so that a hand on a tile border is whole
in a neighbour) shows such hands n times larger. Tiles below `min_side` pixels are skipped: they
would be upsampled, which adds cost and no detail.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from smhr.teacher.palm import PALM_INPUT, PalmDetection, decode_palms, weighted_nms
from smhr.teacher.rects import HandRect

__all__ = ["palms_in_rect", "tile_rects"]


def _centres(length: float, side: float, stride: float) -> list[float]:
    """Tile centres along one axis: one centred tile when it covers the axis, else evenly spaced
    tiles from edge to edge, no further apart than `stride`."""
    if length <= side:
        return [length / 2.0]
    n = math.ceil((length - side) / stride) + 1
    return list(np.linspace(side / 2.0, length - side / 2.0, n))


def tile_rects(
    image_wh: tuple[int, int], scales: tuple[int, ...] = (2,), overlap: float = 1.2, min_side: float = 128.0
) -> list[HandRect]:
    """Square, axis-aligned tiles: for each n in `scales`, side = overlap x long side / n, centres
    at most side / overlap apart, covering the whole image."""
    W, H = image_wh
    out = []
    for n in scales:
        side = overlap * max(W, H) / n
        if side < min_side:
            continue
        stride = side / overlap
        out += [
            HandRect(cx, cy, side, side)
            for cy in _centres(H, side, stride)
            for cx in _centres(W, side, stride)
        ]
    return out


def palms_in_rect(
    palm_session: object,
    anchors: np.ndarray,
    image: np.ndarray,
    rect: HandRect,
    min_score: float = 0.5,
    max_palms: int = 4,
) -> list[PalmDetection]:
    """Palms found in an axis-aligned square `rect` of the image (outside the image: black, as the
    whole-image letterbox), normalised to the *image* (x / W, y / H), best first. The tile is cut
    with OpenCV's bilinear warp (fast; the fixed-point emulation of `smhr.teacher.warp` exists for
    parity with MediaPipe's whole-image pipeline, which tiles are not part of)."""
    H, W = image.shape[:2]
    k = PALM_INPUT / rect.width  # axis-aligned scale + shift; OpenCV's own warp (no parity needed here)
    M = np.array([[k, 0.0, -(rect.cx - rect.width / 2) * k], [0.0, k, -(rect.cy - rect.height / 2) * k]])
    tile = cv2.warpAffine(
        image, M, (PALM_INPUT, PALM_INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    x = tile.astype(np.float32) / 255.0
    name = palm_session.get_inputs()[0].name  # type: ignore[attr-defined]
    reg, logits = palm_session.run(None, {name: x[None]})  # type: ignore[attr-defined]
    palms = weighted_nms(decode_palms(reg[0], logits[0], anchors, min_score))[:max_palms]
    x0, y0, s = rect.cx - rect.width / 2, rect.cy - rect.height / 2, rect.width
    scale = np.array([s / W, s / H], np.float32)
    offset = np.array([x0 / W, y0 / H], np.float32)
    out = []
    for p in palms:
        box = np.concatenate([p.box[:2] * scale + offset, p.box[2:] * scale]).astype(np.float32)
        out.append(PalmDetection(p.score, box, (p.keypoints * scale + offset).astype(np.float32)))
    return out
