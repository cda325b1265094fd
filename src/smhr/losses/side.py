"""Handedness as a per-hand classification: cross-entropy of the refined side logits at the hands.

Why a second handedness loss: the dense handedness map (`focal_loss` on `handmap`) is trained at
every cell around a hand's centre, from the centre's neighbourhood only. The keypoint-aligned
refinement (`smhr.model.refine`) corrects those logits from features read at the hand's own
joints, and that correction is a decision per hand: softmax over (left, right) at the hand's
centre cell, averaged over the hands whose side is known.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["side_cross_entropy"]


def side_cross_entropy(logits: torch.Tensor, side: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logits [B,K,2] (0 left, 1 right), side [B,K] long, mask [B,K] bool (a hand of known side)
    -> mean cross-entropy over the masked hands (0 when there are none, still differentiable)."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), side.flatten(), reduction="none")
    m = mask.flatten().to(ce.dtype)
    return (ce * m).sum() / m.sum().clamp(min=1)
