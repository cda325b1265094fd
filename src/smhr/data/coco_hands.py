"""Hand keypoints in COCO-style JSON (the layout of mmpose's hand datasets: OneHand10K, CMU
Panoptic, FreiHAND, RHD, COCO-WholeBody-Hand), read as `Sample`s with real 2D ground truth.

Why: these are our real-GT development sets (evaluation only, under their research licences): the
2D teacher and the network are scored against human (or motion-capture) labels there, not against
each other. Layout: an image folder and a JSON with "images" (file_name, width, height, id) and
"annotations" (image_id, keypoints [21 x (x, y, v)] in FreiHAND order, bbox [x, y, w, h]).
Handedness comes from an annotation's "hand_type" ("left" / "right"), else from a file name ending
in `_l` / `_r`, else it is unknown (meta["side_known"] False; the hand is then labelled right).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.sample import LEFT, RIGHT, HandLabel, Sample, SampleDataset, require

__all__ = ["CocoHands"]

LAYOUT = "<images folder>/<file_name> and a COCO-style JSON with images and annotations (keypoints)"


def _side(ann: dict[str, Any], file_name: str) -> int | None:
    t = str(ann.get("hand_type", "")).lower()
    if t in ("left", "right"):
        return LEFT if t == "left" else RIGHT
    stem = Path(file_name).stem.lower()
    if stem.endswith("_l"):
        return LEFT
    if stem.endswith("_r"):
        return RIGHT
    return None


class CocoHands(SampleDataset):
    """Images of a COCO-style hand keypoint JSON with their labelled hands (see module docstring).

    Annotations without 21 keypoints are skipped. Visibility = v > 0 and inside the image. side:
    the side of every hand when the set is one-sided (FreiHAND's hands are all right)."""

    def __init__(
        self, json_path: str | Path, image_dir: str | Path | None = None, name: str | None = None,
        side: str | None = None,
    ) -> None:
        self.json_path = require(Path(json_path), "coco-hands", LAYOUT)
        self.image_dir = Path(image_dir) if image_dir is not None else self.json_path.parent
        self.name = name or self.json_path.parent.name
        self.side = side  # "left" / "right" when every hand of the set has that side (e.g. FreiHAND)
        data = json.loads(self.json_path.read_text())
        anns: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for a in data.get("annotations", []):
            if np.asarray(a.get("keypoints", []), np.float64).size == 63:  # flat, or 21 (x, y, v)
                anns[a["image_id"]].append(a)
        self.images = [
            im for im in sorted(data["images"], key=lambda im: im["file_name"]) if im["id"] in anns
        ]
        self.anns = anns

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        return self.image_dir / self.images[index]["file_name"]

    def load(self, index: int) -> Sample:
        from smhr.io.images import read_rgb

        im = self.images[index]
        image = read_rgb(self.image_path(index))
        H, W = image.shape[:2]
        hands, known = [], []
        for a in self.anns[im["id"]]:
            k = np.asarray(a["keypoints"], np.float32).reshape(21, 3)
            inside = (k[:, 0] >= 0) & (k[:, 0] <= W - 1) & (k[:, 1] >= 0) & (k[:, 1] <= H - 1)
            side = _side(a, im["file_name"])
            if side is None and self.side is not None:
                side = LEFT if self.side == "left" else RIGHT
            known.append(side is not None)
            x, y, w, h = (float(v) for v in a.get("bbox", [0, 0, 0, 0]))
            hands.append(
                HandLabel(
                    side=RIGHT if side is None else side,
                    keypoints2d=k[:, :2],
                    visibility=(k[:, 2] > 0) & inside,
                    bbox=np.array([x, y, x + w, y + h], np.float32) if w > 0 else None,
                )
            )
        return Sample(
            image=image,
            K=None,
            hands=hands,
            image_path=str(self.image_path(index)),
            source=self.name,
            id=im["file_name"],
            meta={"side_known": known},
        )
