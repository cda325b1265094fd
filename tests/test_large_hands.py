"""The large-hand threshold (`smhr.runtime.large_hands`): a hand spanning much of a whole view is
kept from a lower score unless it is a second peak of a kept hand; small low-scoring hands and every
hand at or above the threshold are kept exactly as before."""

import numpy as np
import pytest

from smhr.geometry.virtual_camera import DEPTH_OFFSET, VIRTUAL_FOCAL
from smhr.runtime.calibration import Calibration
from smhr.runtime.contract import STRIDE
from smhr.runtime.large_hands import LARGE_SIDE, admit_large, decode_threshold
from smhr.runtime.reconstructor import Reconstructor
from test_tiling import FlatHand, R

RIGHT_TRANSL = 61 + 58  # the right hand's (u, v, z) translation slots of a slot's 122 parameters


class PeaksNet:
    """Peaks-contract stub emitting the given peaks (score, centre x, centre y, keypoint-box side in
    network px: the flat stand-in hand's 4 cm at the depth that projects to it) for every input,
    best score first; records the thresholds it is run with."""

    backend, input_size, hand_model, max_hands = "stub", R, "flat", 4
    calibration = Calibration()

    def __init__(self, peaks):
        self.peaks = sorted(peaks, key=lambda p: -p[0])
        self.thresholds: list[float | None] = []

    def run(self, images, threshold=None):
        self.thresholds.append(threshold)
        B, S, W = len(images), self.max_hands, R // STRIDE
        out = {"scores": np.zeros((B, S), np.float32), "cells": np.zeros((B, S), np.int64),
               "params": np.zeros((B, S, 122), np.float32), "kp_offsets": np.zeros((B, S, 42), np.float32),
               "handedness": np.tile(np.float32([-1.0, 1.0]), (B, S, 1))}  # fmt: skip
        for k, (score, cx, cy, side_px, *_) in enumerate(self.peaks):  # (a 5th element: SidedPeaksNet)
            out["scores"][:, k] = score
            out["cells"][:, k] = int(cy // STRIDE) * W + int(cx // STRIDE)
            depth = VIRTUAL_FOCAL * 0.04 / side_px
            out["params"][:, k, RIGHT_TRANSL:RIGHT_TRANSL + 3] = [
                cx % STRIDE - STRIDE / 2, cy % STRIDE - STRIDE / 2, depth - DEPTH_OFFSET]
        return out


def _predict(peaks, mode="fast", **kw):
    net = PeaksNet(peaks)
    rec = Reconstructor(net, [FlatHand(), FlatHand()], threshold=0.3, max_hands=4, mode=mode, mirror=False,
                        **kw)
    hands = rec.predict(np.full((R, R, 3), 90, np.uint8))
    return sorted(round(float(h.score), 2) for h in hands), net


def _span(hand):
    kp = hand.keypoints2d
    return float((kp.max(0) - kp.min(0)).max())


def test_a_large_low_scoring_hand_is_kept_and_a_small_one_is_not():
    big = (0.2, 32, 32, 0.8 * R)
    found, net = _predict([big])
    assert found == [0.2] and net.thresholds == [0.1]  # the network is asked down to the lower score
    assert _predict([big], large_hand_threshold=None)[0] == []  # off: the plain threshold
    assert _predict([big], large_hand_threshold=0.25)[0] == []  # below the large-hand threshold too
    assert _predict([(0.2, 32, 32, 0.45 * R)])[0] == []  # a mid-sized hand under the threshold: not kept
    assert _predict([(0.2, 32, 32, 0.8 * R)], mode="photo")[0] == [0.2]  # the whole view of photo mode


def test_second_peaks_on_a_kept_hand_are_dropped_and_separate_large_hands_kept():
    # a large hand at 0.9 with a weaker large peak on its fingers: one hand
    assert _predict([(0.9, 32, 32, 0.8 * R), (0.2, 34, 28, 0.65 * R)])[0] == [0.9]
    # two large hands, both under the threshold, diagonal (their keypoint boxes barely touch): both
    assert _predict([(0.25, 20, 22, 0.62 * R), (0.2, 44, 50, 0.62 * R)])[0] == [0.2, 0.25]
    # the second of two overlapping low-scoring large peaks is a duplicate of the first
    assert _predict([(0.25, 28, 32, 0.7 * R), (0.2, 36, 32, 0.7 * R)])[0] == [0.25]
    # hands at or above the threshold: the large-hand rule leaves them alone; two same-side ones
    # drawn over the same pixels are one hand's two peaks (smhr.runtime.second_peaks, test_second_peaks)
    assert _predict([(0.9, 30, 32, 0.7 * R), (0.5, 34, 32, 0.7 * R)])[0] == [0.9]
    assert _predict([(0.9, 30, 32, 0.7 * R), (0.5, 34, 32, 0.7 * R)], large_hand_threshold=None)[0] == [0.9]


def test_the_rule_itself_and_its_options():
    class H:
        def __init__(self, score, x0, side):
            self.score = score
            self.keypoints2d = np.array([[x0, 0.0], [x0 + side, side]])

    view = (0, 0, 100, 50)  # long side 100: "large" from LARGE_SIDE * 100 px
    big, small = H(0.2, 0, LARGE_SIDE * 100), H(0.2, 0, LARGE_SIDE * 100 - 1)
    assert admit_large([big], 0.3, 0.15, view) == [big]
    assert admit_large([small], 0.3, 0.15, view) == []
    assert admit_large([big], 0.3, None, view) == [] and decode_threshold(0.3, None) == 0.3
    assert decode_threshold(0.05, 0.1) == 0.05  # a threshold under it: everything from the threshold
    with pytest.raises(ValueError, match="large_hand_threshold"):
        Reconstructor(PeaksNet([]), [FlatHand(), FlatHand()], large_hand_threshold=1.5)


def test_the_large_side_decides_what_counts_as_large():
    mid = (0.2, 32, 32, 0.45 * R)  # spans ~0.45 of the view: not large at the default 0.6
    assert _predict([mid])[0] == []
    assert _predict([mid], large_side=0.4)[0] == [0.2]
    with pytest.raises(ValueError, match="large_side"):
        Reconstructor(PeaksNet([]), [FlatHand(), FlatHand()], large_side=1.2)


def test_the_calibration_keeps_the_side_and_precision_of_the_rule_off():
    from calibrate_large_hands import choose

    def point(large, side, recall, src_side=0.9, stress_side=0.85, src_precision=0.86):
        return {"large_hand_threshold": large, "large_side": side, "sources_recall": 0.88,
                "sources_precision": src_precision, "sources_side": src_side, "stress_recall": recall,
                "stress_precision": 0.99, "stress_side": stress_side, "f1_sum": 1.8 + recall}  # fmt: skip

    off = point(1.0, 1.0, 0.6)
    wide = point(0.15, 0.3, 0.99, stress_side=0.80)  # most stress hands, but their side 5 points worse
    narrow = point(0.15, 0.6, 0.9, stress_side=0.845)  # within MAX_SIDE_LOSS (0.01)
    noisy = point(0.1, 0.6, 0.95, src_precision=0.84)  # 2 points of the sources' precision
    assert choose([wide, narrow, noisy], off) is narrow
    assert choose([wide, noisy], off) is off  # nothing passes: the rule stays off
    assert choose([narrow, point(0.1, 0.6, 0.92, src_side=0.85)], off) is narrow  # sources' side too


def test_calibration_sets_are_used_whole_and_must_be_never_trained_on(tmp_path):
    """`--calibration-sets`: every image of a never-trained-on set (both splits), not its held-out
    split; a set the weights trained on, or one not among --labels, is refused in one line."""
    from calibrate_large_hands import calibration_sources

    from smhr.data.labelled import write_labelled_set

    def labelled(name: str, role: str) -> str:
        records = [{"path": f"{i}.jpg", "sha256": "0" * 64, "width": 64, "height": 64,
                    "split": "test" if i < 2 else "train", "group": str(i), "hands": [], "ignore": [],
                    "source_boxes": None} for i in range(6)]  # fmt: skip
        meta = {"source": {"name": name, "repo": "", "commit": "", "licence": "", "url": ""}, "role": role,
                "image_root": str(tmp_path), "teacher": {}, "split": {}, "counts": {}}  # fmt: skip
        return str(write_labelled_set(tmp_path / name, meta, records))

    seen, unseen = labelled("seen", "train"), labelled("unseen", "train")
    held_out = calibration_sources([seen, unseen], {"seen"}, None)
    assert list(held_out) == ["seen"] and len(held_out["seen"][0]) == 2  # the held-out split only
    whole = calibration_sources([seen, unseen], {"seen"}, ["unseen"])
    assert list(whole) == ["unseen"] and len(whole["unseen"][0]) == 6 and whole["unseen"][1]["split"] == "all"
    with pytest.raises(SystemExit, match="--calibration-sets seen: these weights trained on it"):
        calibration_sources([seen, unseen], {"seen"}, ["seen"])
    with pytest.raises(SystemExit, match="--calibration-sets other: not among --labels"):
        calibration_sources([seen, unseen], {"seen"}, ["other"])


def test_each_calibration_point_is_a_run_at_its_own_values():
    """`calibrate_large_hands.run_at`: the Reconstructor runs with the point's threshold, large-hand
    threshold and side (what inference at those values decodes and checks), then gets its own back."""
    from types import SimpleNamespace

    from calibrate_large_hands import run_at

    class Recorder:
        threshold, large_hand_threshold, large_side = 0.3, 0.1, 0.6

        def __init__(self) -> None:
            self.seen: list[tuple] = []

        def predict(self, image):
            self.seen.append((self.threshold, self.large_hand_threshold, self.large_side))
            return []

    rec, samples = Recorder(), [SimpleNamespace(image=np.zeros((8, 8, 3), np.uint8))] * 2
    runs = run_at(rec, samples, 0.25, 0.15, 0.4)
    assert rec.seen == [(0.25, 0.15, 0.4)] * 2 and [hands for _, hands in runs] == [[], []]
    assert (rec.threshold, rec.large_hand_threshold, rec.large_side) == (0.3, 0.1, 0.6)


def test_with_scene_sets_the_calibration_takes_the_best_right_side_f1_that_scenes_allow():
    """`--scene-sets`: the point (the rule off included) of the largest right-side F1 sum among
    those adding at most MAX_SCENE_FALSE false hands per scene photo over the rule off; shares that
    fall as a rule finds harder hands no longer veto it."""
    from calibrate_large_hands import MAX_SCENE_FALSE, choose

    def point(large, side, found, scene_false, precision=0.75):
        return {"large_hand_threshold": large, "large_side": side, "sources_right_side": found,
                "sources_precision": precision, "stress_right_side": found, "stress_precision": 0.95,
                "scenes_false_per_photo": scene_false}  # fmt: skip

    off = point(1.0, 1.0, 0.45, 0.10, precision=0.78)
    stored = point(0.1, 0.6, 0.70, 0.10 + MAX_SCENE_FALSE / 2)  # finds more: its shares fall, it wins
    wide = point(0.15, 0.35, 0.77, 0.10 + 3 * MAX_SCENE_FALSE)  # more still, but false hands on scenes
    assert choose([stored, wide], off) is stored
    assert choose([wide], off) is off  # nothing the scenes allow: the rule stays off
    twin = point(0.15, 0.6, 0.70, 0.10)  # the same F1 as `stored`: the narrower rule (higher threshold)
    assert choose([stored, twin], off) is twin


def test_a_rule_stored_as_off_lets_the_hand_check_lower_every_hand():
    """Weights calibrated to "rule off" store a large-hand threshold of 1 (at or above the threshold):
    then no hand is read as large, so the hand check may lower any of them, as with None."""
    from types import SimpleNamespace

    def large_px(large):
        return Reconstructor._large_px(SimpleNamespace(threshold=0.3, large_hand_threshold=large,
                                                       large_side=0.6), 100.0)

    assert large_px(None) == large_px(1.0) == large_px(0.3) == np.inf
    assert large_px(0.1) == pytest.approx(60.0)
