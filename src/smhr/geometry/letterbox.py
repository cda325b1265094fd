"""The one letterbox: an image resized to fit a square network input, centred, padded with black.

Every path that feeds the network a whole image uses this (the API, the torch-free runtime,
validation and evaluation), so a model sees at inference exactly the pixels it was scored on.
Shrinking uses area resampling (large photos do not alias); the returned 3x3 affine maps
ORIGINAL pixels to NETWORK pixels with OpenCV's pixel-centre convention (u' = (u + 0.5) s - 0.5 +
pad), so keypoints and intrinsics move with it exactly: K_net = A @ K.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from smhr.io.images import to_rgb_uint8

__all__ = ["letterbox_affine", "letterbox_image", "network_inputs"]


def letterbox_affine(hw: tuple[int, int], size: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """(3x3 original->network affine, resized (w, h), padding (x, y)) for an image of hw = (H, W)."""
    H, W = hw
    s = size / max(H, W)
    w, h = max(1, round(W * s)), max(1, round(H * s))
    px, py = (size - w) // 2, (size - h) // 2
    sx, sy = w / W, h / H  # cv2.resize maps pixel centres: u' = (u + 0.5) * sx - 0.5
    A = np.array([[sx, 0.0, 0.5 * sx - 0.5 + px], [0.0, sy, 0.5 * sy - 0.5 + py], [0.0, 0.0, 1.0]])
    return A, (w, h), (px, py)


def letterbox_image(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size x size x C uint8 network input, 3x3 original->network affine) of an HxWxC image."""
    A, (w, h), (px, py) = letterbox_affine(image.shape[:2], size)
    interp = cv2.INTER_AREA if w < image.shape[1] else cv2.INTER_LINEAR
    small = cv2.resize(image, (w, h), interpolation=interp)
    out = np.zeros((size, size, *image.shape[2:]), image.dtype)
    out[py : py + h, px : px + w] = small
    return out, A


def network_inputs(
    images: Sequence[Any], size: int, *, focal: float | None = None, K: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """What both inference backends feed the network for a non-empty batch of images (any form
    `to_rgb_uint8` takes): the letterboxed batch [B,size,size,3] uint8, the original->network affines
    [B,3,3], and the per-image cameras [B,3,3] (the given K, else `focal` with the principal point at
    the image centre, else None for the virtual camera)."""
    rgb = [to_rgb_uint8(im, f"image {i}") for i, im in enumerate(images)]
    boxed = [letterbox_image(im, size) for im in rgb]
    Ks = None
    if K is not None:
        Ks = np.stack([np.asarray(k, np.float64) for k in K])
    elif focal is not None:
        Ks = np.stack([np.array([[focal, 0.0, (im.shape[1] - 1) / 2], [0.0, focal, (im.shape[0] - 1) / 2],
                                 [0.0, 0.0, 1.0]]) for im in rgb])  # fmt: skip
    return np.stack([b for b, _ in boxed]), np.stack([A for _, A in boxed]), Ks
