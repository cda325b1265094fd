"""Hand keypoints in COCO-style JSON (the layout of mmpose's hand datasets: OneHand10K, CMU
Panoptic, FreiHAND, RHD, COCO-WholeBody-Hand), read as `Sample`s with real 2D ground truth.

Why: these are our real-GT development sets (evaluation only, under their research licences): the
2D teacher and the network are scored against human (or motion-capture) labels there, not against
each other. Layout: an image folder and a JSON with "images" (file_name, width, height, id) and
"annotations" (image_id, keypoints [21 x (x, y, v)] in FreiHAND order, bbox [x, y, w, h]).
Handedness comes from an annotation's "hand_type" ("left" / "right"), else from a file name ending
in `_l` / `_r`, else it is unknown (meta["side_known"] False; the hand is then labelled right).
CMU Panoptic's hand set stores a frame once per labelled hand (`NAME_l.jpg`, `NAME_r.jpg`, the same
bytes, one hand each): such byte-identical `_l` / `_r` copies are read as ONE image with both hands,
so a model that finds both is not charged a false hand in each copy (precision), and each hand keeps
its side from its own copy's name.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.sample import LEFT, RIGHT, HandLabel, Sample, SampleDataset, require

__all__ = ["CocoHands"]

Annotations = dict[Any, list[tuple[dict[str, Any], str]]]  # image id -> (annotation, its file name)
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


def _same_bytes(a: Path, b: Path) -> bool:
    """Both files exist and hold the same bytes (size first, then SHA-256)."""
    if not (a.is_file() and b.is_file()) or a.stat().st_size != b.stat().st_size:
        return False
    return hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


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
        anns: Annotations = defaultdict(list)
        names = {im["id"]: im["file_name"] for im in data["images"]}
        for a in data.get("annotations", []):
            if np.asarray(a.get("keypoints", []), np.float64).size == 63 and a["image_id"] in names:
                anns[a["image_id"]].append((a, names[a["image_id"]]))
        images = [im for im in sorted(data["images"], key=lambda im: im["file_name"]) if im["id"] in anns]
        self.images = self._merge_side_copies(images, anns)
        self.anns = anns

    def _merge_side_copies(self, images: list[dict[str, Any]], anns: Annotations) -> list[dict[str, Any]]:
        """The images with each byte-identical NAME_l / NAME_r pair as one (the `_l` entry, holding
        both copies' annotations; see the module docstring). Only such pairs are read to compare."""
        by_stem: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
        for im in images:
            p = Path(im["file_name"])
            if p.stem[-2:].lower() in ("_l", "_r"):
                by_stem[(str(p.parent), p.stem[:-2] + p.suffix)][p.stem[-1].lower()] = im
        dropped = set()
        for pair in by_stem.values():
            if len(pair) == 2 and _same_bytes(self.image_dir / pair["l"]["file_name"],
                                              self.image_dir / pair["r"]["file_name"]):  # fmt: skip
                anns[pair["l"]["id"]].extend(anns.pop(pair["r"]["id"]))
                dropped.add(pair["r"]["id"])
        return [im for im in images if im["id"] not in dropped]

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
        for a, file_name in self.anns[im["id"]]:
            k = np.asarray(a["keypoints"], np.float32).reshape(21, 3)
            inside = (k[:, 0] >= 0) & (k[:, 0] <= W - 1) & (k[:, 1] >= 0) & (k[:, 1] <= H - 1)
            side = _side(a, file_name)
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
