"""The large-hand threshold: hands that fill much of the view are kept from a lower score.

Why: the network scores a hand that fills much of its view lower than a hand of the sizes it sees
most in training, while it still ranks it well above the rest of the image: with the bundled
weights, fast mode, the frame-filling stress views of never-trained-on hina-gloves have AP 0.83 but
recall 0.30 at the threshold 0.3, close-ups cut below the wrist AP 0.95 and recall 0.66
(docs/evaluation.md "Large hands"). Below the threshold the extra detections of such views are
mostly second peaks on the same hand (312 duplicates vs 15 false hands on the frame-filling views at
scores 0.05-0.3), while small ones are mostly false hands on real photos (540 of 571 on hina-gloves).
So a detection under the threshold is kept only when (1) it scores at least the large-hand
threshold, (2) its keypoint box spans at least `LARGE_SIDE` of the view's long side, and (3) it does
not overlap a hand already kept (keypoint-box IoU >= OVERLAP_IOU or >= OVERLAP_CONTAINED of the
smaller box inside the other); hands at or above the threshold are kept exactly as before.
The values were chosen on the held-out splits of the trained-on sets and their stress views only
(`tools/calibrate_large_hands.py`): the most stress-view F1 among the points that cost the sources at
most 1 point of precision and of handedness (the hands it adds score low, where the side is
weakest; docs/evaluation.md "Large hands", "The side constraint"). (The best plain F1 sum, 0.15 and
side 0.4, found frame-filling hands 0.75 of the time but added 151 false hands on the 1,654
whole-scene photos of capston2-scenes, never trained on: docs/evaluation.md "Large hands".)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smhr.records import Hand
from smhr.runtime.tiling import keypoint_boxes, same_place

__all__ = ["LARGE_SIDE", "LARGE_THRESHOLD", "OVERLAP_CONTAINED", "OVERLAP_IOU", "acting_threshold",
           "admit_large", "decode_threshold"]

LARGE_THRESHOLD = 0.1  # keep large hands from this score (>= the threshold: off)
LARGE_SIDE = 0.6  # "large": keypoint box's long side / the view's long side
OVERLAP_IOU = 0.2  # a lower-scoring large hand overlapping a kept one this much is a second peak of it
OVERLAP_CONTAINED = 0.5  # ... or lying this much inside it (or it inside the large hand)


def acting_threshold(threshold: float, large_threshold: float | None) -> float | None:
    """The large-hand threshold when it acts (under the threshold), else None: the rule is off."""
    return large_threshold if large_threshold is not None and large_threshold < threshold else None


def decode_threshold(threshold: float, large_threshold: float | None) -> float:
    """The score the network's peaks are decoded from: the lower of the two (None: the threshold)."""
    low = acting_threshold(threshold, large_threshold)
    return threshold if low is None else low


def admit_large(hands: Sequence[Hand], threshold: float, large_threshold: float | None,
                view_box: Sequence[float], large_side: float = LARGE_SIDE) -> list[Hand]:  # fmt: skip
    """Hands of one view decoded at `decode_threshold` -> the kept ones, best score first: every hand
    scoring >= threshold, then, walking down the scores, each one under it that scores >=
    large_threshold, spans >= large_side of the view box's (x0, y0, x1, y1) long side, and overlaps
    no kept hand (module docstring)."""
    ranked = sorted(hands, key=lambda h: -h.score)
    kept = [h for h in ranked if h.score >= threshold]
    low = acting_threshold(threshold, large_threshold)
    rest = [] if low is None else [h for h in ranked if low <= h.score < threshold]
    if not rest:
        return kept
    long_side = max(view_box[2] - view_box[0], view_box[3] - view_box[1])
    boxes: list[np.ndarray] = list(keypoint_boxes(kept)) if kept else []
    for hand, box in zip(rest, keypoint_boxes(rest), strict=True):
        if max(box[2] - box[0], box[3] - box[1]) < large_side * long_side:
            continue
        if any(same_place(box, b, OVERLAP_IOU, OVERLAP_CONTAINED) for b in boxes):
            continue
        kept.append(hand)
        boxes.append(box)
    return kept
