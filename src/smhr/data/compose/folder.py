"""Composites on disk: `write_composed` (what `smhr compose` runs) and `ComposedFolder` (reads them).

FreiHAND's layout is single-hand, so composites get their own index file, `training_multi.json`
(one record per image with its hand list; docs/synthetic-data.md), next to the images and PNG
instance masks.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.compose.per_sample import ComposedHands
from smhr.data.sample import HandLabel, HandParams, Sample, SampleDataset, require
from smhr.hands.params import split_params

MULTI_JSON = "training_multi.json"
FORMAT_VERSION = 2  # 2: a hand without a camera has "K": null (version 1 wrote NaN rows)


def _jsonable(x: Any) -> Any:
    return np.asarray(x).tolist()


def _camera(K: Any) -> np.ndarray | None:
    """A hand record's K: None for no camera (null, or format 1's NaN rows)."""
    if K is None:
        return None
    K = np.asarray(K, np.float32).reshape(3, 3)
    return K if np.isfinite(K).all() else None


def write_composed(
    dataset: ComposedHands,
    out: str | Path,
    n: int | None = None,
    progress: bool = True,
    with_vertices: bool = False,
) -> Path:
    """Write n composites (default: the whole dataset) in a FreiHAND-like layout:

    OUT/training/rgb/%08d.jpg     composite images (JPEG quality 95, 4:4:4)
    OUT/training/mask/%08d.png    instance masks (PNG: 0 background, k+1 = hand k; JPEG would
                                  blend the ids)
    OUT/training_multi.json       one entry per image with its hand list (see docs)
    OUT/meta.json                 generator settings, seed, source
    """
    import cv2

    # quality 95 without chroma subsampling: saturated hand/background edges keep their colour
    jpeg = [
        cv2.IMWRITE_JPEG_QUALITY,
        95,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    ]
    out = Path(out)
    (out / "training" / "rgb").mkdir(parents=True, exist_ok=True)
    (out / "training" / "mask").mkdir(parents=True, exist_ok=True)
    n = len(dataset) if n is None else int(n)
    records = []
    it: Any = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="compose", unit="img")
    for i in it:
        s = dataset.load(i)
        rgb, mask = f"training/rgb/{i:08d}.jpg", f"training/mask/{i:08d}.png"
        cv2.imwrite(str(out / rgb), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR), jpeg)
        cv2.imwrite(str(out / mask), s.mask)
        hands = []
        for k, h in enumerate(s.hands):
            rec = {
                "side": int(h.side),
                "keypoints2d": _jsonable(h.keypoints2d),
                "visibility": [bool(v) for v in h.visibility],
                "truncated": bool(s.meta["truncated"][k]),
                "K": None if h.K is None else _jsonable(h.K),
                "xyz": None if h.joints3d is None else _jsonable(h.joints3d),
                "params": None
                if h.params is None
                else {
                    "theta": _jsonable(h.params.flat()),
                    "has_transl": h.params.transl is not None,
                    "model": h.params.model,
                    "pose_space": h.params.pose_space,
                },
                "source": s.meta["source_ids"][k],
            }
            if with_vertices and h.vertices is not None:
                rec["verts"] = _jsonable(h.vertices)
            hands.append(rec)
        records.append({"image": rgb, "mask": mask, "hands": hands})
    with open(out / MULTI_JSON, "w") as f:
        json.dump(records, f)
    cfg = asdict(dataset.cfg)
    meta = {
        "format": "smhr-composed",
        "version": FORMAT_VERSION,
        "count": n,
        "seed": dataset.seed,
        "config": cfg,
        "source": str(getattr(dataset.source, "root", type(dataset.source).__name__)),
        "backgrounds": None if dataset.backgrounds is None else str(getattr(dataset.backgrounds, "root",
                                                                                type(dataset.backgrounds).__name__)),
    }
    with open(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
    return out


class ComposedFolder(SampleDataset):
    """Read back a set written by `write_composed` / `smhr compose` (each hand's camera in
    `HandLabel.K`; files of format 1, whose camera-less hands have NaN K rows, read as K None)."""

    LAYOUT = "<root>/training/rgb/%08d.jpg, <root>/training/mask/%08d.png, <root>/training_multi.json"

    def __init__(self, root: str | Path, transform: Any = None) -> None:
        self.root = Path(root)
        self.transform = transform
        with open(require(self.root / MULTI_JSON, "composed", self.LAYOUT)) as f:
            self.records = json.load(f)

    def __len__(self) -> int:
        return len(self.records)

    def image_path(self, index: int) -> Path:
        return self.root / self.records[index]["image"]

    def load(self, index: int) -> Sample:
        from smhr.io.images import read_gray, read_rgb

        rec = self.records[index]
        hands, trunc = [], []
        for h in rec["hands"]:
            params = None
            if h.get("params"):
                p = split_params(np.asarray(h["params"]["theta"], np.float32))
                params = HandParams(
                    p["global_orient"],
                    p["pose"],
                    p["betas"],
                    p["transl"] if h["params"]["has_transl"] else None,
                    model=h["params"]["model"],
                    pose_space=h["params"]["pose_space"],
                )
            hands.append(
                HandLabel(
                    side=h["side"],
                    keypoints2d=h["keypoints2d"],
                    visibility=h["visibility"],
                    joints3d=h["xyz"],
                    vertices=h.get("verts"),
                    params=params,
                    K=_camera(h.get("K")),
                )
            )
            trunc.append(bool(h["truncated"]))
        return Sample(
            image=read_rgb(self.image_path(index)),
            K=None,
            hands=hands,
            mask=read_gray(self.root / rec["mask"]),
            image_path=str(self.image_path(index)),
            source="composed",
            id=rec["image"],
            meta={"truncated": trunc},
        )
