"""HO-3D v2 / v3 in its original on-disk layout.

Layout (root = the folder where `train/` and `evaluation/` branch off):
    train.txt, evaluation.txt          one "<seq>/<id>" per line
    {train,evaluation}/<seq>/rgb/<id>.png   (v2)  or .jpg (v3; detected per file)
    {train,evaluation}/<seq>/meta/<id>.pkl  pickle (latin1) dict
Conventions checked against shreyashampali/ho3d (vis_HO3D.py, utils/vis_utils.py, README):
- 3D is in OpenGL camera axes (hand along -z); OpenCV = diag(1,-1,-1) @ X (coordChangeMat).
- train meta: handJoints3D [21,3] m, handPose [48] (global 3 + 45, flat_hand_mean=True),
  handBeta [10], handTrans [3], camMat [3,3]. Some frames carry None (unannotated): they load with
  no hands and meta['labelled'] = False -- filter them out for training.
- evaluation meta: handJoints3D [3] = root (wrist) only, handBoundingBox [x1,y1,x2,y2], camMat.
- joint order is MANO's with tips appended: 0 wrist, 1-3 index, 4-6 middle, 7-9 little,
  10-12 ring, 13-15 thumb, 16-20 tips thumb, index, middle, ring, little
  (vis_HO3D.py: jointsMapManoToSimple). All hands are right hands.
- visibility: all 21 keypoints are labelled (projected 3D; occluded ones included), so all True.
- MANO global_orient is rotated into the OpenCV frame (R' = C R); the OpenCV-frame translation
  needs the hand model's root joint, so transl is None and the raw handTrans is kept in meta.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from smhr.data.sample import (
    POSE_FLAT,
    RIGHT,
    DatasetLayoutError,
    HandLabel,
    HandParams,
    Sample,
    SampleDataset,
    project_np,
    require,
)
from smhr.hands.keypoints import MANO21_TO_FREIHAND
from smhr.io.images import read_rgb

# FreiHAND keypoint i = HO3D keypoint HO3D_TO_FREIHAND[i]
HO3D_TO_FREIHAND = MANO21_TO_FREIHAND
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0]).astype(np.float32)
SPLITS = ("train", "evaluation")
LAYOUT = "<root>/{train,evaluation}.txt and <root>/<split>/<seq>/{rgb/<id>.png|jpg, meta/<id>.pkl}"


def opengl_to_opencv(points: np.ndarray) -> np.ndarray:
    """[...,3] OpenGL camera frame (y up, z backward) -> OpenCV (y down, z forward)."""
    return np.asarray(points, np.float32) * np.array([1.0, -1.0, -1.0], np.float32)


def load_meta(path: Path) -> dict[str, Any]:
    """Read one HO-3D meta pickle (python-2 pickles need latin1)."""
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


class HO3D(SampleDataset):
    """HO-3D split 'train' or 'evaluation' (v2 or v3; the image extension is found per file)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"HO3D split must be one of {SPLITS}, got {split!r}")
        self.root = Path(root)
        self.split = split
        self.transform = transform
        lst = require(self.root / f"{split}.txt", "HO3D", LAYOUT)
        require(self.root / split, "HO3D", LAYOUT)
        self.entries = [line.strip() for line in lst.read_text().splitlines() if line.strip()]
        for e in self.entries[:1]:
            if "/" not in e:
                raise DatasetLayoutError(f"HO3D: {lst} line {e!r} is not '<seq>/<id>' ({LAYOUT})")

    def __len__(self) -> int:
        return len(self.entries)

    def image_path(self, index: int) -> Path:
        seq, fid = self.entries[index].split("/")
        base = self.root / self.split / seq / "rgb" / fid
        for ext in (".png", ".jpg"):
            if base.with_suffix(ext).exists():
                return base.with_suffix(ext)
        raise DatasetLayoutError(f"HO3D: missing {base}.png / .jpg (expected layout: {LAYOUT})")

    def load(self, index: int) -> Sample:
        seq, fid = self.entries[index].split("/")
        meta_path = require(self.root / self.split / seq / "meta" / f"{fid}.pkl", "HO3D", LAYOUT)
        anno = load_meta(meta_path)
        img_path = self.image_path(index)
        K = np.asarray(anno["camMat"], np.float32)
        meta: dict[str, Any] = {"seq": seq, "frame": fid, "labelled": True}
        joints = anno.get("handJoints3D")
        hands: list[HandLabel] = []
        if joints is None:
            meta["labelled"] = False
        elif np.asarray(joints).size == 3:  # evaluation split: root joint + box only
            root = opengl_to_opencv(np.asarray(joints, np.float32).reshape(3))
            meta["root3d"] = root
            bbox = anno.get("handBoundingBox")
            hands.append(
                HandLabel(
                    side=RIGHT,
                    keypoints2d=np.zeros((21, 2)),
                    visibility=np.zeros(21, bool),
                    bbox=None if bbox is None else np.asarray(bbox, np.float32),
                )
            )
        else:
            xyz = opengl_to_opencv(np.asarray(joints, np.float32).reshape(21, 3))[HO3D_TO_FREIHAND]
            hands.append(
                HandLabel(
                    side=RIGHT,
                    keypoints2d=project_np(xyz, K),
                    visibility=np.ones(21, bool),
                    joints3d=xyz,
                    params=self._params(anno, meta),
                )
            )
        return Sample(
            image=read_rgb(img_path),
            K=K,
            hands=hands,
            image_path=str(img_path),
            source="ho3d",
            id=f"{self.split}/{seq}/{fid}",
            meta=meta,
        )

    @staticmethod
    def _params(anno: dict[str, Any], meta: dict[str, Any]) -> HandParams | None:
        pose, beta = anno.get("handPose"), anno.get("handBeta")
        if pose is None or beta is None:
            return None
        pose = np.asarray(pose, np.float64).reshape(48)
        R = OPENGL_TO_OPENCV.astype(np.float64) @ Rotation.from_rotvec(pose[:3]).as_matrix()
        if anno.get("handTrans") is not None:
            meta["hand_trans_opengl"] = np.asarray(anno["handTrans"], np.float32).reshape(3)
        return HandParams(
            global_orient=Rotation.from_matrix(R).as_rotvec().astype(np.float32),
            pose=pose[3:].astype(np.float32),
            betas=np.asarray(beta, np.float32).reshape(10),
            transl=None,
            model="mano",
            pose_space=POSE_FLAT,
        )
