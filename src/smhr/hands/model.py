"""`HandModel`: one differentiable hand layer for MANO and the bundled Anny hand.

The module is data plus `smhr.hands.lbs.lbs`: it registers the asset arrays of
docs/hand-asset-format.md as buffers and skins them. Loading (`HandModel.load`) is the only place
that knows the file formats.

Parameters and frame (all per hand, batched over B, B may be 0):
- global_orient [B,3] axis-angle: rotates the whole hand rigidly about the *shaped wrist joint*
  (the wrist stays where the shaped rest model has it);
- pose [B,45] axis-angle of the 15 finger joints in MANO-native order (flat mean: zeros = the
  asset's rest hand; with `flat_hand_mean=False` the file's `hands_mean` is added), or [B,n] PCA
  coefficients when the model was loaded with `pca_components=n`;
- betas [B,<=10] shape coefficients (missing trailing ones are 0);
- transl [B,3] metres, added to every output point after skinning. So at zero pose/shape the
  output is `v_template + transl`: the model-frame origin lands at transl (as in the official
  MANO code), and the wrist lands at `J_wrist(betas) + transl`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from smhr.hands.assets import ASSET_KEYS, HAND_MODELS, SIDES, anny_asset_path, load_hand_arrays
from smhr.hands.errors import HandModelError
from smhr.hands.keypoint_definitions import matrix_of_arrays
from smhr.hands.keypoints import FREIHAND_NAMES, MANO21_TO_FREIHAND
from smhr.hands.lbs import chain_levels, lbs, rotvec_to_rotmat

NUM_BETAS = 10


@dataclass
class HandOutput:
    """Posed hands, metres, float32: vertices [B,V,3]; joints [B,21,3] FreiHAND order (16 skeleton
    joints + 5 fingertip vertices, mixed by the model's keypoint definition,
    `smhr.hands.keypoint_definitions`); joints16 [B,16,3] skeleton joints in the model's native order."""

    vertices: torch.Tensor
    joints: torch.Tensor
    joints16: torch.Tensor


class HandModel(nn.Module):
    """Differentiable hand mesh layer (see the module docstring for the parameter conventions).

    Buffers: v_template [V,3], shapedirs [V,3,S], posedirs [P,V*3], J_regressor [16,V],
    weights [V,16], parents [16], faces [F,3] (long), tip_vertex_ids [5], part_labels [V],
    hands_mean [45], hands_components [C,45] (PCA pose basis; MANO only, else identity),
    keypoint_mix [21,21] (`keypoints`: "joints" = identity | "labels", smhr.hands.keypoint_definitions).
    """

    def __init__(
        self,
        arrays: Mapping[str, Any],
        *,
        pca_components: int | None = None,
        flat_hand_mean: bool = True,
        kind: str | None = None,
        side: str | None = None,
        keypoints: str = "joints",
    ) -> None:
        super().__init__()
        missing = [k for k in ASSET_KEYS if k not in arrays]
        if missing:
            raise HandModelError(f"hand-model arrays lack {missing} (see docs/hand-asset-format.md)")

        def f32(key: str) -> torch.Tensor:
            return torch.as_tensor(np.asarray(arrays[key], dtype=np.float32))

        def i64(key: str) -> torch.Tensor:
            return torch.as_tensor(np.asarray(arrays[key]).astype(np.int64))

        v = f32("v_template")
        V = v.shape[0]
        parents = i64("parents")
        J = parents.shape[0]
        self.parents_tuple: tuple[int, ...] = tuple(int(p) for p in parents.tolist())
        chain_levels(self.parents_tuple)  # validates the tree
        shapedirs = f32("shapedirs")
        posedirs = f32("posedirs").reshape(-1, V * 3)
        checks = {
            "parents": (parents.shape, (len(MANO21_TO_FREIHAND) - 5,)),  # 16 skeleton joints
            "v_template": (v.shape, (V, 3)),
            "shapedirs": (shapedirs.shape[:2], (V, 3)),
            "J_regressor": (f32("J_regressor").shape, (J, V)),
            "weights": (f32("weights").shape, (V, J)),
            "posedirs": (posedirs.shape, (posedirs.shape[0] and 9 * (J - 1), V * 3)),
            "tip_vertex_ids": (i64("tip_vertex_ids").shape, (5,)),
            "part_labels": (i64("part_labels").shape, (V,)),
            "hands_mean": (f32("hands_mean").reshape(-1).shape, (3 * (J - 1),)),
        }
        for key, (got, want) in checks.items():
            if tuple(got) != tuple(want):
                raise HandModelError(f"hand-model array {key!r} has shape {tuple(got)}, expected {want}")
        row_sums = f32("weights").sum(1)
        if not torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-4):
            worst = int((row_sums - 1).abs().argmax())
            raise HandModelError(
                f"skinning weights of vertex {worst} sum to {row_sums[worst]:.4f}, expected 1"
            )
        tips = i64("tip_vertex_ids")
        if int(tips.min()) < 0 or int(tips.max()) >= V:
            raise HandModelError(f"tip_vertex_ids {tips.tolist()} out of range for {V} vertices")
        n_pose = 3 * (J - 1)
        comps = f32("hands_components") if "hands_components" in arrays else torch.eye(n_pose)
        if pca_components is not None and not 1 <= pca_components <= comps.shape[0]:
            raise HandModelError(f"pca_components must be in 1..{comps.shape[0]}, got {pca_components}")

        self.kind = kind if kind is not None else str(arrays.get("name", "custom"))
        self.side = side if side is not None else str(arrays.get("side", "right"))
        self.pca_components = pca_components
        self.flat_hand_mean = flat_hand_mean
        self.keypoints = keypoints
        mix = matrix_of_arrays(arrays, self.kind, keypoints)
        self._mixes_keypoints = not np.array_equal(mix, np.eye(len(mix)))
        buffers = {
            "v_template": v,
            "shapedirs": shapedirs,
            "posedirs": posedirs,
            "J_regressor": f32("J_regressor"),
            "weights": f32("weights"),
            "parents": parents,
            "faces": i64("faces"),
            "tip_vertex_ids": tips,
            "part_labels": i64("part_labels"),
            "hands_mean": f32("hands_mean").reshape(-1),
            "hands_components": comps,
            "keypoint_order": torch.as_tensor(MANO21_TO_FREIHAND, dtype=torch.long),
            "keypoint_mix": torch.as_tensor(mix, dtype=torch.float32),
        }
        # Not persistent: a network checkpoint must never carry (licence-restricted) MANO arrays;
        # the model is always re-created from its file. `arrays()` exports them explicitly.
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    def arrays(self) -> dict[str, np.ndarray]:
        """The asset arrays (docs/hand-asset-format.md, plus hands_components) as numpy, on CPU;
        `HandModel.from_arrays(m.arrays())` rebuilds the same model."""
        out = {k: getattr(self, k).detach().cpu().numpy() for k in ASSET_KEYS}
        out["faces"] = out["faces"].astype(np.int32)
        out["hands_components"] = self.hands_components.cpu().numpy()
        out["side"], out["name"] = np.array(self.side), np.array(self.kind)
        return out

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any], **kwargs: Any) -> HandModel:
        """Build from asset arrays (docs/hand-asset-format.md); kwargs as `__init__`."""
        return cls(arrays, **kwargs)

    @classmethod
    def load(
        cls,
        kind: str,
        side: str,
        path: str | os.PathLike | None = None,
        *,
        pca_components: int | None = None,
        flat_hand_mean: bool = True,
        keypoints: str = "joints",
    ) -> HandModel:
        """Load a registered kind (`smhr.hands.assets`): "anny" (bundled asset, or `path`) or "mano"
        (`path` = MANO_{SIDE}.pkl or its folder; default $SMHR_MANO_DIR) for side "left" | "right";
        keypoints: which 21 points it outputs (`smhr.hands.keypoint_definitions`). Raises
        HandModelError / HandModelNotFoundError with a one-line fix."""
        arrays = load_hand_arrays(kind, side, path)
        return cls(arrays, pca_components=pca_components, flat_hand_mean=flat_hand_mean, kind=kind, side=side,
                   keypoints=keypoints)

    # ------------------------------------------------------------------ properties
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[-1])

    @property
    def pose_dim(self) -> int:
        """Width of the `pose` argument: 45, or the number of PCA components."""
        return self.pca_components if self.pca_components is not None else int(self.hands_mean.shape[0])

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Names of the 21 output joints (FreiHAND order)."""
        return FREIHAND_NAMES

    # ------------------------------------------------------------------ forward
    def full_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """pose [B,45] or PCA [B,n] -> articulation axis-angle [B,45] (hands_mean added unless
        flat_hand_mean)."""
        if self.pca_components is not None:
            pose = pose.float() @ self.hands_components[: self.pca_components]
        if not self.flat_hand_mean:
            pose = pose + self.hands_mean
        return pose

    def forward(
        self,
        global_orient: torch.Tensor,
        pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> HandOutput:
        """global_orient [B,3], pose [B,45] (or [B,n] PCA), betas [B,<=10] (None = 0), transl [B,3]
        metres (None = 0) -> HandOutput (float32, also under autocast)."""
        B = global_orient.shape[0]
        dev = self.v_template.device
        if betas is None:
            betas = torch.zeros(B, self.num_betas, device=dev)
        if transl is None:
            transl = torch.zeros(B, 3, device=dev)
        shapes = {"global_orient": (global_orient, 3), "pose": (pose, self.pose_dim), "transl": (transl, 3)}
        for name, (t, n) in shapes.items():
            if t.dim() != 2 or t.shape[0] != B or t.shape[1] != n:
                raise ValueError(f"{name} must have shape [B={B}, {n}], got {tuple(t.shape)}")
        if betas.dim() != 2 or betas.shape[0] != B or betas.shape[1] > self.num_betas:
            raise ValueError(f"betas must have shape [B={B}, <={self.num_betas}], got {tuple(betas.shape)}")
        with torch.autocast(device_type=dev.type, enabled=False):
            articulation = self.full_pose(pose.float())
            rotvecs = torch.cat([global_orient.float(), articulation], 1).view(B, len(self.parents_tuple), 3)
            verts, joints16 = lbs(
                betas.float(), rotvec_to_rotmat(rotvecs), self.v_template, self.shapedirs, self.posedirs,
                self.J_regressor, self.parents_tuple, self.weights,
            )  # fmt: skip
            t = transl.float()[:, None]
            joints21 = torch.cat([joints16, verts[:, self.tip_vertex_ids]], 1)[:, self.keypoint_order]
            if self._mixes_keypoints:
                joints21 = torch.einsum("kj,bjc->bkc", self.keypoint_mix, joints21)
            return HandOutput(vertices=verts + t, joints=joints21 + t, joints16=joints16 + t)

    def extra_repr(self) -> str:
        return (f"kind={self.kind}, side={self.side}, vertices={self.num_vertices}, "
                f"pose_dim={self.pose_dim}, keypoints={self.keypoints}")


__all__ = ["HAND_MODELS", "SIDES", "HandModel", "HandOutput", "anny_asset_path"]
