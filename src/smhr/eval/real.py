"""Scores on real photos with 2D labels: detection recall / precision / duplicates, PCK@a*box,
handedness, from one-to-one matches (`smhr.eval.matching`).

Why: on real photos we have 2D labels only (the teacher's on the held-out splits of our labelled
photos, human ones on the real-GT fixtures), so quality is measured in 2D: does the model find each
hand once, put its 21 keypoints within a fraction of the hand's size, and tell left from right.
Predictions are `Detection`s so the same scorer serves the network and the teacher itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from smhr.data.sample import Sample
from smhr.eval.matching import keypoint_box, match_by_similarity, match_hands

__all__ = ["Detection", "RealScores", "pck"]


@dataclass
class Detection:
    """A predicted hand: keypoints2d [21, 2] px (original image), side 0/1, score."""

    keypoints2d: np.ndarray
    side: int
    score: float


def pck(pred: np.ndarray, gt: np.ndarray, vis: np.ndarray, alpha: float = 0.2) -> tuple[int, int]:
    """(keypoints within alpha * max side of the GT visible-keypoint box, visible keypoints)."""
    vis = np.asarray(vis, bool)
    if not vis.any():
        return 0, 0
    box = keypoint_box(gt, vis)
    thr = alpha * max(box[2] - box[0], box[3] - box[1], 1.0)
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=1)
    return int((d[vis] <= thr).sum()), int(vis.sum())


class RealScores:
    """Accumulates matches image by image; `summary()` gives the numbers.

    iou_threshold: box IoU (keypoint boxes) needed for a match. match: "box" (keypoint-box IoU, for
    labels with every keypoint, e.g. the teacher's) or "keypoints" (mean distance of the labelled
    visible keypoints below half the labelled box diagonal, for human labels of partly occluded
    hands, whose visible-keypoint box can be much smaller than the hand). side_known: per labelled
    hand, whether its side is known (hands of unknown side are left out of the handedness accuracy).
    """

    def __init__(self, iou_threshold: float = 0.5, alpha: float = 0.2, match: str = "box") -> None:
        if match not in ("box", "keypoints"):
            raise ValueError(f"RealScores match must be 'box' or 'keypoints', got {match!r}")
        self.match = match
        self.iou_threshold = iou_threshold
        self.alpha = alpha
        self.n_images = self.n_gt = self.n_pred = 0
        self.tp = self.dup = self.fp = self.ignored = 0
        self.pck_hit = self.pck_all = self.pck_matched = 0
        self.side_ok = self.side_n = 0
        self.err_px: list[float] = []

    def add(
        self, sample: Sample, detections: Sequence[Detection], side_known: Iterable[bool] | None = None
    ) -> None:
        gts = [h for h in sample.hands if h.visibility.any()]
        known = list(side_known) if side_known is not None else [True] * len(sample.hands)
        known = [k for k, h in zip(known, sample.hands, strict=True) if h.visibility.any()]
        gt_boxes = np.array([keypoint_box(h.keypoints2d, h.visibility) for h in gts]).reshape(-1, 4)
        pred_boxes = np.array([keypoint_box(d.keypoints2d) for d in detections]).reshape(-1, 4)
        scores = np.array([d.score for d in detections])
        if self.match == "box":
            res = match_hands(pred_boxes, scores, gt_boxes, sample.ignore, self.iou_threshold)
        else:
            sim = np.zeros((len(detections), len(gts)))
            for j, g in enumerate(gts):
                half_diag = 0.5 * float(np.linalg.norm(gt_boxes[j, 2:] - gt_boxes[j, :2])) + 1e-9
                for i, d in enumerate(detections):
                    dist = np.linalg.norm(d.keypoints2d - g.keypoints2d, axis=1)[g.visibility].mean()
                    sim[i, j] = 1.0 - dist / half_diag
            res = match_by_similarity(sim, scores, 1e-9)
        self.n_images += 1
        self.n_gt += len(gts)
        self.n_pred += len(detections)
        self.tp += len(res.pairs)
        self.dup += len(res.duplicates)
        self.fp += len(res.false_positives)
        self.ignored += len(res.ignored)
        for i, j in res.pairs:
            hit, n = pck(detections[i].keypoints2d, gts[j].keypoints2d, gts[j].visibility, self.alpha)
            self.pck_hit += hit
            self.pck_matched += n
            d = np.linalg.norm(detections[i].keypoints2d - gts[j].keypoints2d, axis=1)[gts[j].visibility]
            self.err_px.append(float(d.mean()))
            if known[j]:
                self.side_n += 1
                self.side_ok += int(detections[i].side == gts[j].side)
        self.pck_all += sum(int(h.visibility.sum()) for h in gts)

    def summary(self) -> dict[str, float | int]:
        scored = self.tp + self.dup + self.fp
        return {
            "images": self.n_images,
            "hands": self.n_gt,
            "detections": self.n_pred,
            "recall": self.tp / self.n_gt if self.n_gt else float("nan"),
            "precision": self.tp / scored if scored else float("nan"),
            "duplicates": self.dup,
            "duplicate_rate": self.dup / self.n_pred if self.n_pred else 0.0,
            "false_positives": self.fp,
            "ignored_detections": self.ignored,
            # PCK over every labelled keypoint (missed hands count as misses) ...
            f"pck{self.alpha:g}_all": self.pck_hit / self.pck_all if self.pck_all else float("nan"),
            # ... and over the keypoints of matched hands only
            f"pck{self.alpha:g}_matched": self.pck_hit / self.pck_matched
            if self.pck_matched
            else float("nan"),
            "handedness_acc": self.side_ok / self.side_n if self.side_n else float("nan"),
            "mean_kp_err_px": float(np.mean(self.err_px)) if self.err_px else float("nan"),
        }
