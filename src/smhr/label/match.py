"""Teacher hands vs a source's own boxes: which boxed hands did the teacher miss?

A source box and a teacher hand match when the box covers most of the teacher's keypoint box
(intersection / teacher-box area >= `min_cover`) and the teacher box covers a fair part of the
source box (intersection / source-box area >= `min_share`): source boxes are usually looser than
keypoint boxes (they include the wrist or forearm), so plain IoU would reject good matches.
Pairs are taken greedily by intersection-over-union, one-to-one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_boxes"]


def _areas(b: np.ndarray) -> np.ndarray:
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def match_boxes(
    teacher: np.ndarray, source: np.ndarray, min_cover: float = 0.5, min_share: float = 0.15
) -> list[tuple[int, int]]:
    """teacher [T, 4], source [S, 4] boxes (x1, y1, x2, y2) -> matched (teacher i, source j) pairs."""
    teacher = np.asarray(teacher, np.float64).reshape(-1, 4)
    source = np.asarray(source, np.float64).reshape(-1, 4)
    if not len(teacher) or not len(source):
        return []
    x1 = np.maximum(teacher[:, None, 0], source[None, :, 0])
    y1 = np.maximum(teacher[:, None, 1], source[None, :, 1])
    x2 = np.minimum(teacher[:, None, 2], source[None, :, 2])
    y2 = np.minimum(teacher[:, None, 3], source[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    at, as_ = _areas(teacher)[:, None], _areas(source)[None, :]
    ok = (inter >= min_cover * np.maximum(at, 1e-9)) & (inter >= min_share * np.maximum(as_, 1e-9))
    iou = np.where(ok, inter / np.maximum(at + as_ - inter, 1e-9), -1.0)
    pairs = []
    while True:
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        if iou[i, j] < 0:
            return pairs
        pairs.append((int(i), int(j)))
        iou[i, :] = -1.0
        iou[:, j] = -1.0
