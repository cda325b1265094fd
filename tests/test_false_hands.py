"""tools/false_hands.py: which detections are false, what they lie on, and the sheet of them."""

from __future__ import annotations

import false_hands
import numpy as np
import pytest

from smhr.data.sample import HandLabel, Sample
from smhr.eval.real import Detection, RealScores
from smhr.records import Hand


def _kp(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """21 keypoints on the diagonal of a box (their keypoint box is that box)."""
    return np.stack([np.linspace(x1, x2, 21), np.linspace(y1, y2, 21)], 1)


def _sample() -> Sample:
    hand = HandLabel(side=1, keypoints2d=_kp(20, 20, 60, 60), visibility=np.ones(21, bool))
    return Sample(image=np.zeros((200, 200, 3), np.uint8), hands=[hand], K=np.eye(3, dtype=np.float32),
                  ignore=np.array([[120, 120, 180, 180]], np.float32))  # fmt: skip


DETECTIONS = [
    Detection(_kp(21, 21, 61, 61), 1, 0.9),  # the labelled hand: matched
    Detection(_kp(40, 40, 90, 90), 0, 0.6),  # overlaps it (IoU ~0.15): a misplaced second hand
    Detection(_kp(160, 160, 200, 200), 1, 0.5),  # a quarter inside the unlabelled source box
    Detection(_kp(100, 0, 130, 30), 0, 0.4),  # on nothing
    Detection(_kp(125, 125, 175, 175), 1, 0.7),  # inside the unlabelled box: ignored, not false
]


def test_add_returns_the_match_and_the_tool_names_each_false_hand_and_where_it_lies():
    res = RealScores().add(_sample(), DETECTIONS)
    assert res.pairs == [(0, 0)] and sorted(res.false_positives) == [1, 2, 3] and res.ignored == [4]

    summary, found = false_hands.false_hands([_sample()], lambda image: DETECTIONS, 0.5)
    assert summary["false_positives"] == 3 and summary["recall"] == 1.0 and summary["precision"] == 0.25
    by_score = {h["score"]: h for h in found}
    assert [by_score[s]["on"] for s in (0.6, 0.5, 0.4)] == ["labelled hand", "unlabelled box", "elsewhere"]
    assert by_score[0.4]["size"] == 0.15 and by_score[0.6]["side"] == "L"  # 30 px of 200; side 0 = left
    assert false_hands.bins([0.02, 0.1, 0.15, 0.5], false_hands.SIZE_EDGES) == {
        "<0.05": 1, "0.05-0.1": 0, "0.1-0.2": 2, "0.2-0.4": 0, ">=0.4": 1}  # fmt: skip

    sheet = false_hands.sheet([_sample()], found, n=2, cols=8)
    assert sheet.shape == (false_hands.TILE, 8 * false_hands.TILE, 3)
    assert sheet[:, : 2 * false_hands.TILE].max() == 255  # boxes drawn on the two highest-scoring
    assert sheet[:, 2 * false_hands.TILE :].max() == 0  # blank padding after them


def test_from_hand_scores_a_networks_hand_like_the_detection_built_by_hand():
    kp = _kp(21, 21, 61, 61).astype(np.float32)
    z = np.zeros(3, np.float32)
    hand = Hand(np.int64(1), np.float32(0.9), kp.mean(0), z, np.zeros(45), np.zeros(10), z, np.zeros((4, 3)),
                np.zeros((21, 3)), kp, kp, np.eye(3))  # fmt: skip
    det = Detection.from_hand(hand)
    assert type(det.side) is int and type(det.score) is float  # numpy scalars would not go into JSON
    assert det.side == 1 and abs(det.score - 0.9) < 1e-6 and det.level == "keypoints" and det.box is None
    ours, built = RealScores(), RealScores()
    assert ours.add(_sample(), [det]).pairs == built.add(_sample(), [DETECTIONS[0]]).pairs == [(0, 0)]
    assert ours.summary() == pytest.approx(built.summary(), rel=1e-6, nan_ok=True)  # float32 keypoints
