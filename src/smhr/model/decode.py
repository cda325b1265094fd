"""From network outputs to hands: NMS -> top-K -> threshold -> gather -> hand model -> `Hand` records.

Small named steps in the CenterNet manner (`nms`, `topk`, `gather_feat`, `select_side`), then
`decode_tensors` (fixed-size, batched, no host sync: every image keeps `max_hands` slots with a
`keep` mask, so the cost does not depend on how many hands are found) and `decode` (records on the
CPU, in original-image pixels).

Letterbox: `affine` maps ORIGINAL image pixels to NETWORK pixels (2x3 or 3x3, or one per image,
e.g. `smhr.geometry.letterbox.letterbox_image(...)[1]`); 2D outputs are mapped back with its inverse.
With real intrinsics `K` (original pixels) hands are re-expressed metrically (`camera.to_real_camera`);
without, they stay in the 512-px virtual camera and `Hand.K` is that camera in original pixels, so
`project(hand.joints3d, hand.K) == hand.keypoints2d` either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

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
    to_real_camera,
    virtual_intrinsics,
)
from smhr.model.net import SMHRNet
from smhr.records import DEFAULT_THRESHOLD, Hand

if TYPE_CHECKING:  # numpy only for the records; the tensor path runs on torch alone
    import numpy as np

__all__ = [
    "Hand",
    "decode",
    "decode_network",
    "decode_tensors",
    "gather_feat",
    "hands_from_params",
    "local_keypoints",
    "nms",
    "select_side",
    "to_original",
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


def _affines(
    affine: np.ndarray | torch.Tensor | None, B: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """([B,3,3], [B,3,3]) float64 original->network affines and their inverses on `device`.

    Inverted where the affine lives (usually the host), so the device never waits for a
    singularity check; None gives identities made on the device (no host->device copy, which
    keeps the whole decode capturable in a CUDA graph).
    """
    if affine is None:
        eye = torch.eye(3, dtype=torch.float64, device=device).expand(B, 3, 3)
        return eye, eye
    A = torch.as_tensor(affine).to(torch.float64)
    if A.shape[-2:] == (2, 3):
        last = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device=A.device).expand(*A.shape[:-2], 1, 3)
        A = torch.cat([A, last], dim=-2)
    if A.shape[-2:] != (3, 3) or A.ndim not in (2, 3):
        raise ValueError(f"decode: affine must be [2,3], [3,3] or [B,2|3,3], got {tuple(A.shape)}")
    A = A.expand(B, 3, 3)
    return A.to(device), torch.linalg.inv(A).to(device)


def _apply(A: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Apply [B,3,3] affines to points [B,K,N,2]."""
    A = A.to(uv.dtype)[:, None]
    return uv @ A[..., :2, :2].transpose(-1, -2) + A[..., None, :2, 2]


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


@torch.no_grad()
def decode_network(
    net: nn.Module,
    images: torch.Tensor,
    hand_models: Sequence[nn.Module],
    *,
    max_hands: int = 10,
    threshold: float = DEFAULT_THRESHOLD,
    kernel: int = 5,
    with_appearance: bool = False,
    side: int | None = None,
) -> dict[str, torch.Tensor]:
    """Network -> hands in the NETWORK frame: network pixels, 512-px virtual camera.

    side: None = each hand's side from the handedness map; 0 / 1 = treat every hand as left / right
    (for single-hand data whose side is known, e.g. FreiHAND right hands).

    Fixed shapes (max_hands slots per image), no host synchronisation and no host->device copy, so
    this call can be captured once in a CUDA graph and replayed. Returns the keys of
    `decode_tensors` with pixels in network coordinates and K the virtual intrinsics [B,3,3].
    """
    R = images.shape[-1]
    stride = int(getattr(net, "stride", 4))
    cpu_inference = images.device.type == "cpu" and not torch.is_grad_enabled()
    # on the CPU the handedness map is evaluated only at the kept peaks (a dense 3x3 head less)
    sparse_side = cpu_inference and isinstance(net, SMHRNet) and side is None
    out = net(images, handedness=False) if sparse_side else net(images)
    scores, ind = topk(nms(torch.sigmoid(out["center"].float()), kernel), max_hands)
    if cpu_inference:
        # CPU inference: drop the trailing slots no image keeps (top-K is sorted by score), so
        # the heads and hand models run only for hands that will be reported
        kept = max(1, int((scores >= threshold).sum(1).max()))
        scores, ind = scores[:, :kept], ind[:, :kept]
    g = net.gather(out["features"], ind)
    W = out["center"].shape[-1]
    if sparse_side:
        sides = net.handedness.gather(out["features"], ind).float().argmax(-1)
    elif side is None:
        sides = gather_feat(out["handedness"].float(), ind).argmax(-1)
    else:
        sides = torch.full_like(ind, int(side))
    res = hands_from_params(g["params"], ind, sides, hand_models, R, W, stride)
    res["keep"] = scores >= threshold
    res["score"] = scores
    res["local_keypoints2d"] = local_keypoints(ind, g["kp_offsets"], W, stride)
    if with_appearance:
        if "texture" not in g:
            raise ValueError("decode: with_appearance=True but the network was built with appearance=False")
        res["texture"] = g["texture"].float()
        res["light"] = g["light"].float()
    return res


@torch.no_grad()
def to_original(
    res: dict[str, torch.Tensor],
    affine: np.ndarray | torch.Tensor | None = None,
    K: np.ndarray | torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Map `decode_network` results to the ORIGINAL image: 2D outputs through the inverse of
    `affine` (original->network, 2x3/3x3 or one per image); with intrinsics K (original pixels,
    [3,3] or [B,3,3]) hands are moved metrically into that camera (`to_real_camera`: same pixel
    ray, depth x f_real/512; a rigid shift, so the hand models need not run again). Without K,
    the returned K is the virtual camera expressed in original pixels. Returns a new dict."""
    res = dict(res)
    Kv = res["K"]
    B, device = Kv.shape[0], Kv.device
    A, A_inv = _affines(affine, B, device)
    if K is not None:
        K_orig = torch.as_tensor(K).to(torch.float64).expand(B, 3, 3).to(device)
        K_net = (A @ K_orig).float()
        transl = to_real_camera(res["transl"], Kv[0], K_net[:, None])
        shift = (transl - res["transl"])[:, :, None]
        res["transl"] = transl
        res["vertices"] = res["vertices"] + shift
        res["joints3d"] = res["joints3d"] + shift
        res["keypoints2d"] = project(res["joints3d"], K_net[:, None])
    else:
        K_orig = A_inv @ Kv.double()
    res["K"] = K_orig.float()
    res["center"] = _apply(A_inv, res["center"][:, :, None])[:, :, 0]
    res["keypoints2d"] = _apply(A_inv, res["keypoints2d"])
    res["local_keypoints2d"] = _apply(A_inv, res["local_keypoints2d"])
    return res


def decode_tensors(
    net: nn.Module,
    images: torch.Tensor,
    hand_models: Sequence[nn.Module],
    *,
    affine: np.ndarray | torch.Tensor | None = None,
    K: np.ndarray | torch.Tensor | None = None,
    **kwargs,
) -> dict[str, torch.Tensor]:
    """Batched decoding with fixed shapes (max_hands slots per image): `decode_network` then
    `to_original`.

    images [B,3,R,R] normalised; hand_models (left, right); kwargs: max_hands (10), threshold
    (0.3), kernel (5), with_appearance (False), side (None = from the handedness map). Returns
    tensors, pixels in original-image
    coordinates: keep [B,K] bool (score >= threshold), score, side, center [B,K,2], global_orient,
    pose, betas, transl [B,K,3], vertices [B,K,V,3], joints3d [B,K,21,3], keypoints2d [B,K,21,2],
    local_keypoints2d [B,K,21,2], K [B,3,3] (original pixels), and texture [B,K,V,3],
    light [B,K,27] when with_appearance.
    """
    return to_original(decode_network(net, images, hand_models, **kwargs), affine, K)


def decode(
    net: nn.Module,
    images: torch.Tensor,
    hand_models: Sequence[nn.Module],
    **kwargs,
) -> list[list[Hand]]:
    """Hands per image (a list per image, best score first; [] for an image with no hand).

    Same arguments as `decode_tensors` (max_hands, threshold, kernel, affine, K, with_appearance).
    """
    t = decode_tensors(net, images, hand_models, **kwargs)
    t = {k: v.detach().cpu() for k, v in t.items()}
    names = ["center", "global_orient", "pose", "betas", "transl", "vertices", "joints3d", "keypoints2d",
             "local_keypoints2d"]
    result: list[list[Hand]] = []
    for b in range(t["keep"].shape[0]):
        hands = []
        for k in torch.nonzero(t["keep"][b]).flatten().tolist():
            extra = {}
            if "texture" in t:
                extra = {"texture": t["texture"][b, k].numpy(), "light": t["light"][b, k].numpy()}
            hands.append(
                Hand(
                    side=int(t["side"][b, k]),
                    score=float(t["score"][b, k]),
                    K=t["K"][b].numpy(),
                    **{n: t[n][b, k].float().numpy() for n in names},
                    **extra,
                )
            )
        result.append(hands)
    return result
