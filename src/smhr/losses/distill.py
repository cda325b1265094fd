"""Soft-target distillation: a student's logits against a teacher's probabilities.

Why KL and not plain BCE: with soft targets BCE has the teacher's entropy as its floor, so its value
says nothing about how close the student is; the binary KL (BCE minus that entropy) has the same
gradient and is 0 exactly when the student matches. Summed over a map's cells and channels and
averaged over images, so the term does not shrink with the number of mostly-empty anchors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

__all__ = ["binary_kl_with_logits", "palm_distill_loss"]


def binary_kl_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(Bernoulli(target) || Bernoulli(sigmoid(logits))) in nats, >= 0 (float32).

    logits, target: same shape; target in [0, 1] (no gradient flows into it)."""
    target = target.detach().float()
    bce = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    entropy = -(torch.xlogy(target, target) + torch.xlogy(1 - target, 1 - target))
    return (bce - entropy).clamp(min=0)


def palm_distill_loss(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]) -> torch.Tensor:
    """Dense palm-score distillation (`smhr.model.palm_distill`): the KL summed over every anchor of
    every map, averaged over the batch. student: logit maps [B,A,h,w] per stride; teacher: the
    teacher's probabilities, same shapes (checked: a grid mismatch would silently misalign)."""
    if len(student) != len(teacher):
        raise ValueError(f"palm_distill_loss: {len(student)} student maps, {len(teacher)} teacher maps")
    total = None
    for s, t in zip(student, teacher, strict=True):
        if s.shape != t.shape:
            raise ValueError(f"palm_distill_loss: student map {tuple(s.shape)} vs teacher {tuple(t.shape)}")
        kl = binary_kl_with_logits(s, t).flatten(1).sum(1)
        total = kl if total is None else total + kl
    assert total is not None, "palm_distill_loss: no maps given"
    return total.mean()
