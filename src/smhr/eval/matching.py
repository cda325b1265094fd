"""One-to-one matching of detected hands to labelled hands, by box overlap, best score first.

Why one matcher: detection recall / precision, duplicates, and every per-hand error (2D keypoints,
handedness, 3D) are only comparable across validation, `smhr eval` and the benchmarks when they
pair hands the same way. `match_hands` returns the pairs themselves (not flags), so callers never
redo the assignment; each label is taken at most once, so one prediction can never be scored
against a label that another prediction already took.

Rules (VOC-style): predictions in descending score order; each takes the still-free label of
highest IoU >= `iou_threshold`. A prediction whose best IoU is with an already-taken label (>=
threshold) is a *duplicate*. A prediction that matches nothing but lies mostly inside an ignore
region (intersection / own area >= `ignore_cover`) is *ignored* (neither true nor false positive).
Everything else is a false positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

IGNORE_COVER = 0.5  # a prediction with this share of its box in an ignore region is ignored

__all__ = [
    "IGNORE_COVER", "MatchResult", "box_iou", "centre_in", "inside_any", "is_box_label", "keypoint_box",
    "label_box", "match_by_similarity", "match_hands",
]


def keypoint_box(keypoints2d: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """[4] x1, y1, x2, y2 around keypoints [21, 2] (the visible ones when any is given)."""
    kp = np.asarray(keypoints2d, np.float64).reshape(-1, 2)
    if visibility is not None and np.asarray(visibility).any():
        kp = kp[np.asarray(visibility, bool)]
    return np.concatenate([kp.min(0), kp.max(0)])


def centre_in(box: np.ndarray, inside: np.ndarray) -> bool:
    """The centre of `box` (x1, y1, x2, y2) lies in `inside` (edges included): how a box-level
    label is found, since it has no keypoints to compare."""
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    return bool(inside[0] <= cx <= inside[2] and inside[1] <= cy <= inside[3])


def is_box_label(hand: Any) -> bool:
    """A label hand with a box but no visible keypoint (teacher v2's hands too small for its
    landmark model, HO-3D's evaluation split): found by its box, never scored on keypoints."""
    return not hand.visibility.any() and hand.bbox is not None


def label_box(hand: Any) -> np.ndarray:
    """[4] the box a label is matched by: its own box for a box-level label, else the box of its
    visible keypoints."""
    if is_box_label(hand):
        return np.asarray(hand.bbox, np.float64)
    return keypoint_box(hand.keypoints2d, hand.visibility)


def inside_any(boxes: np.ndarray, regions: np.ndarray, cover: float) -> np.ndarray:
    """[P] bool: at least `cover` of each box's own area lies in one of the regions [R, 4] (a box
    of no area lies in none)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    r = np.asarray(regions, np.float64).reshape(-1, 4)
    if not len(b) or not len(r):
        return np.zeros(len(b), bool)
    return (_inter(b, r) / np.maximum(_area(b), 1e-12)[:, None]).max(1) >= cover


def _inter(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def _area(b: np.ndarray) -> np.ndarray:
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[P, G] IoU of boxes a [P, 4] and b [G, 4] (x1, y1, x2, y2)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    inter = _inter(a, b)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@dataclass
class MatchResult:
    """pairs: (prediction i, label j) matched; duplicates / false_positives / ignored: prediction
    indices; missed: label indices without a match. iou[i, j] is kept for callers' reports."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    false_positives: list[int] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    iou: np.ndarray | None = None

    @property
    def tp(self) -> np.ndarray:
        """[P] bool in prediction order: True for matched predictions (for average precision)."""
        n = len(self.pairs) + len(self.duplicates) + len(self.false_positives) + len(self.ignored)
        out = np.zeros(n, bool)
        for i, _ in self.pairs:
            out[i] = True
        return out


def match_by_similarity(similarity: np.ndarray, scores: np.ndarray, threshold: float,
                        ignored: np.ndarray | None = None) -> MatchResult:
    """Match P predictions to G labels of one image from a similarity matrix [P, G] (box IoU or
    keypoint similarity) and scores [P]; ignored [P] bool marks predictions that lie in an ignore
    region (used only for those that match no label). See the module docstring for the rules."""
    sc = np.asarray(scores, np.float64).reshape(-1)
    P = sc.shape[0]
    sim = np.asarray(similarity, np.float64)
    G = sim.shape[1] if sim.ndim == 2 else 0
    sim = sim.reshape(P, G)
    taken = np.zeros(G, bool)
    res = MatchResult(iou=sim)
    ign = np.zeros(P, bool) if ignored is None else np.asarray(ignored, bool).reshape(P)
    for i in np.argsort(-sc, kind="stable"):
        free = np.where(taken, -np.inf, sim[i]) if G else np.zeros(0)
        if G and free.max() >= threshold:
            j = int(free.argmax())
            taken[j] = True
            res.pairs.append((int(i), j))
        elif G and sim[i].max() >= threshold:
            res.duplicates.append(int(i))
        elif ign[i]:
            res.ignored.append(int(i))
        else:
            res.false_positives.append(int(i))
    res.missed = [int(j) for j in np.flatnonzero(~taken)]
    return res


def match_hands(pred_boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray,
                ignore_boxes: np.ndarray | None = None, iou_threshold: float = 0.5,
                ignore_cover: float = IGNORE_COVER) -> MatchResult:
    """Match predictions [P, 4] (scores [P]) to labels [G, 4] by box IoU; a prediction counts as
    inside an ignore region when at least `ignore_cover` of its own area lies in one."""
    pred = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    inside = inside_any(pred, np.zeros((0, 4)) if ignore_boxes is None else ignore_boxes, ignore_cover)
    return match_by_similarity(box_iou(pred, gt), scores, iou_threshold, inside)
