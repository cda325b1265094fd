"""Place each decoded hand where its own keypoint head sees it: a least-squares translation.

Why: the network gives every hand two 2D answers, the hand model's projected keypoints (from the
predicted pose, shape and translation) and the local keypoint head's (offsets from the hand's
cell, trained on the labels directly). The fitted hand's image size is pulled towards one size
for every hand (docs/evaluation.md "The size the network gives a hand": 0.84-0.89 of the labels'
spread for hands of 96-220 px, 1.22 at 24 px) while the local head stays within 0.92-1.03. Solving
for the translation that best lays the fitted keypoints on the local head's, with pose and shape
kept, fixes the image size and position of the mesh and its depth with it; it is how HMR-style
methods turn 2D keypoints into a camera translation (SPIN's `estimate_translation`).

The solve is linear: for a keypoint X (relative to the current translation) seen at normalised
image point q = K^-1 (u, v, 1), the translation t satisfies X_x + t_x = q_x (X_z + t_z) and
X_y + t_y = q_y (X_z + t_z) when the projections agree; 42 equations, 3 unknowns, per hand, all
hands at once (3 x 3 normal equations). A solution that moves a hand to under half or over twice
its depth, or behind the camera, is not trusted: that hand keeps its translation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FIT_TRANSLATION", "MAX_DEPTH_RATIO", "fit_translation"]

FIT_TRANSLATION = True  # the default (`Reconstructor.fit_translation`): measured in docs/evaluation.md
MAX_DEPTH_RATIO = 2.0


def fit_translation(joints: np.ndarray, transl: np.ndarray, target_px: np.ndarray,
                    K: np.ndarray) -> np.ndarray:  # fmt: skip
    """Translations [n, 3] (float64) that bring each hand's keypoints joints [n, 21, 3] (placed at
    transl [n, 3], camera frame, metres) closest to target_px [n, 21, 2] under intrinsics K [n, 3, 3];
    a hand whose solution is untrusted (module docstring) keeps its transl."""
    joints, transl = np.asarray(joints, np.float64), np.asarray(transl, np.float64)
    n = len(transl)
    if n == 0:
        return transl.copy()
    X = joints - transl[:, None]
    uv1 = np.concatenate([np.asarray(target_px, np.float64), np.ones((*X.shape[:2], 1))], -1)
    q = uv1 @ np.swapaxes(np.linalg.inv(np.asarray(K, np.float64)), -1, -2)  # [n, P, 3], q_z = 1
    qx, qy = q[..., 0], q[..., 1]
    P = X.shape[1]
    AtA = np.zeros((n, 3, 3))
    AtA[:, 0, 0] = AtA[:, 1, 1] = P
    AtA[:, 0, 2] = AtA[:, 2, 0] = -qx.sum(1)
    AtA[:, 1, 2] = AtA[:, 2, 1] = -qy.sum(1)
    AtA[:, 2, 2] = (qx * qx + qy * qy).sum(1)
    bx, by = qx * X[..., 2] - X[..., 0], qy * X[..., 2] - X[..., 1]
    Atb = np.stack([bx.sum(1), by.sum(1), -(qx * bx + qy * by).sum(1)], -1)
    det = np.linalg.det(AtA)
    ok = np.abs(det) > 1e-12
    t = transl.copy()
    t[ok] = np.linalg.solve(AtA[ok], Atb[ok][..., None])[..., 0]
    ratio = t[:, 2] / np.where(transl[:, 2] > 0, transl[:, 2], np.nan)
    trusted = ok & np.isfinite(t).all(1) & (ratio > 1 / MAX_DEPTH_RATIO) & (ratio < MAX_DEPTH_RATIO)
    return np.where(trusted[:, None], t, transl)
