"""`NumpyHandModel`: the hand layer in NumPy, for torch-free CPU inference.

Why: importing PyTorch costs ~1.5 s and ~600 MB before the first image, more than the whole
inference budget of a CPU demo. The runtime path (`smhr.runtime`) therefore runs the network in
onnxruntime and the hand model here. Same arrays (`smhr.hands.assets`), same conventions and the
same algebra as `smhr.hands.lbs.lbs` (tested equal to 1e-6 m): shape blend, joint regression,
pose correctives, kinematic chain about the shaped wrist, skinning, then translation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from smhr.hands.assets import load_hand_arrays
from smhr.hands.keypoint_definitions import matrix_of_arrays
from smhr.hands.keypoints import MANO21_TO_FREIHAND

__all__ = ["NumpyHandModel", "rodrigues"]


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] -> rotation matrices [..., 3, 3] (float64 inside, exact at 0)."""
    r = np.asarray(rotvec, np.float64)
    t2 = (r * r).sum(-1, keepdims=True)
    small = t2 < 1e-8
    t2s = np.where(small, 1.0, t2)
    t = np.sqrt(t2s)
    a = np.where(small, 1.0 - t2 / 6.0, np.sin(t) / t)
    b = np.where(small, 0.5 - t2 / 24.0, (1.0 - np.cos(t)) / t2s)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*r.shape[:-1], 3, 3)
    return np.eye(3) + a[..., None] * K + b[..., None] * (K @ K)


def _tree_levels(parents: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(joints, their parents) per depth of the kinematic tree, roots first (parents -1)."""
    depth: list[int] = []
    for p in parents:  # parents come before children
        depth.append(0 if p < 0 else depth[p] + 1)
    d = np.asarray(depth)
    out = []
    for level in range(int(d.max()) + 1 if len(d) else 0):
        js = np.flatnonzero(d == level)
        out.append((js, np.asarray(parents)[js]))
    return out


class NumpyHandModel:
    """Hand mesh layer (flat hand mean; see `smhr.hands.model` for the parameter conventions).

    __call__(global_orient [B,3], pose [B,45], betas [B,<=S] | None, transl [B,3] | None)
    -> (vertices [B,V,3], joints [B,21,3] FreiHAND order), float32 metres; the joints are the
    keypoints of definition `keypoints` (smhr.hands.keypoint_definitions), as `HandModel`'s.
    """

    def __init__(self, arrays: Mapping[str, Any], kind: str = "custom", side: str = "right",
                 keypoints: str = "joints") -> None:
        self.kind, self.side, self.keypoints = kind, side, keypoints
        f32 = np.float32
        self.v_template = np.asarray(arrays["v_template"], f32)
        V = self.v_template.shape[0]
        self.shapedirs = np.asarray(arrays["shapedirs"], f32)  # [V,3,S]
        self.posedirs = np.asarray(arrays["posedirs"], f32).reshape(-1, V * 3)
        self.J_regressor = np.asarray(arrays["J_regressor"], f32)
        self.weights = np.ascontiguousarray(np.asarray(arrays["weights"], f32))  # [V,J]
        self.parents = [int(p) for p in np.asarray(arrays["parents"]).reshape(-1)]
        self.faces = np.asarray(arrays["faces"]).astype(np.int64)
        self.tips = np.asarray(arrays["tip_vertex_ids"]).astype(np.int64)
        S = self.shapedirs.shape[-1]
        # flattened bases for single matrix products, and the joint regression of template and
        # shape directions done once
        self._shape_basis = np.ascontiguousarray(self.shapedirs.transpose(2, 0, 1).reshape(S, V * 3))
        self._J_template = self.J_regressor @ self.v_template  # [J,3]
        self._J_basis = np.einsum("jv,vcs->sjc", self.J_regressor, self.shapedirs).reshape(S, -1)  # [S,J*3]
        self._order = np.asarray(MANO21_TO_FREIHAND)
        self.num_betas = S
        self._levels = _tree_levels(self.parents)
        mix = matrix_of_arrays(arrays, kind, keypoints)
        self._keypoint_mix = None if np.array_equal(mix, np.eye(len(mix))) else mix.astype(f32)

    @classmethod
    def load(cls, kind: str, side: str, path: str | os.PathLike | None = None,
             keypoints: str = "joints") -> NumpyHandModel:
        """A registered hand model (`smhr.hands.assets`) for side "left" | "right"."""
        return cls(load_hand_arrays(kind, side, path), kind=kind, side=side, keypoints=keypoints)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def __call__(
        self,
        global_orient: np.ndarray,
        pose: np.ndarray,
        betas: np.ndarray | None = None,
        transl: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        f32 = np.float32
        go = np.asarray(global_orient, f32).reshape(-1, 3)
        B = go.shape[0]
        J, V = len(self.parents), self.num_vertices
        pose = np.asarray(pose, f32).reshape(B, -1)
        b = np.zeros((B, 0), f32) if betas is None else np.asarray(betas, f32).reshape(B, -1)
        S = b.shape[1]
        rot = rodrigues(np.concatenate([go, pose], 1).reshape(B, J, 3)).astype(f32)  # [B,J,3,3]
        v_shaped = self.v_template + (b @ self._shape_basis[:S]).reshape(B, V, 3)
        joints = self._J_template + (b @ self._J_basis[:S]).reshape(B, J, 3)
        if self.posedirs.shape[0]:
            feat = (rot[:, 1:] - np.eye(3, dtype=f32)).reshape(B, -1)
            v_shaped = v_shaped + (feat @ self.posedirs).reshape(B, V, 3)
        G_R = np.empty_like(rot)
        G_t = np.empty_like(joints)
        roots = self._levels[0][0]
        G_R[:, roots], G_t[:, roots] = rot[:, roots], joints[:, roots]
        for js, ps in self._levels[1:]:  # one tree depth at a time: the same products, 3 steps, not 15
            G_R[:, js] = G_R[:, ps] @ rot[:, js]
            G_t[:, js] = (G_R[:, ps] @ (joints[:, js] - joints[:, ps])[..., None])[..., 0] + G_t[:, ps]
        t_rel = G_t - (G_R @ joints[..., None])[..., 0]
        # columns c of every joint's [R | t] as [4, J, B*3]: one batched matrix product blends them
        # all ([4, V, B*3]) and the blended transform is applied column by column in place
        cols = np.concatenate([G_R, t_rel[..., None]], -1).transpose(3, 1, 0, 2).reshape(4, J, B * 3)
        T = self.weights @ cols  # [4,V,B*3]
        vt = v_shaped.transpose(2, 1, 0)  # [3,V,B]
        verts = T[3].reshape(V, B, 3).copy()
        term = np.empty_like(verts)  # one buffer for the three products: no temporaries per column
        for c in range(3):
            verts += np.multiply(T[c].reshape(V, B, 3), vt[c][..., None], out=term)
        if transl is not None:  # added in place; the joints read the vertex tips afterwards
            t = np.asarray(transl, f32).reshape(B, 3)
            verts += t
            G_t = G_t + t[:, None]
        verts = np.ascontiguousarray(verts.transpose(1, 0, 2))
        joints21 = np.concatenate([G_t, verts[:, self.tips]], 1)[:, self._order]
        if self._keypoint_mix is not None:
            joints21 = np.einsum("kj,bjc->bkc", self._keypoint_mix, joints21)
        return verts, joints21.astype(f32, copy=False)
