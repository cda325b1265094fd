"""Peak decoding in PyTorch for TRAINING: NMS, top-K, gathering and differentiable hands at cells.

Small named steps in the CenterNet manner (`nms`, `topk`, `gather_feat`, `select_side`) and
`hands_from_params`, which poses the hands of gathered parameters differentiably (the training
objective gathers at the ground-truth centres). Inference does not decode here: the network's
peaks (`smhr.model.peaks.PeakNet`, the same `nms`) go to the one NumPy decode,
`smhr.runtime.decode`, whichever backend runs the network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from smhr.geometry.cameras import project
from smhr.hands.keypoints import LEFT, RIGHT
from smhr.hands.params import select_side, split_params
from smhr.model.camera import (
    cell_centres,
    cell_coords,
    decode_translation,
    virtual_intrinsics,
)

__all__ = [
    "gather_feat",
    "hands_from_params",
    "local_keypoints",
    "nms",
    "run_hand_models",
    "select_side",
    "topk",
]



def nms(heat: torch.Tensor, kernel: int = 5) -> torch.Tensor:
    """Keep only local maxima in a kernel x kernel window (max-pool equality); others become 0.
    heat [B,C,H,W] -> same shape."""
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=kernel // 2)
    return heat * (hmax == heat).to(heat.dtype)


def topk(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k cells of the first channel of heat [B,C,H,W] -> (scores [B,k], flat indices [B,k])."""
    flat = heat[:, 0].flatten(1)
    return flat.topk(min(k, flat.shape[1]), dim=1)


def gather_feat(feat: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """Read feat [B,C,H,W] at flat cells ind [B,K] -> [B,K,C]."""
    B, C = feat.shape[:2]
    return feat.flatten(2).gather(2, ind[:, None, :].expand(B, C, -1)).transpose(1, 2)


def local_keypoints(ind: torch.Tensor, kp_offsets: torch.Tensor, width: int, stride: int) -> torch.Tensor:
    """Keypoints [B,K,21,2] network px from the local head: (cell (x, y) + offsets) * stride, the
    inverse of the targets' `local_keypoints = keypoints / stride - cell`."""
    return (cell_coords(ind, width)[..., None, :] + kp_offsets.float()) * stride


def run_hand_models(
    hand_models: Sequence[nn.Module], side: torch.Tensor, global_orient: torch.Tensor, pose: torch.Tensor,
    betas: torch.Tensor, transl: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate the left model for left slots and the right model for right slots.

    Inputs [B,K,*]; returns vertices [B,K,V,3], joints [B,K,21,3]. Both models run on every slot and
    the result is selected per slot (static shapes: no host sync, CUDA-graph friendly; a hand model
    costs little next to the network).
    """
    B, K = side.shape
    args = [t.reshape(B * K, -1).float() for t in (global_orient, pose, betas, transl)]
    if side.device.type == "cpu" and not torch.is_grad_enabled():
        # CPU inference: each model only on its own slots (a host sync costs nothing here)
        flat = side.reshape(B * K)
        V = hand_models[RIGHT].num_vertices
        verts = torch.zeros(B * K, V, 3)
        joints = torch.zeros(B * K, 21, 3)
        for s in (LEFT, RIGHT):
            idx = torch.nonzero(flat == s).flatten()
            if len(idx):
                o = hand_models[s](*[a[idx] for a in args])
                verts[idx], joints[idx] = o.vertices, o.joints
        return verts.view(B, K, -1, 3), joints.view(B, K, -1, 3)
    outs = [hand_models[s](*args) for s in (LEFT, RIGHT)]
    is_left = (side == LEFT).reshape(B * K, 1, 1)
    verts = torch.where(is_left, outs[0].vertices, outs[1].vertices)
    joints = torch.where(is_left, outs[0].joints, outs[1].joints)
    return verts.view(B, K, -1, 3), joints.view(B, K, -1, 3)


def hands_from_params(
    params: torch.Tensor, ind: torch.Tensor, side: torch.Tensor, hand_models: Sequence[nn.Module],
    input_size: int, grid_width: int, stride: int = 4,
) -> dict[str, torch.Tensor]:
    """Differentiable per-slot hands from gathered parameters (training uses GT `ind` and `side`).

    params [B,K,122] (head output at cells ind [B,K]); side [B,K] (0 left) picks the parameter set
    and the hand model. Runs in float32 with autocast off (bf16 would cost millimetres on a 0.8 m
    translation). Returns global_orient [B,K,3], pose [B,K,45], betas [B,K,10], transl [B,K,3] m,
    vertices [B,K,V,3] m, joints3d [B,K,21,3] m, keypoints2d [B,K,21,2] network px (projection
    with the virtual camera), center [B,K,2] px (anchor cell centres), side, K [B,3,3] virtual.
    """
    with torch.autocast(params.device.type, enabled=False):
        B = ind.shape[0]
        p = split_params(select_side(params.float(), side))
        centre = cell_centres(ind, grid_width, stride)
        Kv = virtual_intrinsics(input_size, device=params.device).expand(B, 3, 3)
        transl = decode_translation(p["transl"], centre, input_size)
        verts, joints = run_hand_models(hand_models, side, p["global_orient"], p["pose"], p["betas"], transl)
        return {
            "side": side,
            "center": centre,
            "global_orient": p["global_orient"],
            "pose": p["pose"],
            "betas": p["betas"],
            "transl": transl,
            "vertices": verts,
            "joints3d": joints,
            "keypoints2d": project(joints, Kv[:, None]),
            "K": Kv,
        }
