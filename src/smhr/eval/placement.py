"""How well each hand is turned and placed in the camera, not only shaped: what PA-MPJPE hides.

Why: PA-MPJPE aligns scale, rotation and translation before it measures, so a hand with the right
shape that is turned 30 degrees, or placed 20 % too far, scores like a perfect one. Users of the
camera-frame meshes (AR, two hands touching, a hand reaching for an object) see exactly those errors.
On the synthetic evaluation the bundled v2 has a PA-MPJPE of 16 mm but a root-relative MPJPE of 36
mm, its hands turned by a median 34 degrees: most of the error is the whole hand's rotation
(docs/evaluation.md "Placement").

Every number here compares hands one to one (prediction i with ground truth i), in metres in, mm
and degrees out; the root is `ROOT_INDEX` (the middle finger's MCP), as for every root-relative
number of the project.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from smhr.geometry.procrustes import procrustes_align
from smhr.hands.keypoints import ROOT_INDEX

__all__ = ["placement_errors", "rotation_angles_deg"]


def rotation_angles_deg(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """[N] degrees: the angle of the rotation the Procrustes alignment of each predicted hand onto
    its ground truth applies, i.e. how far the whole hand is turned (its shape's own error is what
    PA-MPJPE keeps). pred, gt: [N, J, 3]."""
    _, (_, R, _) = procrustes_align(torch.from_numpy(np.asarray(pred, np.float64)),
                                    torch.from_numpy(np.asarray(gt, np.float64)))
    cos = (torch.diagonal(R, dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    return np.degrees(np.arccos(cos.clamp(-1.0, 1.0).numpy()))


def placement_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Camera-frame errors of N hands, pred and gt [N, J, 3] metres in the same camera:
    root_relative_mpjpe_mm (joints minus the root, no alignment: rotation and size errors count),
    rotation_error_deg (median over hands, and the mean as rotation_error_deg_mean: a few hands
    turned half round pull the mean), root_depth_error_mm (mean |z_pred - z_gt| of the root) and
    depth_ratio (median z_pred / z_gt of the root: above 1 the hands are placed too far)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3 or len(pred) == 0:
        raise ValueError(f"placement_errors: pred and gt must both be [N, J, 3] with N >= 1, got "
                         f"{pred.shape} and {gt.shape}")
    root_p, root_g = pred[:, ROOT_INDEX], gt[:, ROOT_INDEX]
    relative = (pred - root_p[:, None]) - (gt - root_g[:, None])
    angles = rotation_angles_deg(pred, gt)
    ratio = root_p[:, 2] / np.where(root_g[:, 2] == 0, math.nan, root_g[:, 2])
    return {
        "root_relative_mpjpe_mm": float(np.linalg.norm(relative, axis=-1).mean() * 1e3),
        "rotation_error_deg": float(np.median(angles)),
        "rotation_error_deg_mean": float(angles.mean()),
        "root_depth_error_mm": float(np.abs(root_p[:, 2] - root_g[:, 2]).mean() * 1e3),
        "depth_ratio": float(np.nanmedian(ratio)),
    }
