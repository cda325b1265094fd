"""Scores on real photos with 2D labels: detection recall / precision / duplicates, PCK@a*box,
handedness, from one-to-one matches (`smhr.eval.matching`).

Why: on real photos we have 2D labels only (the teacher's on the held-out splits of our labelled
photos, human ones on the real-GT fixtures), so quality is measured in 2D: does the model find each
hand once, put its 21 keypoints within a fraction of the hand's size, and tell left from right.
Predictions are `Detection`s so the same scorer serves the network and the teacher itself.

Box-level hands (a label with a box and a side but no visible keypoint: teacher v2's hands too
small for its landmark model, `level: "box"` in a label file; or a box-level `Detection`) are found
by their box, not their keypoints: such a pair matches when the prediction's box centre lies in
the label's box, at the lowest matching similarity (a prediction prefers a label it matches
better by keypoints or box overlap; matching stays one-to-one in score order). They
count for recall, precision and handedness, never for PCK or keypoint error; the summary also
gives recall over the keypoint-level and the box-level labels apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from smhr.data.sample import Sample
from smhr.eval.matching import (
    IGNORE_COVER,
    MatchResult,
    box_iou,
    centre_in,
    inside_any,
    is_box_label,
    keypoint_box,
    label_box,
    match_by_similarity,
)
from smhr.eval.metrics import average_precision
from smhr.records import Hand

__all__ = ["Detection", "RealScores", "pck"]


@dataclass
class Detection:
    """A predicted hand: keypoints2d [21, 2] px (original image), side 0/1, score; level "box"
    marks a hand whose keypoints are no measurement (found by its `box` [4] px, or the keypoints'
    box when None)."""

    keypoints2d: np.ndarray
    side: int
    score: float
    level: str = "keypoints"
    box: np.ndarray | None = None

    @classmethod
    def from_hand(cls, hand: Hand) -> Detection:
        """The network's `Hand` as the scorer sees it (keypoints, side, score), so every benchmark
        and the trainer's validation score the network's hands the same way."""
        return cls(np.asarray(hand.keypoints2d), int(hand.side), float(hand.score))

    def hand_box(self) -> np.ndarray:
        """[4] x1, y1, x2, y2 px: `box` when given, else around the keypoints."""
        return keypoint_box(self.keypoints2d) if self.box is None else np.asarray(self.box, np.float64)


def pck(pred: np.ndarray, gt: np.ndarray, vis: np.ndarray, alpha: float = 0.2) -> tuple[int, int]:
    """(keypoints within alpha * max side of the GT visible-keypoint box, visible keypoints)."""
    vis = np.asarray(vis, bool)
    if not vis.any():
        return 0, 0
    box = keypoint_box(gt, vis)
    thr = alpha * max(box[2] - box[0], box[3] - box[1], 1.0)
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=1)
    return int((d[vis] <= thr).sum()), int(vis.sum())


def same_keypoint_iou(detections: Sequence[Detection], whole: np.ndarray, gts: Sequence[object],
                      gt_boxes: np.ndarray, boxy: Sequence[bool]) -> np.ndarray:
    """[P, G] IoU of each label's box of its visible keypoints with each detection's box of those same
    keypoints (its whole box, `whole` [P, 4] from `Detection.hand_box`, for a box-level detection or
    label): the labels of a hand cut by the frame mark its keypoints outside as not visible, while a
    detection places all 21."""
    P, G = len(detections), len(gts)
    sim = np.zeros((P, G))
    if not P or not G:
        return sim
    own_box = np.array([d.level == "box" or d.box is not None for d in detections])
    kps = np.array([np.asarray(d.keypoints2d, np.float64).reshape(-1, 2) for d in detections])
    for j in range(G):
        vis = np.asarray(gts[j].visibility, bool)
        boxes = whole
        if not boxy[j] and vis.any():
            sub = kps[:, vis]
            boxes = np.where(own_box[:, None], whole, np.concatenate([sub.min(1), sub.max(1)], 1))
        sim[:, j] = box_iou(boxes, gt_boxes[j : j + 1])[:, 0]
    return sim


class RealScores:
    """Accumulates matches image by image; `summary()` gives the numbers.

    iou_threshold: box IoU (keypoint boxes) needed for a match. match: "box" (keypoint-box IoU, for
    labels with every keypoint, e.g. the teacher's: the label's box of its visible keypoints against
    the detection's box of the same keypoints, so that a hand cut by the frame is compared on its
    part inside the image, not the detection's whole hand on the label's visible part: before, a
    perfect prediction missed 2 of capston2-scenes' 591 hands) or
    "keypoints" (mean distance of the labelled
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
        self.side_ok = self.side_n = self.n_gt_known = 0
        self.err_px: list[float] = []
        self.n_box_gt = self.tp_box_gt = 0
        self.ranked: list[tuple[float, bool]] = []  # (score, true positive) of every scored detection

    def add(
        self, sample: Sample, detections: Sequence[Detection], side_known: Iterable[bool] | None = None
    ) -> MatchResult:
        """Score one image; returns its matches with label indices into `sample.hands` (labels with
        no visible keypoint and no box are left out of the scores and of the result)."""
        use = [h.visibility.any() or is_box_label(h) for h in sample.hands]
        gts = [h for h, u in zip(sample.hands, use, strict=True) if u]
        known = list(side_known) if side_known is not None else [True] * len(sample.hands)
        known = [k for k, u in zip(known, use, strict=True) if u]
        boxy = [is_box_label(h) for h in gts]
        gt_boxes = np.array([label_box(h) for h in gts]).reshape(-1, 4)
        pred_boxes = np.array([d.hand_box() for d in detections]).reshape(-1, 4)
        scores = np.array([d.score for d in detections])
        threshold = self.iou_threshold if self.match == "box" else 1e-9
        if self.match == "box":
            sim = same_keypoint_iou(detections, pred_boxes, gts, gt_boxes, boxy)
        else:
            sim = np.zeros((len(detections), len(gts)))
            for j, g in enumerate(gts):
                half_diag = 0.5 * float(np.linalg.norm(gt_boxes[j, 2:] - gt_boxes[j, :2])) + 1e-9
                for i, d in enumerate(detections):
                    if boxy[j] or d.level == "box":
                        continue
                    dist = np.linalg.norm(d.keypoints2d - g.keypoints2d, axis=1)[g.visibility].mean()
                    sim[i, j] = 1.0 - dist / half_diag
        coarse = [
            (i, j) for i, d in enumerate(detections) for j in range(len(gts)) if boxy[j] or d.level == "box"
        ]
        for i, j in coarse:  # found by the box centre, at the lowest similarity that matches
            sim[i, j] = threshold if centre_in(pred_boxes[i], gt_boxes[j]) else min(sim[i, j], 0.0)
        ignored = inside_any(pred_boxes, sample.ignore, IGNORE_COVER)
        res = match_by_similarity(sim, scores, threshold, ignored)
        self.n_images += 1
        self.n_gt += len(gts)
        self.n_gt_known += sum(known)
        self.n_pred += len(detections)
        self.tp += len(res.pairs)
        self.dup += len(res.duplicates)
        self.fp += len(res.false_positives)
        self.ignored += len(res.ignored)
        taken = {i for i, _ in res.pairs}
        scored = sorted({*taken, *res.duplicates, *res.false_positives})  # detection order: at equal
        self.ranked += [(float(detections[i].score), i in taken) for i in scored]  # scores no TP first
        self.n_box_gt += sum(boxy)
        for i, j in res.pairs:
            self.tp_box_gt += int(boxy[j])
            if known[j]:
                self.side_n += 1
                self.side_ok += int(detections[i].side == gts[j].side)
            if boxy[j] or detections[i].level == "box":
                continue  # found by box: no keypoint score
            hit, n = pck(detections[i].keypoints2d, gts[j].keypoints2d, gts[j].visibility, self.alpha)
            self.pck_hit += hit
            self.pck_matched += n
            d = np.linalg.norm(detections[i].keypoints2d - gts[j].keypoints2d, axis=1)[gts[j].visibility]
            self.err_px.append(float(d.mean()))
        self.pck_all += sum(int(h.visibility.sum()) for h in gts)
        label = [j for j, u in enumerate(use) if u]  # scored label -> index in sample.hands
        return replace(res, pairs=[(i, label[j]) for i, j in res.pairs],
                       missed=[label[j] for j in res.missed], iou=None)

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
            # hands found *with* the label's side, over all labelled hands of known side: unlike
            # handedness_acc (a share of the matched hands) it does not punish finding harder hands
            "correct_side_recall": self.side_ok / self.n_gt_known if self.n_gt_known else float("nan"),
            "mean_kp_err_px": float(np.mean(self.err_px)) if self.err_px else float("nan"),
            # labels with keypoints vs box-level labels (found by box centre; no keypoint score)
            "keypoint_hands": self.n_gt - self.n_box_gt,
            "recall_keypoint_hands": (self.tp - self.tp_box_gt) / (self.n_gt - self.n_box_gt)
            if self.n_gt > self.n_box_gt
            else float("nan"),
            "box_hands": self.n_box_gt,
            "recall_box_hands": self.tp_box_gt / self.n_box_gt if self.n_box_gt else float("nan"),
            # COCO 101-point AP of the detections given (duplicates count as false, ignored ones not
            # at all): threshold-free only when they come from a run at a low score threshold
            "ap": average_precision([r[0] for r in self.ranked], [r[1] for r in self.ranked], self.n_gt),
        }
