"""Whole-composite camera effects: low light and motion blur (labels unchanged).

Why: real photos and video frames are often dim and noisy or smeared by motion; a composite
was always a clean, well-exposed image. Motion blur is applied first (it happens in the optics,
before the sensor), low light second: darkening by a gain with a gamma, a slight colour cast, and
sensor noise that, as in a dim photo, is large relative to the signal.
"""

from __future__ import annotations

import math

import numpy as np


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
    x = image.astype(np.float32) / 255.0
    y = gain * np.power(x, gamma) * cast
    sigma = rng.uniform(2.0, 7.0) / 255.0 * rng.uniform(0.7, 1.3, 3)
    y = y + rng.standard_normal(y.shape, np.float32) * sigma.astype(np.float32)
    return (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8), float(gain)
