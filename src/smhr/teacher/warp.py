"""Bilinear perspective warp with OpenCV 3/4's fixed-point arithmetic (what MediaPipe's graph runs).

Why not `cv2.warpPerspective`: MediaPipe's wheels link an OpenCV whose uint8 bilinear warp
quantises source coordinates to 1/32 px and weights to 1/32768 (integer arithmetic). OpenCV 5's
rewritten warp interpolates in floating point, and at the 4x downsampling of a photo to the palm
detector's 192 px input that changes detection scores by ~0.002 and landmarks by up to ~3 px.
Reproducing the fixed-point rule makes the teacher match MediaPipe's own output (measured in
docs/real-photos.md); it costs ~2 ms per 224 px crop in numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BORDER_REPLICATE", "BORDER_ZERO", "warp_perspective_fixed"]

BORDER_ZERO = "zero"
BORDER_REPLICATE = "replicate"
TAB_BITS = 5  # INTER_BITS: 32 sub-pixel positions per axis
TAB_SIZE = 1 << TAB_BITS
COEF_BITS = 15  # INTER_REMAP_COEF_BITS
COEF_SCALE = 1 << COEF_BITS


def _weight_table() -> np.ndarray:
    """[32, 32, 4] integer bilinear weights (taps y0x0, y0x1, y1x0, y1x1) summing to 2^15, per
    (fy, fx) sub-pixel position: float weights rounded, the rounding error moved onto one tap."""
    f = np.arange(TAB_SIZE, dtype=np.float32) / TAB_SIZE
    wx = np.stack([1 - f, f], -1)  # [32, 2]
    w = (wx[:, None, :, None] * wx[None, :, None, :]).reshape(TAB_SIZE, TAB_SIZE, 4)  # [fy, fx, 4]
    itab = np.rint(w.astype(np.float32) * COEF_SCALE).astype(np.int64)
    diff = itab.sum(-1) - COEF_SCALE
    fix_at = np.where(diff[..., None] < 0, itab.argmax(-1)[..., None], itab.argmin(-1)[..., None])
    np.put_along_axis(itab, fix_at, np.take_along_axis(itab, fix_at, -1) - diff[..., None], -1)
    return itab


_TABLE = _weight_table()


def warp_perspective_fixed(
    image: np.ndarray, M: np.ndarray, size: tuple[int, int], border: str = BORDER_ZERO
) -> np.ndarray:
    """Warp an HxWxC uint8 image by the 3x3 map M (source px -> output px) into size = (w, h).

    Output pixel (x, y) samples the source at M^-1 (x, y) (integer pixel centres, as OpenCV),
    bilinearly with fixed-point weights; taps outside the image are 0 (BORDER_ZERO) or the nearest
    edge pixel (BORDER_REPLICATE). Returns uint8 of shape (h, w, C)."""
    if image.dtype != np.uint8:
        raise ValueError(f"warp_perspective_fixed needs uint8 pixels, got {image.dtype}")
    img = image if image.ndim == 3 else image[..., None]
    H, W = img.shape[:2]
    out_w, out_h = size
    Minv = np.linalg.inv(np.asarray(M, np.float64))
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    X0 = Minv[0, 0] * xs + Minv[0, 1] * ys + Minv[0, 2]
    Y0 = Minv[1, 0] * xs + Minv[1, 1] * ys + Minv[1, 2]
    Z = Minv[2, 0] * xs + Minv[2, 1] * ys + Minv[2, 2]
    Z = np.where(Z != 0, TAB_SIZE / np.where(Z != 0, Z, 1), 0.0)
    X = np.rint(np.clip(X0 * Z, -(2**31), 2**31 - 1)).astype(np.int64)
    Y = np.rint(np.clip(Y0 * Z, -(2**31), 2**31 - 1)).astype(np.int64)
    x0, y0 = X >> TAB_BITS, Y >> TAB_BITS
    weights = _TABLE[Y & (TAB_SIZE - 1), X & (TAB_SIZE - 1)]  # [h, w, 4]
    acc = np.zeros((out_h, out_w, img.shape[2]), np.int64)
    for tap, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        yy, xx = y0 + dy, x0 + dx
        values = img[np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)].astype(np.int64)
        if border == BORDER_ZERO:
            values *= ((yy >= 0) & (yy < H) & (xx >= 0) & (xx < W))[..., None]
        elif border != BORDER_REPLICATE:
            raise ValueError(f"border must be {BORDER_ZERO!r} or {BORDER_REPLICATE!r}, got {border!r}")
        acc += values * weights[..., tap : tap + 1]
    out = np.clip((acc + (1 << (COEF_BITS - 1))) >> COEF_BITS, 0, 255).astype(np.uint8)
    return out if image.ndim == 3 else out[..., 0]
