"""The smallest hand a view reports (`smhr.runtime.small_hands`, `Reconstructor.min_hand_side`):
measured in the view's own input pixels, so a small hand that photo mode's tile enlarges survives."""

import numpy as np
import pytest

from smhr.runtime.reconstructor import Reconstructor
from smhr.runtime.small_hands import keep_large_enough
from test_large_hands import PeaksNet, _predict
from test_tiling import FlatHand, R


class Box:
    def __init__(self, side: float) -> None:
        self.keypoints2d = np.array([[10.0, 10.0], [10.0 + side, 10.0 + 0.5 * side]])


def test_the_rule_keeps_hands_at_least_min_side_of_the_input_in_their_view():
    small, large = Box(20.0), Box(30.0)  # image pixels
    assert keep_large_enough([small, large], 1 / 256, 0.1) == [large]  # 20 / 256 < 0.1 <= 30 / 256
    assert keep_large_enough([small, large], 2 / 256, 0.1) == [small, large]  # a view enlarging 2x
    assert keep_large_enough([small, large], 1 / 256, None) == [small, large]  # no limit
    assert keep_large_enough([small], None, 0.1) == [small]  # a view of unknown scale: kept


def test_the_reconstructor_drops_small_hands_in_fast_mode_and_keeps_the_rest():
    small, big = (0.9, 32, 32, 0.08 * R), (0.5, 160, 160, 0.3 * R)
    assert _predict([small, big])[0] == [0.5, 0.9]  # default: no limit
    assert _predict([small, big], min_hand_side=0.12)[0] == [0.5]
    assert _predict([small, big], min_hand_side=0.05)[0] == [0.5, 0.9]
    with pytest.raises(ValueError, match=r"min_hand_side is a share of the network input's side"):
        Reconstructor(PeaksNet([]), [FlatHand(), FlatHand()], min_hand_side=0.8)


def test_the_limit_is_in_the_views_pixels_of_a_letterboxed_larger_image():
    net = PeaksNet([(0.9, 64, 64, 0.08 * R)])  # 0.08 of the input, whatever the image size
    rec = Reconstructor(net, [FlatHand(), FlatHand()], threshold=0.3, max_hands=4, min_hand_side=0.1)
    assert rec.predict(np.full((4 * R, 2 * R, 3), 90, np.uint8)) == []  # 4x larger image, same view share
    rec.min_hand_side = 0.07
    assert len(rec.predict(np.full((4 * R, 2 * R, 3), 90, np.uint8))) == 1


def test_the_calibration_takes_the_first_size_whose_detections_are_mostly_true_hands():
    from calibrate_large_hands import smallest_hand

    def bins(*counts):
        return [{"side_from": 0.02 * k, "true": t, "false": f} for k, (t, f) in enumerate(counts, start=2)]

    assert smallest_hand(bins((0, 1), (1, 3), (0, 2), (22, 4), (0, 5))) == 0.1  # 0.04-0.1 mostly false
    assert smallest_hand(bins((1, 1), (0, 3), (9, 1))) is None  # the smallest detections: half true
    assert smallest_hand(bins((0, 2), (0, 1))) is None  # no size is mostly true: no evidence for a limit
    assert smallest_hand([]) is None


def test_the_scenes_keep_the_held_out_limit_only_where_it_does_not_lower_their_f1():
    from calibrate_large_hands import checked_on_scenes

    from smhr.data.sample import HandLabel, Sample

    net = PeaksNet([(0.9, 32, 32, 0.08 * R), (0.5, 160, 160, 0.3 * R)])
    rec = Reconstructor(net, [FlatHand(), FlatHand()], threshold=0.3, max_hands=4, mirror=False)
    image = np.full((R, R, 3), 90, np.uint8)
    big, small = sorted(rec.predict(image), key=lambda h: h.score)

    def scene(hand):
        label = HandLabel(side=int(hand.side), keypoints2d=hand.keypoints2d, visibility=np.ones(21, bool))
        return Sample(image=image, hands=[label], K=np.eye(3, dtype=np.float32))

    kept, found = checked_on_scenes(rec, [scene(small)], 0.3, 0.12)  # the small detection is the true one
    assert kept is None and found["without"]["recall"] == 1.0 and found["with"]["recall"] == 0.0
    kept, found = checked_on_scenes(rec, [scene(big)], 0.3, 0.12)  # the small detection is false
    assert kept == 0.12 and (found["without"]["precision"], found["with"]["precision"]) == (0.5, 1.0)
    assert checked_on_scenes(rec, [], 0.3, 0.12) == (0.12, {})  # no scenes: the held-out choice
    assert checked_on_scenes(rec, [scene(big)], 0.3, None) == (None, {})
    assert rec.min_hand_side is None and rec.threshold == 0.3  # the reconstructor's own values restored
