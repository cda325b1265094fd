"""The network's virtual camera: its numbers, its intrinsics and pinhole projection in NumPy.

The inference decode (`smhr.runtime.decode`) reads every hand in this camera; the training-side
PyTorch helpers (`smhr.model.camera`) use the same two numbers, so the two cannot drift apart."""

from __future__ import annotations

import numpy as np

__all__ = ["DEPTH_OFFSET", "VIRTUAL_FOCAL", "project_points", "virtual_intrinsics"]

VIRTUAL_FOCAL = 512.0  # px, the official fixed focal for every input size
DEPTH_OFFSET = 0.8  # m, Z = c + 0.8 so a zero-initialised head starts 0.8 m away


def virtual_intrinsics(input_size: int, focal: float = VIRTUAL_FOCAL) -> np.ndarray:
    """[3,3] float64 intrinsics of an input_size x input_size network image (f px, centre R/2)."""
    c = input_size / 2.0
    return np.array([[focal, 0.0, c], [0.0, focal, c], [0.0, 0.0, 1.0]])


def project_points(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points [..., P, 3] metres through intrinsics K [..., 3, 3] (broadcast) -> pixels
    [..., P, 2] float64."""
    p = np.asarray(points, np.float64) @ np.swapaxes(np.asarray(K, np.float64), -1, -2)
    return p[..., :2] / p[..., 2:3]
