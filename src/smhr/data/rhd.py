"""Rendered Hand Pose dataset (RHD, RHD_published_v2) in its original on-disk layout.

Layout (root = RHD_published_v2, or its parent):
    {training,evaluation}/color/%05d.png   320x320 RGB
    {training,evaluation}/mask/%05d.png    part labels (single channel)
    {training,evaluation}/anno_{training,evaluation}.pickle  {sample_id: {'xyz','uv_vis','K'}}
Conventions checked against the dataset's README / view_samples.py (read through public copies:
`kp_coord_uv = anno['uv_vis'][:, :2]`, `kp_visible = anno['uv_vis'][:, 2] == 1`, and
`uv = (xyz @ K.T)[:, :2] / z`, i.e. xyz is metres in an OpenCV-style camera frame):
- keypoints 0-20 = LEFT hand, 21-41 = RIGHT hand; per hand 0 wrist, then thumb, index, middle,
  ring, little, each listed tip first (1 = thumb tip ... 4 = thumb MCP).
- mask: 0 background, 1 person, 2-17 left hand (finger parts + palm), 18-33 right hand.
Presence rule (ours): a hand is in the sample when at least `min_visible` (default 3) of its 21
keypoints are visible; hand pixels of a hand below the rule get MASK_UNLABELLED in the mask.
visibility = uv_vis[:, 2] == 1 (RHD's own occlusion flag); keypoints2d = uv_vis[:, :2].
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.sample import LEFT, MASK_UNLABELLED, RIGHT, HandLabel, Sample, SampleDataset, require
from smhr.hands.keypoints import RHD_TO_FREIHAND
from smhr.io.images import read_gray, read_rgb

# FreiHAND keypoint i = RHD (per-hand) keypoint RHD_TO_FREIHAND[i]: fingers are listed tip first.
MASK_LEFT = (2, 17)  # inclusive label range of the left hand in RHD masks
MASK_RIGHT = (18, 33)
SPLITS = {"train": "training", "eval": "evaluation"}
LAYOUT = "<root>/{training,evaluation}/{color,mask}/%05d.png and anno_{training,evaluation}.pickle (RHD v2)"


class RHD(SampleDataset):
    """RHD split 'train' (training/) or 'eval' (evaluation/); up to two hands per image."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        min_visible: int = 3,
        load_masks: bool = True,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"RHD split must be one of {sorted(SPLITS)}, got {split!r}")
        root = Path(root)
        if (root / "RHD_published_v2").is_dir():
            root = root / "RHD_published_v2"
        self.root = root
        self.set_name = SPLITS[split]
        self.min_visible = min_visible
        self.load_masks = load_masks
        self.transform = transform
        require(self.root / self.set_name / "color", "RHD", LAYOUT)
        anno_path = require(self.root / self.set_name / f"anno_{self.set_name}.pickle", "RHD", LAYOUT)
        with open(anno_path, "rb") as f:
            self.anno: dict[int, dict[str, np.ndarray]] = pickle.load(f)
        self.ids = sorted(self.anno)

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, index: int) -> Path:
        return self.root / self.set_name / "color" / f"{self.ids[index]:05d}.png"

    def load(self, index: int) -> Sample:
        sid = self.ids[index]
        anno = self.anno[sid]
        uv_vis = np.asarray(anno["uv_vis"], np.float32).reshape(42, 3)
        xyz = np.asarray(anno["xyz"], np.float32).reshape(42, 3)
        K = np.asarray(anno["K"], np.float32)
        img_path = self.image_path(index)
        hands: list[HandLabel] = []
        present = {}
        for side, start in ((LEFT, 0), (RIGHT, 21)):
            sel = slice(start, start + 21)
            vis = (uv_vis[sel, 2] == 1)[RHD_TO_FREIHAND]
            present[side] = int(vis.sum()) >= self.min_visible
            if present[side]:
                hands.append(
                    HandLabel(
                        side=side,
                        keypoints2d=uv_vis[sel, :2][RHD_TO_FREIHAND],
                        visibility=vis,
                        joints3d=xyz[sel][RHD_TO_FREIHAND],
                    )
                )
        mask = None
        if self.load_masks:
            parts = read_gray(self.root / self.set_name / "mask" / f"{sid:05d}.png")
            mask = np.zeros(parts.shape, np.uint8)
            for side, (lo, hi) in ((LEFT, MASK_LEFT), (RIGHT, MASK_RIGHT)):
                ids = [k + 1 for k, h in enumerate(hands) if h.side == side]
                mask[(parts >= lo) & (parts <= hi)] = ids[0] if ids else MASK_UNLABELLED
        return Sample(
            image=read_rgb(img_path),
            K=K,
            hands=hands,
            mask=mask,
            image_path=str(img_path),
            source="rhd",
            id=f"{self.set_name}/{sid:05d}",
            meta={"sample_id": sid},
        )
