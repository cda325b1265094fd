"""Pose and shape priors (the official code's "norm_loss").

    prior = mean_j limit_violation(theta)_j + 0.1 * mean(beta^2)

applied to BOTH parameter sets of every valid slot (left set with the left limits, right set with
the right limits; the official code did the same, which keeps the unused set plausible in case the
handedness is wrong at test time), averaged over valid slots. Global orientation and translation are
unconstrained. The joint limits live with the hand models (`smhr.hands.prior`; `default_limit_violation` binds
them to the loaded models); without a callable this module falls back to an L2 pose regulariser
mean(theta^2) -- much stronger than the hinge (it pulls every joint towards the flat hand).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from smhr.hands.params import side_slice, split_params

__all__ = ["LimitViolation", "default_limit_violation", "hand_prior_loss", "pose_prior", "shape_prior"]

# limit_violation(pose [N,45] rad, side 0|1) -> [N,45] >= 0: how far each component is outside its range
LimitViolation = Callable[[torch.Tensor, int], torch.Tensor]
SHAPE_WEIGHT = 0.1


def _valid_mean(per_slot: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    v = valid.bool()
    per_slot = torch.where(v, per_slot, torch.zeros((), dtype=per_slot.dtype, device=per_slot.device))
    return per_slot.sum() / v.sum().clamp(min=1)


def shape_prior(betas: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared betas [B,K,10] over valid slots [B,K] (betas are N(0, 1) by construction)."""
    betas = torch.where(valid.bool()[..., None], betas.float(), torch.zeros((), device=betas.device))
    return _valid_mean(betas.pow(2).mean(-1), valid)


def pose_prior(
    pose: torch.Tensor, side: int, valid: torch.Tensor, limit_violation: LimitViolation | None = None
) -> torch.Tensor:
    """Mean joint-limit violation (radians, averaged over the 45 components) of articulations
    pose [B,K,45] of one side over valid slots; mean(pose^2) when no limit callable is given."""
    pose = torch.where(valid.bool()[..., None], pose.float(), torch.zeros((), device=pose.device))
    flat = pose.reshape(-1, pose.shape[-1])
    per = flat.pow(2) if limit_violation is None else limit_violation(flat, side)
    return _valid_mean(per.reshape(pose.shape).mean(-1), valid)


def hand_prior_loss(
    params: torch.Tensor, valid: torch.Tensor, limit_violation: LimitViolation | None = None,
    shape_weight: float = SHAPE_WEIGHT,
) -> torch.Tensor:
    """Official norm_loss over both sets: params [B,K,122] (left 0:61, right 61:122), valid [B,K]."""
    total = params.new_zeros((), dtype=torch.float32)
    for side in (0, 1):
        s = split_params(params[..., side_slice(side)])
        total = total + pose_prior(s["pose"], side, valid, limit_violation)
        total = total + shape_weight * shape_prior(s["betas"], valid)
    return total


def default_limit_violation(hand_models: Sequence[torch.nn.Module]) -> LimitViolation:
    """The joint limits of the loaded hand models [left, right] (`smhr.hands.prior`: anatomical
    flexion / abduction / twist ranges in frames built from each model's rest skeleton, so MANO and
    the Anny hand both get their own), as a LimitViolation callable."""
    from smhr.hands.prior import limit_violation_for

    return limit_violation_for(hand_models)
