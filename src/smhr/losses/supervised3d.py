"""Optional 3D losses for fully-supervised data (SMHR paper): root-relative joints, and the root depth.

Joints are made root-relative at joint 9 (middle MCP); with align="scale" the prediction is also
scaled by |J9 - J0|_gt / |J9 - J0|_pred (the official rule), which removes the depth/scale
ambiguity of weak supervision. Losses are mean absolute errors in METRES over valid slots
(the official code multiplied by 1000 inside; that factor is in `DEFAULT_WEIGHTS`).
"""

from __future__ import annotations

import torch

from smhr.hands.keypoints import ROOT_INDEX, WRIST_INDEX

__all__ = ["JOINTS3D_FRAMES", "align_to_root", "joints3d_loss", "root_depth_loss", "rotate_to_virtual_ray"]

JOINTS3D_FRAMES = ("label", "virtual_ray")  # the camera the 3D joint targets are compared in

SCALE_EPS = 1e-6  # m


def align_to_root(
    points: torch.Tensor, joints: torch.Tensor, ref_joints: torch.Tensor | None = None
) -> torch.Tensor:
    """points [...,N,3] minus joints[..., 9]; if ref_joints is given, also scaled by
    |J9 - J0|_ref / |J9 - J0| (bone 0-9 of `joints` matched to the reference's)."""
    out = points - joints[..., ROOT_INDEX : ROOT_INDEX + 1, :]
    if ref_joints is not None:
        own = (joints[..., ROOT_INDEX, :] - joints[..., WRIST_INDEX, :]).norm(dim=-1)
        ref = (ref_joints[..., ROOT_INDEX, :] - ref_joints[..., WRIST_INDEX, :]).norm(dim=-1)
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


def root_depth_loss(
    pred_joints: torch.Tensor, target_joints: torch.Tensor, target_focal: torch.Tensor,
    valid: torch.Tensor, virtual_focal: float,
) -> torch.Tensor:
    """Mean |log Z_pred - log(Z_gt * virtual_focal / f_gt)| of the root joint (9), over valid slots.

    pred_joints [B,K,21,3] in the network's virtual camera (focal `virtual_focal`), target_joints
    [B,K,21,3] in the hand's own camera of focal target_focal [B,K] px (same pixel frame); valid
    [B,K] (valid & has_joints3d & has_focal).

    Why: the joint losses above are root-relative and scale-normalised, so only the 2D
    reprojection loss sets a hand's depth in the virtual camera, and while the orientation is
    still wrong it lowers that loss by pushing the hand away until it shrinks to a dot at its
    centre (measured: a CPU run drifted from 0.8 m to ~4.5 m, hands ~15 px wide). Where the camera
    is known, the depth that gives the hand its true image size is Z_gt * f_virtual / f_gt (the
    inverse of `smhr.model.camera.to_real_camera`); this pins it. Log ratio: scale-free, and a
    hand twice too far costs as much as one twice too near.
    """
    v = valid.bool()
    one = torch.ones((), device=pred_joints.device)  # stands in for invalid slots: no NaN gradients
    z_pred = torch.where(v, pred_joints[..., ROOT_INDEX, 2].float(), one)
    z_gt = torch.where(v, target_joints[..., ROOT_INDEX, 2].float(), one)
    f_gt = torch.where(v, target_focal.float(), one * float(virtual_focal))
    ratio = z_pred.clamp(min=1e-3) * f_gt / (z_gt.clamp(min=1e-3) * virtual_focal)
    per = torch.where(v, ratio.log().abs(), one * 0.0)
    return per.sum() / v.sum().clamp(min=1)


def rotate_to_virtual_ray(
    target_joints: torch.Tensor, root_px: torch.Tensor, input_size: int, virtual_focal: float
) -> torch.Tensor:
    """target_joints [...,21,3] (m, in the label's own camera) turned about that camera's centre so
    their root joint (9) lies on the virtual camera's ray through root_px [...,2] (the root's 2D
    label, network pixels; principal point at input_size / 2, as `smhr.model.camera`).

    Why: the network places every hand in the virtual camera (f = `virtual_focal`), and the 2D losses
    compare its projection there with the labels, while the 3D labels live in the camera the hand was
    rendered or captured with. For a hand off the image centre the two cameras see it along rays
    several degrees apart (median 9.8 degrees on synth-base composites), so the exact 3D label,
    placed in the virtual camera, misses its own 2D label (median 1.44 px) and the two kinds of loss
    ask for different global orientations. The rotation taking the label's root ray onto the virtual
    ray makes them agree (root-relative joint losses are unchanged by where the root is, not by the
    turn). Rodrigues between unit vectors a, b: R = I + [v]x + [v]x^2 / (1 + a.b), v = a x b."""
    root = target_joints[..., ROOT_INDEX, :].float()
    a = root / root.norm(dim=-1, keepdim=True).clamp(min=SCALE_EPS)
    c = input_size / 2.0
    ray = torch.cat([(root_px.float() - c) / virtual_focal, torch.ones_like(root_px[..., :1]).float()], -1)
    b = ray / ray.norm(dim=-1, keepdim=True)
    v = torch.cross(a, b, dim=-1)
    cos = (a * b).sum(-1).clamp(min=-1.0 + 1e-6)
    zero = torch.zeros_like(v[..., 0])
    vx = torch.stack([torch.stack([zero, -v[..., 2], v[..., 1]], -1),
                      torch.stack([v[..., 2], zero, -v[..., 0]], -1),
                      torch.stack([-v[..., 1], v[..., 0], zero], -1)], -2)  # fmt: skip
    eye = torch.eye(3, dtype=vx.dtype, device=vx.device).expand_as(vx)
    R = eye + vx + vx @ vx / (1.0 + cos)[..., None, None]
    return target_joints.float() @ R.transpose(-1, -2)


def _ref(target_joints: torch.Tensor, align: str) -> torch.Tensor | None:
    if align == "scale":
        return target_joints
    if align == "root":
        return None
    raise ValueError(f"3D loss align must be 'root' or 'scale', got {align!r}")
