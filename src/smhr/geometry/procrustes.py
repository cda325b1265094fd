"""Batched similarity Procrustes (Umeyama 1991) in torch: the alignment behind every "PA-" metric.

Finds scale s, rotation R and translation t minimising sum_i w_i |s R x_i + t - y_i|^2 for each batch
element, in closed form from the SVD of the weighted cross-covariance. Works on CPU/CUDA in float32
and float64 (use float64 for evaluation numbers; float32 is fine for losses).

Reflection: by default R is a proper rotation (det +1, Umeyama's sign fix on the smallest singular
direction). `allow_reflection=True` reproduces scipy.linalg.orthogonal_procrustes, which may return
an improper orthogonal matrix; the official FreiHAND evaluation script uses that variant.
"""

from __future__ import annotations

import torch

__all__ = ["Similarity", "apply_similarity", "procrustes_align"]

Similarity = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # scale [B], R [B, 3, 3], t [B, 3]

_EPS = 1e-12  # guards the variance division for degenerate (single-point / all-equal) inputs


def apply_similarity(points: torch.Tensor, sim: Similarity) -> torch.Tensor:
    """Apply (scale [B], R [B,3,3], t [B,3]) to points [B, M, 3]: s * R x + t."""
    scale, R, t = sim
    return scale[:, None, None] * points @ R.transpose(-1, -2) + t[:, None, :]


def procrustes_align(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    allow_reflection: bool = False,
) -> tuple[torch.Tensor, Similarity]:
    """Align `pred` onto `target` with the optimal similarity transform.

    pred, target: [B, N, 3] (any unit; the transform is unit-consistent); mask: optional [B, N]
    weights (bool or float; 0 = ignore the point in the fit). Returns (aligned pred [B, N, 3],
    (scale [B], R [B, 3, 3], t [B, 3])) with aligned = scale * pred @ R^T + t. All points are
    transformed, masked ones included.
    """
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(
            f"procrustes_align: pred and target must both be [B, N, 3], got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    dtype = pred.dtype
    if mask is None:
        w = torch.ones(pred.shape[:2], dtype=dtype, device=pred.device)
    else:
        if mask.shape != pred.shape[:2]:
            raise ValueError(f"procrustes_align: mask must be [B, N] = {tuple(pred.shape[:2])}, "
                             f"got {tuple(mask.shape)}")
        w = mask.to(dtype)
    wsum = w.sum(dim=1).clamp_min(_EPS)  # [B]
    wn = (w / wsum[:, None])[..., None]  # [B, N, 1], sums to 1

    mu_x = (wn * pred).sum(dim=1)  # [B, 3]
    mu_y = (wn * target).sum(dim=1)
    xc = pred - mu_x[:, None]
    yc = target - mu_y[:, None]
    var_x = (wn * xc.square()).sum(dim=(1, 2))  # [B]
    cov = (yc * wn).transpose(1, 2) @ xc  # [B, 3, 3]  sum_i w_i y_i x_i^T

    U, S, Vh = torch.linalg.svd(cov)
    d = torch.ones_like(S)
    if not allow_reflection:
        d[:, -1] = torch.sign(torch.linalg.det(U @ Vh))
        d[:, -1] = torch.where(d[:, -1] == 0, torch.ones_like(d[:, -1]), d[:, -1])
    R = U @ (d[..., None] * Vh)
    scale = (S * d).sum(dim=1) / var_x.clamp_min(_EPS)
    t = mu_y - scale[:, None] * (mu_x[:, None] @ R.transpose(1, 2))[:, 0]
    sim = (scale, R, t)
    return apply_similarity(pred, sim), sim
