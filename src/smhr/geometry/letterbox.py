"""The one letterbox: an image resized to fit a square network input, centred, padded with black.

Every path that feeds the network a whole image uses this (the API, the torch-free runtime,
validation and evaluation), so a model sees at inference exactly the pixels it was scored on.
Shrinking uses area resampling (large photos do not alias; `shrink_area` does it fast); the
returned 3x3 affine maps ORIGINAL pixels to NETWORK pixels with OpenCV's pixel-centre convention
(u' = (u + 0.5) s - 0.5 + pad), so keypoints and intrinsics move with it exactly: K_net = A @ K.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from smhr.geometry.virtual_camera import VIRTUAL_FOCAL
from smhr.io.images import to_rgb_uint8

__all__ = ["BAND_ALIGN", "check_camera", "content_band", "letterbox_affine", "letterbox_image",
           "network_inputs", "shrink_area", "virtual_camera"]

BAND_ALIGN = 32  # the backbone's largest stride: a band starting at a multiple keeps every grid a sub-grid


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
    if w < image.shape[1]:
        small = shrink_area(image, (w, h))
    else:
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((size, size, *image.shape[2:]), image.dtype)
    out[py : py + h, px : px + w] = small
    return out, A


def shrink_area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """image shrunk to size = (w, h) by area resampling, in exact 2x2 box halvings while both sides
    are even and at least twice the target, then one area resize for the rest.

    Why: OpenCV's area resampling by a non-integer factor runs a slow general path (640x480 to
    256x192: ~0.7 ms, a tenth of a whole CPU inference; a 12-MP photo: ~15 ms per view), while its
    2x2 halving is a fast special case. A halving averages exactly the pixels a 2x area shrink
    would, with the same pixel-centre mapping (u' = (u + 0.5) / 2 - 0.5), so the chain keeps
    `letterbox_affine`'s geometry exactly; the pixels differ from one area resize only by the
    rounding of the intermediate image and the slightly wider footprint of the last step (mean
    0.2 grey levels; docs/network.md "Shrinking in halvings")."""
    w, h = size
    src_h, src_w = image.shape[:2]
    while src_w % 2 == 0 and src_h % 2 == 0 and src_w >= 2 * w and src_h >= 2 * h:
        image = cv2.resize(image, (src_w // 2, src_h // 2), interpolation=cv2.INTER_AREA)
        src_h, src_w = image.shape[:2]
    if image.shape[:2] == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def content_band(affines: np.ndarray, boxes: Sequence[Sequence[float]], size: int,
                 align: int = BAND_ALIGN) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the smallest window of the size x size letterbox canvas, its edges on
    multiples of `align`, that holds the picture of every image of a batch; affines [B,3,3] map
    each image's pixels to the canvas, boxes[i] = (x0, y0, x1, y1) is the part of image i that
    was letterboxed (its whole (0, 0, W, H) for `network_inputs`).

    Why: a 640x480 frame fills 256x192 of the 256x256 canvas; the rest is black padding that
    costs a quarter of the network's work (16:9: 44 %). Run on this window only, the network sees
    the same pixels, and because the window starts at a multiple of the backbone's largest stride,
    cell (x, y) of its stride-s maps is cell (x + x0 / s, y + y0 / s) of the canvas's (only the
    convolutions' zero padding at the window's edges differs from the black canvas beyond)."""
    A = np.asarray(affines, np.float64).reshape(-1, 3, 3)
    b = np.asarray(boxes, np.float64).reshape(-1, 4) - 0.5  # pixel edges in the pixel-centre convention
    lo = np.stack([A[:, 0, 0] * b[:, 0] + A[:, 0, 2], A[:, 1, 1] * b[:, 1] + A[:, 1, 2]], -1) + 0.5
    hi = np.stack([A[:, 0, 0] * b[:, 2] + A[:, 0, 2], A[:, 1, 1] * b[:, 3] + A[:, 1, 2]], -1) + 0.5
    lo = np.clip(np.floor(lo.min(0) + 1e-6) // align * align, 0, size).astype(int)
    hi = np.clip(-(-np.ceil(hi.max(0) - 1e-6) // align) * align, 0, size).astype(int)
    hi = np.maximum(hi, lo + align)
    return int(lo[1]), int(hi[1]), int(lo[0]), int(hi[0])


def network_inputs(
    images: Sequence[Any], size: int, *, focal: float | None = None, K: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """What both inference backends feed the network for a non-empty batch of images (any form
    `to_rgb_uint8` takes): the letterboxed batch [B,size,size,3] uint8, the original->network affines
    [B,3,3], and the per-image cameras [B,3,3] (the given K, else `focal` with the principal point at
    the image centre, else None for the virtual camera)."""
    check_camera(focal, K, len(images))
    rgb = [to_rgb_uint8(im, f"image {i}") for i, im in enumerate(images)]
    boxed = [letterbox_image(im, size) for im in rgb]
    Ks = None
    if K is not None:
        Ks = np.stack([np.asarray(k, np.float64) for k in K])
    elif focal is not None:
        Ks = np.stack([np.array([[focal, 0.0, (im.shape[1] - 1) / 2], [0.0, focal, (im.shape[0] - 1) / 2],
                                 [0.0, 0.0, 1.0]]) for im in rgb])  # fmt: skip
    return np.stack([b for b, _ in boxed]), np.stack([A for _, A in boxed]), Ks


def check_camera(focal: float | None, K: Sequence[Any] | None, n_images: int) -> None:
    """Refuse camera arguments that would silently give NaN or wrong hands (one-line ValueError
    naming the argument): focal must be a finite number > 0 (pixels); K one 3x3 matrix per image
    with finite entries, positive focal lengths and last row (0, 0, 1); not both (K holds the focal)."""
    if focal is not None and K is not None:
        raise ValueError("give focal or K, not both: K already holds the focal lengths")
    if focal is not None:
        try:
            f = float(focal)
        except (TypeError, ValueError):
            raise ValueError(f"focal must be a number of pixels, got {focal!r}") from None
        if not np.isfinite(f) or f <= 0:
            raise ValueError(f"focal must be a finite focal length in pixels > 0, got {focal!r}")
    if K is None:
        return
    if len(K) != n_images:
        raise ValueError(f"K must hold one 3x3 matrix per image: {len(K)} for {n_images} image(s)")
    for i, k in enumerate(K):
        try:
            a = np.asarray(k, dtype=np.float64)
        except (TypeError, ValueError):
            a = None
        if a is None or a.shape != (3, 3):
            shape = "ragged / not numeric" if a is None else a.shape
            raise ValueError(f"K of image {i} must be a 3x3 intrinsics matrix [[fx,0,cx],[0,fy,cy],[0,0,1]] "
                             f"in pixels, got shape {shape}")
        if not np.isfinite(a).all() or a[0, 0] <= 0 or a[1, 1] <= 0 or not np.allclose(a[2], (0, 0, 1)):
            raise ValueError(f"K of image {i} must be finite with fx, fy > 0 and last row (0, 0, 1), "
                             f"got {a.round(4).tolist()}")


def virtual_camera(hw: tuple[int, int], size: int) -> np.ndarray:
    """The network's virtual camera (focal VIRTUAL_FOCAL px at the `size` input, principal point at
    the input's centre, size / 2) in ORIGINAL pixels of an image of hw = (H, W): what `Hand.K` is
    without focal or K. Its principal point is not (W - 1) / 2: the official convention puts it at
    the network input's pixel-edge centre, which maps back to ((size / 2 - pad_x + 0.5) / s - 0.5)."""
    A, _, _ = letterbox_affine(hw, size)
    c = size / 2.0
    Kv = np.array([[VIRTUAL_FOCAL, 0.0, c], [0.0, VIRTUAL_FOCAL, c], [0.0, 0.0, 1.0]])
    return np.linalg.inv(A) @ Kv
