"""CenterNet penalty-reduced focal loss for the centre heatmap and the handedness map (SMHR paper).

    L = -1/N_pos * sum_p { (1 - p)^alpha log p                    if y_p = 1
                         { (1 - y_p)^beta p^alpha log(1 - p)      otherwise

with p = sigmoid(logit) clamped to [1e-4, 1 - 1e-4] (as the official code) and alpha = 2, beta = 4.
Fix of the official `_neg_loss`: N_pos is the number of positives in the whole BATCH,
clamped to >= 1, so an image without hands (N_pos = 0 for that image) contributes its negative
term only and never divides by zero.
"""

from __future__ import annotations

import torch

__all__ = ["focal_loss"]

PROB_EPS = 1e-4


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 4.0,
    per_sample: bool = False,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Focal loss between heatmap logits [B,C,H,W] and Gaussian targets [B,C,H,W] in [0, 1]
    (peaks exactly 1). Computed in float32 (safe under autocast).

    weight: optional [B,1|C,H,W] per-cell weights (0 inside ignore regions: cells where a hand may
    be that nobody labelled are neither positives nor negatives).

    Returns a scalar, or with per_sample=True a [B] vector whose mean is that scalar (each image's
    sum over its cells / batch N_pos * B), for per-sample weighting such as hard-example mining.
    """
    if logits.shape != target.shape:
        raise ValueError(f"focal_loss: logits {tuple(logits.shape)} vs target {tuple(target.shape)}")
    p = torch.sigmoid(logits.float()).clamp(PROB_EPS, 1.0 - PROB_EPS)
    y = target.float()
    pos = y.eq(1.0)
    pos_term = (1.0 - p).pow(alpha) * torch.log(p)
    neg_term = (1.0 - y).pow(beta) * p.pow(alpha) * torch.log(1.0 - p)
    per_cell = torch.where(pos, pos_term, neg_term)
    if weight is not None:
        per_cell = per_cell * weight.float()
        pos = pos & (weight > 0)
    num_pos = pos.sum().clamp(min=1).float()
    per_image = -per_cell.flatten(1).sum(1) / num_pos  # [B]
    if per_sample:
        return per_image * per_image.shape[0]
    return per_image.sum()
