"""Second peaks (`smhr.runtime.second_peaks`): a hand the network reports twice in one view is kept
once (the better score); overlapping hands of different sides, and separate hands, stay."""

import numpy as np

from smhr.runtime.reconstructor import Reconstructor
from smhr.runtime.second_peaks import SECOND_PEAK_CONTAINED, SECOND_PEAK_IOU, drop_second_peaks
from test_large_hands import RIGHT_TRANSL, PeaksNet
from test_tiling import FlatHand, R

LEFT_TRANSL = 58  # the left hand's (u, v, z) translation slots


class H:
    """A square hand of side w at (x0, y0)."""

    def __init__(self, score: float, side: int, x0: float, y0: float, w: float) -> None:
        self.score, self.side = score, side
        self.keypoints2d = np.array([[x0, y0], [x0 + w, y0 + w]])


def test_the_rule_keeps_the_better_copy_of_one_hand_and_everything_else():
    best, twin = H(0.9, 1, 0, 0, 100), H(0.5, 1, 10, 0, 100)  # IoU 0.82: one hand
    other_side = H(0.6, 0, 10, 0, 100)  # the same pixels, the other side: hands in contact
    apart = H(0.4, 1, 150, 0, 100)
    assert drop_second_peaks([twin, other_side, apart, best]) == [best, other_side, apart]
    assert drop_second_peaks([]) == [] and drop_second_peaks([twin]) == [twin]
    # a finger-sized copy inside the hand (contained 1.0, IoU 0.09) is a second peak too
    inner = H(0.7, 1, 20, 20, 30)
    assert drop_second_peaks([best, inner]) == [best]
    # the limits: IoU just under SECOND_PEAK_IOU and containment under SECOND_PEAK_CONTAINED stay two
    shift = 100 * (1 - SECOND_PEAK_IOU) / (1 + SECOND_PEAK_IOU) + 1  # IoU = (100-s)/(100+s) < limit
    assert len(drop_second_peaks([best, H(0.5, 1, shift, 0, 100)])) == 2
    half_out = H(0.5, 1, 100 - 40 * SECOND_PEAK_CONTAINED + 1, 0, 40)  # < CONTAINED of it inside
    assert len(drop_second_peaks([best, half_out])) == 2
    assert drop_second_peaks([best, H(0.5, 1, shift, 0, 100)], iou=0.3) == [best]


class SidedPeaksNet(PeaksNet):
    """PeaksNet whose peaks may carry a 5th element: the side (0 left, 1 right; default right)."""

    def run(self, images, threshold=None):
        out = super().run(images, threshold)
        for k, peak in enumerate(self.peaks):
            if len(peak) > 4 and peak[4] == 0:
                out["handedness"][:, k] = [1.0, -1.0]
                uvz = out["params"][:, k, RIGHT_TRANSL:RIGHT_TRANSL + 3]
                out["params"][:, k, LEFT_TRANSL:LEFT_TRANSL + 3] = uvz
        return out


def _found(peaks, mode="fast"):
    rec = Reconstructor(SidedPeaksNet(peaks), [FlatHand(), FlatHand()], threshold=0.3, max_hands=4,
                        mode=mode, mirror=False)
    hands = rec.predict(np.full((R, R, 3), 90, np.uint8))
    return sorted((round(float(h.score), 2), int(h.side)) for h in hands)


def test_the_reconstructor_drops_a_second_peak_in_every_mode():
    twin = [(0.9, 30, 32, 0.5 * R), (0.5, 33, 32, 0.5 * R)]
    assert _found(twin) == [(0.9, 1)]
    assert _found(twin, mode="photo") == [(0.9, 1)]
    assert _found([*twin[:1], (0.5, 33, 32, 0.5 * R, 0)]) == [(0.5, 0), (0.9, 1)]  # a left and a right
    assert _found([(0.9, 16, 16, 0.3 * R), (0.5, 48, 48, 0.3 * R)]) == [(0.5, 1), (0.9, 1)]  # apart
