"""FreiHAND (v1/v2) in its original on-disk layout.

Layout (root = the folder where `training/` and `evaluation/` branch off):
    training/rgb/%08d.jpg      N x V images: image i shows annotation i % N (V sample versions:
                               gs, hom, sample, auto; N = 32560 in the release)
    training/mask/%08d.jpg     N masks (one per annotation), hand = bright pixels
    training_{K,xyz,mano,verts,scale}.json (and training_vis.json from `smhr synth --arm-prob`:
                               [21] per record, keypoint not hidden; absent = all visible, and
                               training/arm/%08d.png: the arm's pixels -> meta["arm_mask"])
    evaluation/rgb/%08d.jpg    evaluation_K.json, evaluation_scale.json and, when released,
                               evaluation_{xyz,verts,mano}.json
Conventions checked against lmb-freiburg/freihand (utils/fh_utils.py, utils/model.py):
- 2D keypoints = projectPoints(xyz, K) = (K @ xyz.T).T / z; xyz metres, OpenCV camera frame.
- keypoint order is FreiHAND order (our canonical order); all hands are right hands.
- mano entry is [[61]]: 48 pose (3 global + 45 articulation, with MANO's hands_mean NOT included:
  the toolbox poses MANO with flat_hand_mean=False), 10 betas, uv_root (2, px), scale (1).
  The camera-frame MANO translation is not stored (the toolbox re-derives it from the root
  keypoint), so HandParams.transl is None; uv_root/scale are kept in meta.
Keypoint definitions (`smhr.hands.keypoint_definitions`): with `keypoints=` the 3D keypoints (and so
the 2D ones, projected from them) are converted to that definition from the one they were written
with: meta.json's "keypoints" for `smhr synth` folders (absent = "joints", every set written before
the option), MANO's joints for the real set (no meta.json), which every definition leaves as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.sample import (
    POSE_MANO_MEAN,
    RIGHT,
    HandLabel,
    HandParams,
    Sample,
    SampleDataset,
    project_np,
    require,
)
from smhr.hands.params import split_params
from smhr.io.images import read_gray, read_rgb

SPLITS = {"train": "training", "eval": "evaluation"}
NUM_VERSIONS = 4  # gs, hom, sample, auto (training split only)
LAYOUT = "<root>/training/rgb/%08d.jpg, <root>/training_{K,xyz,mano,verts,scale}.json, <root>/evaluation/rgb"


def _load_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def keypoints_in_definition(root: str | Path, xyz: np.ndarray, keypoints: str) -> np.ndarray:
    """3D keypoints [..., 21, 3] of the FreiHAND-layout folder `root` in the keypoint definition
    `keypoints` (see the module docstring for which one they were written in)."""
    from smhr.hands.assets import load_hand_arrays
    from smhr.hands.keypoint_definitions import (
        ANCHORED_KINDS,
        check_definition,
        convert_keypoints,
        matrix_of_arrays,
    )

    check_definition(keypoints)
    meta_path = Path(root) / "meta.json"
    meta = _load_json(meta_path) if meta_path.exists() else {}
    kind, stored = str(meta.get("hand_model", "mano")), str(meta.get("keypoints", "joints"))
    if stored == keypoints or kind not in ANCHORED_KINDS:
        return xyz
    arrays = load_hand_arrays(kind, "right")  # a left asset mirrors it: the same matrices
    return convert_keypoints(xyz, matrix_of_arrays(arrays, kind, stored),
                             matrix_of_arrays(arrays, kind, keypoints))


class FreiHAND(SampleDataset):
    """FreiHAND split 'train' (training/) or 'eval' (evaluation/).

    versions: how many sample versions of the training images to index (1..4); None = detect from
    which `training/rgb/{N*v:08d}.jpg` exist. Length = N * versions (train) or N (eval).
    load_masks: read training/mask (train only; instance id 1 where the mask is > 127).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        versions: int | None = None,
        load_masks: bool = True,
        transform: Callable[[Sample], Any] | None = None,
        keypoints: str | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"FreiHAND split must be one of {sorted(SPLITS)}, got {split!r}")
        self.root = Path(root)
        self.split = split
        self.set_name = SPLITS[split]
        self.transform = transform
        require(self.root, "FreiHAND", LAYOUT)
        require(self.root / self.set_name / "rgb", "FreiHAND", LAYOUT)
        self.K = np.asarray(_load_json(require(self._anno("K"), "FreiHAND", LAYOUT)), np.float32)
        self.num_records = len(self.K)
        self.xyz = self._optional("xyz", required=split == "train")
        self.mano = self._optional("mano", required=False)
        self.verts = self._optional("verts", required=False)
        self.scale = self._optional("scale", required=False)
        self.vis = self._optional("vis", required=False)  # `smhr synth --arm-prob`: not behind the arm
        if keypoints is not None and self.xyz is not None:
            self.xyz = keypoints_in_definition(self.root, self.xyz, keypoints)
        if split == "eval":
            versions = 1
        elif versions is None:
            versions = 1
            while versions < NUM_VERSIONS and self.image_path(self.num_records * versions).exists():
                versions += 1
        if not 1 <= versions <= NUM_VERSIONS:
            raise ValueError(f"FreiHAND versions must be in 1..{NUM_VERSIONS}, got {versions}")
        self.versions = versions
        self.load_masks = load_masks and split == "train"

    def _anno(self, key: str) -> Path:
        return self.root / f"{self.set_name}_{key}.json"

    def _optional(self, key: str, required: bool) -> np.ndarray | None:
        path = self._anno(key)
        if not path.exists():
            if required:
                require(path, "FreiHAND", LAYOUT)
            return None
        arr = np.asarray(_load_json(path), np.float32)
        if len(arr) != self.num_records:
            raise ValueError(
                f"FreiHAND: {path} has {len(arr)} records but {self._anno('K')} has {self.num_records}"
            )
        return arr

    def image_path(self, index: int) -> Path:
        return self.root / self.set_name / "rgb" / f"{index:08d}.jpg"

    def __len__(self) -> int:
        return self.num_records * self.versions

    def load(self, index: int) -> Sample:
        rec = index % self.num_records  # the 4 versions repeat the N annotations
        K = self.K[rec]
        image = read_rgb(self.image_path(index))
        meta: dict[str, Any] = {"record": rec, "version": index // self.num_records}
        if self.scale is not None:
            meta["scale"] = float(np.asarray(self.scale[rec]).reshape(-1)[0])
        hands: list[HandLabel] = []
        if self.xyz is not None:
            xyz = self.xyz[rec]
            params = None
            if self.mano is not None:
                # FreiHAND's 61 numbers share our layout's first three fields; its last three are
                # uv_root (2, px) and scale (1) instead of a translation
                p = split_params(self.mano[rec].reshape(-1))
                params = HandParams(
                    global_orient=p["global_orient"],
                    pose=p["pose"],
                    betas=p["betas"],
                    transl=None,
                    model="mano",
                    pose_space=POSE_MANO_MEAN,
                )
                meta["mano_uv_root"] = p["transl"][:2].copy()
                meta["mano_scale"] = float(p["transl"][2])
            hands.append(
                HandLabel(
                    side=RIGHT,
                    keypoints2d=project_np(xyz, K),
                    visibility=np.ones(21, bool) if self.vis is None else self.vis[rec] > 0.5,
                    joints3d=xyz,
                    vertices=None if self.verts is None else self.verts[rec],
                    params=params,
                )
            )
        else:  # evaluation images without released labels: one right hand, location unknown
            hands.append(HandLabel(side=RIGHT, keypoints2d=np.zeros((21, 2)), visibility=np.zeros(21, bool)))
            meta["labelled"] = False
        mask = None
        if self.load_masks:
            raw = read_gray(self.root / self.set_name / "mask" / f"{rec:08d}.jpg")
            mask = (raw > 127).astype(np.uint8)  # JPEG-compressed binary mask; 1 = hands[0]
            arm = self.root / self.set_name / "arm" / f"{rec:08d}.png"  # `smhr synth --arm-prob`
            if arm.exists():
                meta["arm_mask"] = read_gray(arm) > 127  # the hand's arm: the composer pastes it too
        return Sample(
            image=image,
            K=K,
            hands=hands,
            mask=mask,
            image_path=str(self.image_path(index)),
            source="freihand",
            id=f"{self.set_name}/{index:08d}",
            meta=meta,
        )
