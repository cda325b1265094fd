"""Second peaks: one hand the network reports twice in one view; the lower-scoring copy is dropped.

Why: the centre map of a large hand can hold two peaks (on the palm and on the fingers, or either
side of a wrist cut by the frame) that both pass the threshold, each decoded as a whole hand over
the same pixels. With v3's step-18,000 weights, fast mode, the rule removes 16 of the 18 duplicates
`benchmarks/bench_real.py` counted on the frame-filling and close-up stress views (trained-on and
never-trained-on) and changes nothing on 800 hands of 4-hand composites, subhih-hands' held-out
photos, the real-GT fixtures or InterHand2.6M's hands in contact; on hina-gloves it drops 3 copies
and with one of them a hand the weaker copy had matched better (docs/evaluation.md
"Second peaks"). Two different hands of the SAME side overlapping this much are rare (hands in
contact are mostly a left and a right one, and they stay two); the network's peak NMS (a max-pool
over the centre map, `smhr.model.decode`) sees only neighbouring cells, not that two cells a few
cells apart drew one hand. Applied to each view before photo mode merges views
(`smhr.runtime.tiling.merge_views`).
"""

from __future__ import annotations

from collections.abc import Sequence

from smhr.records import Hand
from smhr.runtime.tiling import keypoint_boxes, same_place

__all__ = ["SECOND_PEAK_CONTAINED", "SECOND_PEAK_IOU", "drop_second_peaks"]

SECOND_PEAK_IOU = 0.5  # keypoint boxes of two same-side hands of one view overlapping this much: one hand
SECOND_PEAK_CONTAINED = 0.8  # ... or the smaller box lying this much inside the larger


def drop_second_peaks(hands: Sequence[Hand], iou: float = SECOND_PEAK_IOU,
                      contained: float = SECOND_PEAK_CONTAINED) -> list[Hand]:  # fmt: skip
    """One view's hands, best score first, without each hand whose keypoint box overlaps a
    better-scoring kept hand of the same side by IoU >= iou or lies >= contained inside it (or it
    inside the hand)."""
    ranked = sorted(hands, key=lambda h: -h.score)
    if len(ranked) < 2:
        return ranked
    boxes = keypoint_boxes(ranked)
    kept: list[int] = []
    for i, hand in enumerate(ranked):
        if not any(ranked[j].side == hand.side and same_place(boxes[i], boxes[j], iou, contained)
                   for j in kept):  # fmt: skip
            kept.append(i)
    return [ranked[i] for i in kept]
