"""InterHand2.6M (v1.0 annotations) in its original on-disk layout.

Layout (root = the InterHand2.6M folder):
    images/{train,val,test}/Capture*/<seq>/cam*/image*.jpg
    annotations/<split>/InterHand2.6M_<split>_{data,camera,joint_3d}.json
    annotations/<split>/InterHand2.6M_<split>_MANO_NeuralAnnot.json   (optional)
  (the older v0.0 folder `annotations/all/` is accepted too).
Conventions checked against facebookresearch/InterHand2.6M (data/InterHand2.6M/dataset.py,
tool/MANO_world_to_camera/convert.py) and the released skeleton.txt:
- data.json is COCO-style: images {id, file_name, width, height, capture, camera, frame_idx,
  seq_name} and annotations {image_id, bbox, joint_valid [42,1], hand_type 'right' | 'left' |
  'interacting', hand_type_valid}. One annotation per image.
- camera.json[capture]: campos[cam] (mm), camrot[cam] (3x3), focal[cam] (fx, fy),
  princpt[cam] (cx, cy). joint_3d.json[capture][frame]: world_coord [42,3] mm.
- world -> camera: X_cam = camrot @ (X_world - campos) (mm; we divide by 1000 -> metres);
  pixel = focal * X/Z + princpt (OpenCV axes).
- joints 0-20 = RIGHT hand, 21-41 = LEFT hand; per hand thumb4 (tip), thumb3, thumb2, thumb1,
  index4..1, middle4..1, ring4..1, pinky4..1, wrist (20).
- hands in the sample follow hand_type ('interacting' gives two). visibility = joint_valid.
  joints3d are given for a hand only when its wrist is valid (the official rule: a root-relative
  3D pose needs a valid root); otherwise joints3d is None.
- MANO_NeuralAnnot[capture][frame][right|left] = {pose 48, shape 10, trans 3} in the WORLD frame,
  for smplx MANO with flat_hand_mean=False (pose relative to hands_mean). global_orient is rotated
  into the camera frame (camrot @ R); the camera-frame translation needs the model's root joint,
  so transl is None and the world trans is kept in meta.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from smhr.data.sample import (
    LEFT,
    POSE_MANO_MEAN,
    RIGHT,
    DatasetLayoutError,
    HandLabel,
    HandParams,
    Sample,
    SampleDataset,
    project_np,
)
from smhr.hands.keypoints import INTERHAND_TO_FREIHAND
from smhr.io.images import read_rgb

# FreiHAND keypoint i = InterHand (per-hand) keypoint INTERHAND_TO_FREIHAND[i]
HAND_OFFSET = {RIGHT: 0, LEFT: 21}  # right hand = joints 0-20, left = 21-41
HAND_TYPES = {"right": (RIGHT,), "left": (LEFT,), "interacting": (RIGHT, LEFT)}
SPLITS = ("train", "val", "test")
LAYOUT = (
    "<root>/images/<split>/Capture*/<seq>/cam*/image*.jpg and "
    "<root>/annotations/<split>/InterHand2.6M_<split>_{data,camera,joint_3d}.json (InterHand2.6M v1.0)"
)


def world_to_camera(points_mm: np.ndarray, campos_mm: np.ndarray, camrot: np.ndarray) -> np.ndarray:
    """[N,3] world mm -> [N,3] camera-frame metres: camrot @ (X - campos) / 1000."""
    rel = np.asarray(points_mm, np.float64) - np.asarray(campos_mm, np.float64).reshape(1, 3)
    return (rel @ np.asarray(camrot, np.float64).T / 1000.0).astype(np.float32)


class InterHand26M(SampleDataset):
    """InterHand2.6M split 'train' | 'val' | 'test'; one sample per annotated image, 1-2 hands."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        load_mano: bool = True,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"InterHand2.6M split must be one of {SPLITS}, got {split!r}")
        self.root = Path(root)
        self.split = split
        self.transform = transform
        ann_dir = self._annotation_dir()
        prefix = f"InterHand2.6M_{split}_"
        data = self._json(ann_dir / f"{prefix}data.json")
        self.cameras = self._json(ann_dir / f"{prefix}camera.json")
        self.joints = self._json(ann_dir / f"{prefix}joint_3d.json")
        mano_path = ann_dir / f"{prefix}MANO_NeuralAnnot.json"
        self.mano = self._json(mano_path) if load_mano and mano_path.exists() else None
        self.images = {img["id"]: img for img in data["images"]}
        self.annotations = [a for a in data["annotations"] if a["hand_type"] in HAND_TYPES]
        if not (self.root / "images" / split).is_dir():
            raise DatasetLayoutError(f"InterHand2.6M: missing {self.root / 'images' / split} ({LAYOUT})")

    def _annotation_dir(self) -> Path:
        for sub in (self.split, "all"):
            d = self.root / "annotations" / sub
            if (d / f"InterHand2.6M_{self.split}_data.json").exists():
                return d
        missing = self.root / "annotations" / self.split / f"InterHand2.6M_{self.split}_data.json"
        raise DatasetLayoutError(f"InterHand2.6M: missing {missing} (expected layout: {LAYOUT})")

    @staticmethod
    def _json(path: Path) -> Any:
        if not path.exists():
            raise DatasetLayoutError(f"InterHand2.6M: missing {path} (expected layout: {LAYOUT})")
        with open(path) as f:
            return json.load(f)

    def __len__(self) -> int:
        return len(self.annotations)

    def image_path(self, index: int) -> Path:
        img = self.images[self.annotations[index]["image_id"]]
        return self.root / "images" / self.split / img["file_name"]

    def load(self, index: int) -> Sample:
        ann = self.annotations[index]
        img = self.images[ann["image_id"]]
        capture, cam, frame = str(img["capture"]), str(img["camera"]), str(img["frame_idx"])
        cams = self.cameras[capture]
        campos = np.asarray(cams["campos"][cam], np.float64).reshape(3)
        camrot = np.asarray(cams["camrot"][cam], np.float64).reshape(3, 3)
        fx, fy = np.asarray(cams["focal"][cam], np.float32).reshape(2)
        cx, cy = np.asarray(cams["princpt"][cam], np.float32).reshape(2)
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float32)
        world = np.asarray(self.joints[capture][frame]["world_coord"], np.float64).reshape(42, 3)
        xyz = world_to_camera(world, campos, camrot)
        valid = np.asarray(ann["joint_valid"], np.float32).reshape(42) > 0
        meta: dict[str, Any] = {
            "capture": int(capture),
            "camera": cam,
            "frame": int(frame),
            "hand_type": ann["hand_type"],
            "hand_type_valid": bool(ann.get("hand_type_valid", 1)),
        }
        hands = []
        for side in HAND_TYPES[ann["hand_type"]]:
            sel = slice(HAND_OFFSET[side], HAND_OFFSET[side] + 21)
            j = xyz[sel][INTERHAND_TO_FREIHAND]
            vis = valid[sel][INTERHAND_TO_FREIHAND]
            hands.append(
                HandLabel(
                    side=side,
                    keypoints2d=project_np(j, K),
                    visibility=vis,
                    joints3d=j if vis[0] else None,
                    params=self._params(capture, frame, side, camrot, meta),
                )
            )
        img_path = self.image_path(index)
        return Sample(
            image=read_rgb(img_path),
            K=K,
            hands=hands,
            image_path=str(img_path),
            source="interhand2.6m",
            id=str(img["file_name"]),
            meta=meta,
        )

    def _params(
        self, capture: str, frame: str, side: int, camrot: np.ndarray, meta: dict[str, Any]
    ) -> HandParams | None:
        if self.mano is None:
            return None
        name = "right" if side == RIGHT else "left"
        p = self.mano.get(capture, {}).get(frame, {}).get(name)
        if p is None:
            return None
        pose = np.asarray(p["pose"], np.float64).reshape(48)
        R = camrot @ Rotation.from_rotvec(pose[:3]).as_matrix()
        meta[f"mano_trans_world_{name}"] = np.asarray(p["trans"], np.float32).reshape(3)
        return HandParams(
            global_orient=Rotation.from_matrix(R).as_rotvec().astype(np.float32),
            pose=pose[3:].astype(np.float32),
            betas=np.asarray(p["shape"], np.float32).reshape(10),
            transl=None,
            model="mano",
            pose_space=POSE_MANO_MEAN,
        )


class InterHandFixture(InterHand26M):
    """The InterHand2.6M test fixture of mmpose (`tests/data/interhand2.6m`): a few test-split frames
    with their 3D joints and cameras, the v1.0 annotation files named
    test_interhand2.6m_{data,camera,joint_3d}.json beside the images (research licence: evaluation
    only, rebuilt from the mmpose repository, never committed)."""

    def __init__(self, root: str | Path, transform: Callable[[Sample], Any] | None = None) -> None:
        self.root = Path(root)
        self.split = "test"
        self.transform = transform
        data = self._json(self.root / "test_interhand2.6m_data.json")
        self.cameras = self._json(self.root / "test_interhand2.6m_camera.json")
        self.joints = self._json(self.root / "test_interhand2.6m_joint_3d.json")
        self.mano = None
        self.images = {img["id"]: img for img in data["images"]}
        self.annotations = [a for a in data["annotations"] if a["hand_type"] in HAND_TYPES]

    def image_path(self, index: int) -> Path:
        return self.root / self.images[self.annotations[index]["image_id"]]["file_name"]
