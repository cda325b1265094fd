"""From the peaks contract's outputs to `Hand` records, in NumPy: the one inference decode.

Both backends (onnxruntime and PyTorch, `smhr.runtime.contract`) end here. A slot is kept when its
peak score reaches the threshold; its side is the larger handedness logit (or the caller's, for
single-side data); its parameter set (left 0:61, right 61:122, `smhr.hands.params`) is orient 3,
articulation 45, betas 10 and (a, b, c); the hand-model origin sits on the ray through pixel
(cell centre + (a, b)) of the 512-px virtual camera at depth c + 0.8 m (`smhr.model.camera` has
the same rule in PyTorch for training); 2D points go back to the original image through the
inverse letterbox, and with real intrinsics K the hand moves along its ray, depth scaled by
f_real / 512 (a rigid shift: the hand models need not run again).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smhr.geometry.virtual_camera import DEPTH_OFFSET, VIRTUAL_FOCAL, project_points, virtual_intrinsics
from smhr.hands.numpy_model import NumpyHandModel
from smhr.hands.params import select_side, split_params
from smhr.records import Hand
from smhr.runtime import translation_fit
from smhr.runtime.contract import STRIDE

__all__ = ["decode_peaks", "peak_keypoints"]


def peak_keypoints(outputs: dict[str, np.ndarray], b_idx: np.ndarray, s_idx: np.ndarray, grid_width: int,
                   stride: int = STRIDE) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(cell (x, y) [n,2], the local keypoint head's 21 points [n,21,2] in network pixels) of the
    slots (b_idx, s_idx): a keypoint at cell coordinate u lies at pixel u * stride (the targets'
    convention), the offsets relative to the cell's integer corner."""
    cells = outputs["cells"][b_idx, s_idx].astype(np.int64)
    xy = np.stack([cells % grid_width, cells // grid_width], -1).astype(np.float64)
    local = (xy[:, None, :] + outputs["kp_offsets"][b_idx, s_idx].reshape(len(xy), 21, 2)) * stride
    return xy, local


def decode_peaks(
    outputs: dict[str, np.ndarray],
    hand_models: Sequence[NumpyHandModel],
    input_size: int,
    grid_width: int,
    affines: np.ndarray,
    threshold: float,
    K: np.ndarray | None = None,
    side: int | None = None,
    stride: int = STRIDE,
    fit_translation: bool = False,
) -> list[list[Hand]]:
    """Hands per image (best score first) from one run of the peaks contract.

    outputs: scores [B,S], cells [B,S], params [B,S,122], kp_offsets [B,S,42], handedness [B,S,2],
    and optionally texture [B,S,3V], light [B,S,27] (then `Hand.texture` / `Hand.light` are set);
    hand_models (left, right); grid_width: cells per row of the output map (input_size / stride);
    affines [B,3,3] original->network; K [B,3,3] real intrinsics in original pixels or None (then
    `Hand.K` is the virtual camera in original pixels); side None = each hand's side from its
    handedness logits, 0 / 1 = every hand is decoded as left / right (e.g. FreiHAND's right hands).
    fit_translation: move each hand (mesh, joints, translation) to where its local keypoints put it
    (`smhr.runtime.translation_fit`), before projecting; pose and shape stay as predicted.
    """
    keep = outputs["scores"] >= threshold
    B = keep.shape[0]
    Kv = virtual_intrinsics(input_size)
    b_idx, s_idx = np.nonzero(keep)
    result: list[list[Hand]] = [[] for _ in range(B)]
    if not len(b_idx):
        return result
    xy, local = peak_keypoints(outputs, b_idx, s_idx, grid_width, stride)
    centre = (xy + 0.5) * stride
    forced = None if side is None else np.full(len(b_idx), int(side))
    logits = outputs["handedness"][b_idx, s_idx].astype(np.float64)
    side = logits.argmax(-1) if forced is None else forced
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob = (prob / prob.sum(-1, keepdims=True)).astype(np.float32)
    params = outputs["params"][b_idx, s_idx].astype(np.float64)
    p = split_params(select_side(params, side))
    go, pose, betas, raw = p["global_orient"], p["pose"], p["betas"], p["transl"]
    depth = raw[:, 2] + DEPTH_OFFSET
    uv0 = centre + raw[:, :2]
    transl = np.stack(
        [(uv0[:, 0] - Kv[0, 2]) / Kv[0, 0] * depth, (uv0[:, 1] - Kv[1, 2]) / Kv[1, 1] * depth, depth], -1
    )
    n = len(b_idx)
    V = hand_models[1].num_vertices
    verts = np.zeros((n, V, 3), np.float32)
    joints = np.zeros((n, 21, 3), np.float32)
    for s in (0, 1):
        sel = np.flatnonzero(side == s)
        if len(sel):
            verts[sel], joints[sel] = hand_models[s](go[sel], pose[sel], betas[sel], transl[sel])
    A = np.asarray(affines, np.float64).reshape(B, 3, 3)
    A_inv = np.linalg.inv(A)
    if K is not None:  # same pixel ray, depth scaled by f_real / f_virtual: a shift of the whole hand
        K_orig = np.asarray(K, np.float64).reshape(B, 3, 3)
        K_net = (A @ K_orig)[b_idx]
        f_net = 0.5 * (K_net[:, 0, 0] + K_net[:, 1, 1])
        pixel = np.concatenate([uv0, np.ones((n, 1))], -1)
        ray = np.linalg.solve(K_net, pixel[..., None])[..., 0]  # the full K: a skewed one too
        ray = ray / ray[:, 2:3]
        new_t = ray * (depth * f_net / VIRTUAL_FOCAL)[:, None]
        shift = (new_t - transl).astype(np.float32)[:, None]
        verts, joints, transl = verts + shift, joints + shift, new_t
        K_hand, K_cam = K_orig[b_idx], K_net
    else:
        K_hand, K_cam = A_inv[b_idx] @ Kv, np.broadcast_to(Kv, (n, 3, 3))
    if fit_translation:  # in the network's pixels, where the local keypoints are
        new_t = translation_fit.fit_translation(joints, transl, local, K_cam)
        shift = (new_t - transl).astype(np.float32)[:, None]
        verts, joints, transl = verts + shift, joints + shift, new_t
    kp = project_points(joints, K_cam)
    Ai = A_inv[b_idx]  # [n,3,3]
    kp = _apply_batch(Ai, kp)
    local = _apply_batch(Ai, local)
    centre_o = _apply_batch(Ai, centre[:, None])[:, 0]
    f32 = np.float32
    go, pose, betas, transl, K_hand = (a.astype(f32) for a in (go, pose, betas, transl, K_hand))
    scores = outputs["scores"][b_idx, s_idx]
    texture = light = None
    if "texture" in outputs and "light" in outputs:  # weights with appearance heads
        texture = outputs["texture"][b_idx, s_idx].astype(f32).reshape(n, -1, 3)
        light = outputs["light"][b_idx, s_idx].astype(f32)
    for i in np.argsort(-scores, kind="stable"):
        result[int(b_idx[i])].append(
            Hand(
                side=int(side[i]),
                score=float(scores[i]),
                center=centre_o[i],
                global_orient=go[i],
                pose=pose[i],
                betas=betas[i],
                transl=transl[i],
                vertices=verts[i],
                joints3d=joints[i],
                keypoints2d=kp[i],
                local_keypoints2d=local[i],
                K=K_hand[i],
                texture=None if texture is None else texture[i],
                light=None if light is None else light[i],
                handedness=prob[i],
            )
        )
    return result


def _apply_batch(A: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Affines A [n,3,3] applied to points uv [n,P,2] -> float32 [n,P,2]."""
    return (uv @ np.swapaxes(A[:, :2, :2], -1, -2) + A[:, None, :2, 2]).astype(np.float32)
