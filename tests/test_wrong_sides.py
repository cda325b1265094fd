"""tools/wrong_sides.py: which matched hands get the other side, how they bin, and the sheet of them."""

from __future__ import annotations

import numpy as np
import wrong_sides
from false_hands import TILE, sheet

from smhr.data.sample import HandLabel, Sample
from smhr.eval.real import Detection


def _kp(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """21 keypoints on the diagonal of a box (their keypoint box is that box)."""
    return np.stack([np.linspace(x1, x2, 21), np.linspace(y1, y2, 21)], 1)


class _Set:
    """One image, three labelled hands (right, left, right) and their teacher records."""

    def __init__(self) -> None:
        self.records = [{"hands": [{"right_prob": 0.97}, {"right_prob": 0.4}, {}]}]

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> Sample:
        hands = [HandLabel(side=s, keypoints2d=_kp(*box), visibility=np.ones(21, bool))
                 for s, box in ((1, (10, 10, 50, 50)), (0, (100, 10, 140, 50)), (1, (10, 120, 50, 160)))]
        return Sample(image=np.full((200, 200, 3), 90, np.uint8), hands=hands, K=np.eye(3, dtype=np.float32))


DETECTIONS = [
    Detection(_kp(12, 12, 52, 52), 0, 0.35),  # the right hand, called left, drawn 2 px off
    Detection(_kp(100, 10, 140, 50), 0, 0.7),  # the left hand, right
    Detection(_kp(10, 120, 50, 160), 1, 0.55),  # the second right hand, right
    Detection(_kp(150, 150, 190, 190), 1, 0.9),  # on nothing: false, not a side
]


def test_rows_bins_and_confusion_of_the_matched_hands_sides():
    summary, rows = wrong_sides.side_rows(_Set(), lambda image: DETECTIONS, 0.5)
    assert summary["recall"] == 1.0 and summary["false_positives"] == 1 and len(rows) == 3
    wrong = [r for r in rows if not r["agree"]]
    assert len(wrong) == 1 and wrong[0]["label"] == 0  # the right hand ...
    assert wrong[0]["label_side"] == "R" and wrong[0]["side"] == "L"  # ... called left
    assert wrong[0]["error"] == round(np.hypot(2, 2) / 40, 3)  # mean 2D error over the 40-px box
    assert wrong[0]["teacher_confidence"] == 0.94 and wrong[0]["caption"] == "T:R 0.94 N:L 0.35"
    assert [r["teacher_confidence"] for r in rows if r["agree"]] == [0.2, None]  # no right_prob: None

    result = wrong_sides.summarise(rows)
    assert result["matched"] == 3 and result["agreement"] == round(2 / 3, 3)
    assert result["right_called_left"] == "1 of 2" and result["left_called_right"] == "0 of 1"
    assert result["by_score"] == {"<0.4": {"hands": 1, "agree": 0.0}, "0.4-0.5": {"hands": 0, "agree": None},
                                  "0.5-0.6": {"hands": 1, "agree": 1.0}, ">=0.6": {"hands": 1, "agree": 1.0}}
    assert result["by_teacher_confidence"]["<0.5"] == {"hands": 1, "agree": 1.0}  # the None one left out
    assert sum(b["hands"] for b in result["by_teacher_confidence"].values()) == 2
    # diagonal keypoints: the palm triangle has no turn, read as a right hand's back and a left palm
    assert result["by_face"] == {"palm": {"hands": 1, "agree": 1.0}, "back": {"hands": 2, "agree": 0.5}}
    assert "caption" not in result["wrong"][0] and "keypoints2d" not in result["wrong"][0]

    tiles = sheet(_Set(), wrong, n=4, cols=2)  # the sheet wrong_sides writes
    assert tiles.shape == (TILE, 2 * TILE, 3)
    assert tiles[:, :TILE].max() == 255 and tiles[:, TILE:].max() == 0  # one tile, then padding


def test_a_hand_of_unknown_side_is_left_out():
    class Unknown(_Set):
        def __getitem__(self, index: int) -> Sample:
            s = super().__getitem__(index)
            s.meta["side_known"] = [False, True, True]
            return s

    _, rows = wrong_sides.side_rows(Unknown(), lambda image: DETECTIONS, 0.5)
    assert len(rows) == 2 and all(r["agree"] for r in rows)
