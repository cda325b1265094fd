"""`Hand`: one detected hand, the record every inference path returns (torch-free on purpose, so the
fast onnxruntime path and the exports never import PyTorch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ALBEDO_MEAN", "AMBIENT_DC", "DEFAULT_THRESHOLD", "SIDE_NAMES", "Hand", "pick_threshold",
           "pick_value"]

SIDE_NAMES: tuple[str, ...] = ("left", "right")
"""SIDE_NAMES[side id]: `Hand.side`, `HandLabel.side`, the handedness map's channels (0 left, 1 right)."""
ALBEDO_MEAN = (0.45, 0.35, 0.30)
"""Mean skin albedo (RGB, 0-1) the texture head's residual is added to (the official constant)."""
AMBIENT_DC = 0.8
"""Offset added to each colour's constant SH coefficient of the lighting head (official prior)."""

DEFAULT_THRESHOLD = 0.3
"""Minimum `Hand.score` kept when neither the caller nor the weights' metadata gives a threshold
(every inference path: the Python API, the torch-free runtime, decode, the command line)."""


def pick_value(given: float | None, stored: float | None, default: float) -> float:
    """The caller's value, else the one stored with the weights, else `default` (a given or stored 0
    is a value): the one rule for every value the weights may carry (`smhr.runtime.calibration`)."""
    if given is not None:
        return float(given)
    return float(stored) if stored is not None else float(default)


def pick_threshold(given: float | None, stored: float | None) -> float:
    """The caller's threshold, else the weights' calibrated one, else DEFAULT_THRESHOLD (one rule for
    the PyTorch and the onnxruntime paths)."""
    return pick_value(given, stored, DEFAULT_THRESHOLD)


@dataclass
class Hand:
    """One detected hand. Arrays are float32 numpy; pixels are ORIGINAL-image pixels.

    side 0 left / 1 right; score = sigmoid centre-heatmap peak (with the hand check, its log-odds
    moved by the crop classifier's: `smhr.runtime.hand_check`); center [2] px (centre of the peak
    cell); global_orient [3], pose [45] axis-angle (flat mean), betas [10]; transl [3] m; vertices
    [V,3] m and joints3d [21,3] m (FreiHAND order) in the camera `K` [3,3]; keypoints2d [21,2] px =
    projection of joints3d; local_keypoints2d [21,2] px from the local keypoint-offset head;
    texture [V,3] (albedo residual) and light [27] raw head outputs when the weights carry
    appearance heads, else None; `albedo` and `sh` turn them into what the renderer uses
    (docs/rendering.md, "Appearance"); handedness [2] = (P(left), P(right)) from the side logits
    (or photo mode's mirrored vote, `smhr.runtime.mirror`), None where no decode set it.
    """

    side: int
    score: float
    center: np.ndarray
    global_orient: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    vertices: np.ndarray
    joints3d: np.ndarray
    keypoints2d: np.ndarray
    local_keypoints2d: np.ndarray
    K: np.ndarray
    texture: np.ndarray | None = None
    light: np.ndarray | None = None
    handedness: np.ndarray | None = None

    @property
    def albedo(self) -> np.ndarray | None:
        """Per-vertex albedo [V,3] float32 (RGB, sRGB-encoded 0-1 like the photos it was trained
        against; not clipped) = texture residual + ALBEDO_MEAN, or None."""
        if self.texture is None:
            return None
        return (np.asarray(self.texture, np.float32) + np.asarray(ALBEDO_MEAN, np.float32)).astype(np.float32)

    @property
    def sh(self) -> np.ndarray | None:
        """SH-9 lighting [27] float32, colour-major (R's 9, G's 9, B's 9) = light head + AMBIENT_DC
        on each colour's first coefficient, or None (convention: `smhr.render.shading`)."""
        if self.light is None:
            return None
        sh = np.asarray(self.light, np.float32).reshape(3, 9).copy()
        sh[:, 0] += AMBIENT_DC
        return sh.reshape(27)
