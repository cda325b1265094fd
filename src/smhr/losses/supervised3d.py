"""Optional 3D losses for fully-supervised data (spec §5.6): joints and vertices, root-relative.

Both sets are made root-relative at joint 9 (middle MCP); with align="scale" the prediction is also
scaled by |J9 - J0|_gt / |J9 - J0|_pred (the official rule), which removes the depth/scale
ambiguity of weak supervision. Losses are mean absolute errors in METRES over valid slots
(the official code multiplied by 1000 inside; that factor is in `DEFAULT_WEIGHTS`).
"""

from __future__ import annotations

import torch

from smhr.hands.keypoints import ROOT_INDEX, WRIST_INDEX

__all__ = ["ROOT", "align_to_root", "joints3d_loss", "vertices3d_loss"]

ROOT = ROOT_INDEX  # 9, middle-finger MCP in FreiHAND order
WRIST = WRIST_INDEX
SCALE_EPS = 1e-6  # m


def align_to_root(
    points: torch.Tensor, joints: torch.Tensor, ref_joints: torch.Tensor | None = None
) -> torch.Tensor:
    """points [...,N,3] minus joints[..., 9]; if ref_joints is given, also scaled by
    |J9 - J0|_ref / |J9 - J0| (bone 0-9 of `joints` matched to the reference's)."""
    out = points - joints[..., ROOT : ROOT + 1, :]
    if ref_joints is not None:
        own = (joints[..., ROOT, :] - joints[..., WRIST, :]).norm(dim=-1)
        ref = (ref_joints[..., ROOT, :] - ref_joints[..., WRIST, :]).norm(dim=-1)
        out = out * (ref / own.clamp(min=SCALE_EPS))[..., None, None]
    return out


def _clean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """[B,K,N,3] float32 with invalid slots zeroed before any arithmetic (no NaN gradients)."""
    return torch.where(valid.bool()[..., None, None], x.float(), torch.zeros((), device=x.device))


def _l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    v = valid.bool()
    per = (pred - target).abs().mean(dim=(-1, -2))
    per = torch.where(v, per, torch.zeros((), dtype=per.dtype, device=per.device))
    return per.sum() / v.sum().clamp(min=1)


def joints3d_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, align: str = "scale"
) -> torch.Tensor:
    """Mean |J_pred - J_gt| (m) of root-relative joints [B,K,21,3]; valid [B,K] (e.g. valid &
    has_joints3d). align: "root" (root-relative) or "scale" (root-relative + bone-0-9 scale)."""
    pred, target = _clean(pred, valid), _clean(target, valid)
    ref = _ref(target, align)
    return _l1(align_to_root(pred, pred, ref), align_to_root(target, target), valid)


def vertices3d_loss(
    pred_vertices: torch.Tensor, target_vertices: torch.Tensor, pred_joints: torch.Tensor,
    target_joints: torch.Tensor, valid: torch.Tensor, align: str = "scale",
) -> torch.Tensor:
    """Mean |V_pred - V_gt| (m) of vertices [B,K,V,3] made root-relative with their own joints
    [B,K,21,3] (and scaled as in `joints3d_loss`)."""
    pj, tj = _clean(pred_joints, valid), _clean(target_joints, valid)
    ref = _ref(tj, align)
    pred = align_to_root(_clean(pred_vertices, valid), pj, ref)
    return _l1(pred, align_to_root(_clean(target_vertices, valid), tj), valid)


def _ref(target_joints: torch.Tensor, align: str) -> torch.Tensor | None:
    if align == "scale":
        return target_joints
    if align == "root":
        return None
    raise ValueError(f"3D loss align must be 'root' or 'scale', got {align!r}")
