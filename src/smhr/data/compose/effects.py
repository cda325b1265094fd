"""Whole-composite camera effects: low light and motion blur (labels unchanged).

Why: real photos and video frames are often dim and noisy or smeared by motion; a composite
was always a clean, well-exposed image. Motion blur is applied first (it happens in the optics,
before the sensor), low light second: darkening by a gain with a gamma, a slight colour cast, and
sensor noise that, as in a dim photo, is large relative to the signal.
"""

from __future__ import annotations

import math

import numpy as np

_NOISE: list[np.ndarray] = []
_SLACK = 64


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """h x w x 3 standard-normal noise: a random window (offset, flips) of one fixed table, drawn
    once per process (fresh Gaussian draws cost 10 ms a 384-px image, half of the whole effect)."""
    side = max(h, w) + _SLACK
    if not _NOISE or _NOISE[0].shape[0] < side:
        _NOISE[:] = [np.random.default_rng(20).standard_normal((side, side, 3), np.float32)]
    table = _NOISE[0]
    y0, x0 = (int(rng.integers(0, table.shape[0] - n + 1)) for n in (h, w))
    win = table[y0 : y0 + h, x0 : x0 + w]
    return win[::-1] if rng.random() < 0.5 else win


def motion_blur(image: np.ndarray, rng: np.random.Generator, max_len: int) -> tuple[np.ndarray, int]:
    """Linear motion blur of length 3..max_len px at a random angle; returns (image, length)."""
    import cv2

    n = int(rng.integers(3, max(max_len, 3) + 1))
    angle = rng.uniform(0.0, math.pi)
    k = np.zeros((n, n), np.float32)
    c = (n - 1) / 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    k /= k.sum()
    return cv2.filter2D(image, -1, k, borderType=cv2.BORDER_REFLECT), n


def low_light(
    image: np.ndarray, rng: np.random.Generator, gain_range: tuple[float, float]
) -> tuple[np.ndarray, float]:
    """Darken by a gain in `gain_range` with a gamma 1-1.6 and a colour cast, then add Gaussian
    sensor noise (sigma 2-7 of 255, stronger in one channel); returns (image, gain)."""
    gain = rng.uniform(*gain_range)
    gamma = rng.uniform(1.0, 1.6)
    cast = rng.uniform(0.85, 1.1, 3)
    import cv2

    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    lut = np.clip(gain * levels**gamma * cast * 255.0, 0, 255).astype(np.float32)  # [256, 3]
    dark = cv2.LUT(image, lut.reshape(1, 256, 3))  # per-channel curve, float32 (no rounding yet)
    sigma = (rng.uniform(2.0, 7.0) * rng.uniform(0.7, 1.3, 3)).astype(np.float32)
    dark += _noise(rng, dark.shape[0], dark.shape[1]) * sigma
    return np.clip(dark + 0.5, 0, 255).astype(np.uint8), float(gain)
