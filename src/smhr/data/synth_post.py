"""What the camera does to a rendered synthetic hand image (`smhr synth`): low light, motion blur,
sensor noise and the JPEG quality, drawn from a per-image NumPy generator.

Why a separate generator for low light: switching `--low-light-prob` on must not change which blur,
noise and JPEG quality the other images get (ablations compare like with like), so its numbers come
from their own stream (`low_light_rng`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

LOW_LIGHT_GAIN = (0.15, 0.5)  # exposure gain on linear light
LOW_LIGHT_NOISE = (3.0, 10.0)  # extra Gaussian sigma (0-255 scale) after the darkening
WARM_COOL = (-0.12, 0.25)  # colour-temperature shift t: red x (1 + t), blue x (1 - t)


def low_light_rng(post_seed: int) -> np.random.Generator:
    """The low-light stream of one image (independent of its blur / noise / JPEG stream)."""
    return np.random.default_rng([int(post_seed), 0x4C4C])


def low_light(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darker exposure of an HxWx3 float image (0-255 sRGB): linearise (gamma 2.2), multiply by a
    gain in LOW_LIGHT_GAIN, shift the colour temperature (70 %: warm tungsten to cool LED), and
    re-encode; the image keeps its float range for the noise that follows."""
    lin = (np.clip(img, 0, 255) / 255.0) ** 2.2
    gain = rng.uniform(*LOW_LIGHT_GAIN)
    cast = np.ones(3, np.float32)
    if rng.random() < 0.7:
        t = rng.uniform(*WARM_COOL)
        cast = np.array([1 + t, 1.0, 1 - t], np.float32)
    return (255.0 * np.clip(lin * gain * cast, 0, 1) ** (1 / 2.2)).astype(np.float32)


def degrade(
    image: np.ndarray, rng: np.random.Generator, cfg: Any, dark: np.random.Generator | None = None
) -> tuple[np.ndarray, int]:
    """Low light (when `dark`, the image's `low_light_rng`, is given and draws below
    cfg.low_light_prob: `low_light`, then extra noise), motion blur (probability cfg.blur_prob,
    linear kernel up to cfg.blur_max_px long at a random angle), Gaussian noise (sigma uniform in
    [0, cfg.noise_max]) on an HxWx3 uint8 image; returns it and the JPEG quality to save it with."""
    import cv2

    img = image.astype(np.float32)
    dim = dark is not None and dark.random() < cfg.low_light_prob
    if dim:
        img = low_light(img, dark)
    if rng.random() < cfg.blur_prob:
        length = rng.uniform(1.5, max(cfg.blur_max_px, 1.5))
        k = math.ceil(length) | 1
        kernel = np.zeros((k, k), np.float32)
        ang = rng.uniform(0, math.pi)
        dx, dy = math.cos(ang) * (length - 1) / 2, math.sin(ang) * (length - 1) / 2
        c = (k - 1) / 2
        cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
        img = cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    sigma = rng.uniform(0, cfg.noise_max)
    if sigma > 0:
        img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    if dim:
        img = img + dark.normal(0, dark.uniform(*LOW_LIGHT_NOISE), img.shape).astype(np.float32)
    quality = int(rng.integers(cfg.jpeg_range[0], cfg.jpeg_range[1] + 1))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), quality
