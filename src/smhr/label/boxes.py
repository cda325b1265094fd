"""Hand boxes that a photo source ships with, read from its own annotation files.

Why: a source's boxes tell us where the teacher missed a hand. A boxed hand without a teacher
label must not teach the detector that the region is background, so it becomes an ignore region
(`smhr.label.match`). Formats, keyed by the `--boxes` option of `smhr label`:
- "voc": Pascal VOC XML beside the image (same stem, .xml), <object><bndbox> in pixels;
- "yolo": YOLO txt (class cx cy w h, normalised) in the `labels/` folder that mirrors `images/`;
- "yolo-obb": YOLOv8 oriented boxes (class x1 y1 .. x4 y4, normalised), same place; the axis-
  aligned box around the four corners is used;
- "none": the source has no boxes.
Every reader returns [N, 4] float32 x1, y1, x2, y2 pixels, or None when the file is missing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np

from smhr.registry import Registry

__all__ = ["BOX_READERS", "read_boxes", "yolo_label_path"]


def yolo_label_path(image: Path) -> Path:
    """`.../images/x.jpg` -> `.../labels/x.txt` (the YOLO / Roboflow export layout)."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _voc(image: Path, wh: tuple[int, int]) -> np.ndarray | None:
    path = image.with_suffix(".xml")
    if not path.is_file():
        return None
    boxes = []
    for obj in ET.parse(path).getroot().iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        boxes.append([float(bb.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax")])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def _yolo_rows(image: Path) -> list[list[float]] | None:
    path = yolo_label_path(image)
    if not path.is_file():
        return None
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]


def _yolo(image: Path, wh: tuple[int, int]) -> np.ndarray | None:
    rows = _yolo_rows(image)
    if rows is None:
        return None
    W, H = wh
    out = [
        [(cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H]
        for _, cx, cy, w, h in (r[:5] for r in rows if len(r) >= 5)
    ]
    return np.asarray(out, np.float32).reshape(-1, 4)


def _yolo_obb(image: Path, wh: tuple[int, int]) -> np.ndarray | None:
    rows = _yolo_rows(image)
    if rows is None:
        return None
    W, H = wh
    out = []
    for r in rows:
        if len(r) < 9:
            continue
        pts = np.asarray(r[1:9], np.float64).reshape(4, 2) * (W, H)
        out.append([*pts.min(0), *pts.max(0)])
    return np.asarray(out, np.float32).reshape(-1, 4)


BoxReader = Callable[[Path, tuple[int, int]], "np.ndarray | None"]
BOX_READERS: Registry[BoxReader] = Registry("box format")
BOX_READERS.register("voc", _voc)
BOX_READERS.register("yolo", _yolo)
BOX_READERS.register("yolo-obb", _yolo_obb)
BOX_READERS.register("none", lambda image, wh: None)  # the source has no boxes


def read_boxes(kind: str, image: Path, wh: tuple[int, int]) -> np.ndarray | None:
    """The source's boxes for `image` (of size wh = (W, H)), clipped to the image; None when the
    source has no boxes or this image has no annotation file."""
    if kind not in BOX_READERS:
        raise ValueError(f"--boxes {kind!r} unknown; choose one of {BOX_READERS.choices()}")
    boxes = BOX_READERS[kind](image, wh)
    if boxes is None:
        return None
    W, H = wh
    boxes = boxes[np.isfinite(boxes).all(1)]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, W)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, H)
    return boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
