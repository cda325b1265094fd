"""The hand check: each candidate's score also from a classifier of its own crop ("is this a hand?").

Why: below the detection threshold the network still finds many real hands (never-trained-on
hina-gloves, fast mode: recall 0.83 of its hands at score 0.1 against 0.76 at 0.3), but so many
false ones that the threshold cannot go down (precision 0.52 at 0.1); on the 1,654 whole-scene
photos of capston2-scenes most false hands are faces, arms and fabric. A classifier of the
candidate's canonical crop (`smhr.model.side_net`, trained on the detector's own candidates on the
trained-on sets' train splits, `tools/train_hand_check.py`) adds what the detector's score misses
on sources it never saw. It runs on each view's decoded hands (every hand from the decode
threshold up), before they are admitted (`check_hands`): the crop is cut at the hand's
local keypoints (the keypoint head's, where the classifier's training crops were cut), the score's
log-odds gain HAND_WEIGHT x the classifier's logit (`revised_scores`), and the threshold, the
large-hand rule and every later step then work on that score. HAND_WEIGHT was chosen at the
weights' threshold on the trained-on sets' held-out splits (docs/evaluation.md "The hand check").

A candidate the check lifts over the threshold must stand alone (`lifted_alone`): one whose
keypoint box overlaps a candidate of its view kept by the network's own score, or a better lifted
one (the large-hand rule's overlap limits), goes back to the network's score. Why: a piece of a
hand (the second peak on its fingers) looks like a hand in its own crop; lifted, such pieces
became extra hands on the bundled renders, and a piece lifted above its hand would drop the hand
as its second peak (`smhr.runtime.second_peaks`).

Only a whole view lifts (`check_hands(lift=)`): photo mode's tiles and extra views only lower
scores, since low-scored pieces of hands cut by a tile border, lifted, became 44 more false hands
on the gloves (photo mode precision 0.821 -> 0.695).

A candidate that fills much of a whole view (the large-hand rule's size, `smhr.runtime.large_hands`)
is never lowered, and it anchors the lifted rule like a hand kept by its score: the network scores
such hands low and the large-hand rule keeps them from a lower score, while the keypoint head draws
them smaller than they are (86-144 px for close-ups whose decoded hands span 150-200 px of 256),
so their crops show part of the hand, which the classifier scored down: allowed to, it lost 13 of
166 never-trained-on close-ups without the arm (recall 0.892 -> 0.837). Their size is read from
the decoded keypoints, as the large-hand rule reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from smhr.records import Hand
from smhr.runtime.crop_classifier import HAND_FORMAT, CropClassifier, bundled_crop_classifier
from smhr.runtime.large_hands import OVERLAP_CONTAINED, OVERLAP_IOU
from smhr.runtime.tiling import keypoint_boxes, same_place

__all__ = ["HAND_FORMAT", "HAND_WEIGHT", "HandChecker", "bundled_hand_classifier", "check_hands",
           "lifted_alone", "revised_scores"]

HAND_WEIGHT = 0.5  # the classifier's logit's weight in the score's log-odds
_EPS = 1e-6


def bundled_hand_classifier() -> Path:
    """Path of the hand check's classifier that ships inside the package."""
    return bundled_crop_classifier(HAND_FORMAT)


class HandChecker(CropClassifier):
    """logits(image, keypoints) -> hand-vs-not logits of candidates (`smhr.runtime.crop_classifier`)."""

    kind, what, option = HAND_FORMAT, "hand", "hand_check"


def revised_scores(scores: np.ndarray, crop_logit: np.ndarray, weight: float = HAND_WEIGHT) -> np.ndarray:
    """Scores in (0, 1) of checked slots -> sigmoid(log-odds(score) + weight x the classifier's
    logit); weight: HAND_WEIGHT at run time, others when it is chosen (`tools/train_hand_check.py`)."""
    p = np.clip(np.asarray(scores, np.float64), _EPS, 1 - _EPS)
    z = np.log(p / (1 - p)) + weight * np.asarray(crop_logit, np.float64)
    return (1 / (1 + np.exp(-z))).astype(np.float32)


def lifted_alone(network: np.ndarray, revised: np.ndarray, boxes: np.ndarray, threshold: float,
                 anchored: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """The revised scores [n] of one view's candidates, where a candidate lifted from under
    `threshold` (network score) to it or above (revised) that overlaps the keypoint box [n,4]
    (x0, y0, x1, y1; `same_place` at the large-hand rule's limits) of an anchored candidate (kept on
    the network's own merits: by default a network score >= threshold; the caller adds the
    large-hand rule's), or of a better lifted one, gets its network score back."""
    out = np.asarray(revised, np.float32).copy()
    network = np.asarray(network, np.float32)
    anchored = network >= threshold if anchored is None else np.asarray(anchored, bool)
    kept = [int(i) for i in np.flatnonzero(anchored)]
    for i in np.argsort(-out, kind="stable"):
        if out[i] < threshold:
            break
        if anchored[i] or network[i] >= threshold:
            continue
        if any(same_place(boxes[i], boxes[j], OVERLAP_IOU, OVERLAP_CONTAINED) for j in kept):
            out[i] = network[i]
        else:
            kept.append(int(i))
    return out


def check_hands(hands: Sequence[Hand], image: np.ndarray, checker: CropClassifier, threshold: float,
                large_px: float = np.inf, lift: bool = True) -> list[Hand]:  # fmt: skip
    """One view's decoded hands with their scores revised by the hand check, best first: crops of
    `image` (the pixels the view was made from) at each hand's local keypoints; a hand whose
    keypoint box spans >= large_px keeps at least its score; lifted hands must stand alone
    (`lifted_alone`, at `threshold`, the score hands are kept from); lift False: scores are only
    ever lowered (photo mode's tiles and extra views)."""
    if not hands:
        return []
    local = np.stack([np.asarray(h.local_keypoints2d) for h in hands])
    network = np.array([h.score for h in hands], np.float32)
    revised = revised_scores(network, checker.logits(image, local))
    boxes = keypoint_boxes(hands)
    large = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= large_px
    revised = np.where(large, np.maximum(revised, network), revised)
    if not lift:
        revised = np.minimum(revised, network)
    scores = lifted_alone(network, revised, boxes, threshold, (network >= threshold) | large)
    out = [replace(h, score=float(s)) for h, s in zip(hands, scores, strict=True)]
    return sorted(out, key=lambda h: -h.score)
