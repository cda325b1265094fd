"""The smallest hand a view reports: hands shorter than a share of the network input are dropped.

Why: weights trained on hands down to ~12 px (weights v3, docs/training.md) also fire on small
things that are not hands. On never-trained-on photos at the fast mode's 256-px input, v3's step-12,000
detections with a keypoint box under 0.1 of the input side (~26 px) were 14 false and none true on
hina-gloves, 52 false and 4 true on the whole-scene photos of capston2-scenes (faces, shoes, balls,
whole small people: `tools/false_hands.py`, docs/evaluation.md "Small false hands"). The rule acts per
view, in the view's own input pixels, so photo mode's tiles, which see a small hand larger, still
report it. The value belongs to the weights (`Calibration.min_hand_side`, chosen on the held-out
splits of the sets they trained on and kept only if calibration-only scenes lose no F1 by it:
`tools/calibrate_large_hands.py`); weights that store none have no limit (the bundled v2 weights
report almost nothing that small).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smhr.records import Hand
from smhr.runtime.tiling import keypoint_boxes

__all__ = ["keep_large_enough"]


def keep_large_enough(hands: Sequence[Hand], scale: float | None, min_side: float | None) -> list[Hand]:
    """The hands of one view whose keypoint box's long side x scale (input sides per image pixel of
    that view) is at least min_side; all of them when min_side or scale is None. Order is kept."""
    if min_side is None or scale is None or not hands:
        return list(hands)
    boxes = keypoint_boxes(hands)
    sides = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) * scale
    return [h for h, side in zip(hands, sides, strict=True) if side >= min_side]
