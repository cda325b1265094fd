"""Real-photo training data: ignore regions reach the focal loss, real hand crops with keypoint
silhouettes compose without a camera, hand-free backgrounds avoid hands, the mixture is
deterministic, and the one-to-one matcher / real-photo scorer count what they claim."""

import numpy as np
import pytest
import torch

from smhr.data.compose import ComposeConfig, ComposedHands
from smhr.data.real_crops import HandFreeBackgrounds, RealHandCrops, hand_silhouette
from smhr.data.sample import HandLabel, Sample
from smhr.data.targets import build_targets
from smhr.eval.matching import match_hands
from smhr.eval.real import Detection, RealScores, pck
from smhr.losses import focal_loss


def _hand(cx: float, cy: float, s: float, side: int = 1) -> HandLabel:
    """A plausible open hand of keypoint-box side ~s px centred near (cx, cy), fingers up."""
    kp = np.zeros((21, 2), np.float32)
    kp[0] = [cx, cy + 0.45 * s]
    for f in range(5):
        x = cx + (f - 2) * 0.18 * s
        for j in range(4):
            kp[1 + 4 * f + j] = [x, cy + 0.2 * s - j * 0.2 * s]
    return HandLabel(side=side, keypoints2d=kp, visibility=np.ones(21, bool))


def test_ignore_boxes_zero_the_heatmap_weight_except_on_labelled_hands():
    img = np.zeros((64, 64, 3), np.uint8)
    s = Sample(
        image=img, K=None, hands=[_hand(16, 16, 20)], ignore=np.array([[32, 32, 64, 64], [0, 0, 24, 24]])
    )
    t = build_targets(s, 64, max_hands=2)
    w = t["hm_weight"][0]
    assert w.shape == (16, 16) and w[8:, 8:].eq(0).all() and w[:8, 8:].eq(1).all()
    assert w[t["hm"][0] > 0].eq(1).all() and t["hm"][0].eq(1).sum() == 1  # the labelled hand keeps its peak
    logits = torch.full((1, 1, 16, 16), -3.0)
    base = focal_loss(logits, t["hm"][None], weight=t["hm_weight"][None])
    inside, outside = logits.clone(), logits.clone()
    inside[..., 12, 12] = 5.0  # a confident detection of the unlabelled hand: not punished
    outside[..., 12, 2] = 5.0  # the same in labelled background: punished
    assert focal_loss(inside, t["hm"][None], weight=t["hm_weight"][None]) == pytest.approx(float(base))
    assert focal_loss(outside, t["hm"][None], weight=t["hm_weight"][None]) > base + 1.0
    assert focal_loss(inside, t["hm"][None]) > base + 1.0  # without the weight it would be


def test_hand_silhouette_covers_bones_and_not_far_background():
    h = _hand(50, 50, 60)
    m = hand_silhouette(h.keypoints2d, (100, 100))
    kp = np.round(h.keypoints2d).astype(int)
    assert m[kp[:, 1], kp[:, 0]].all() and m[50, 50] == 1
    assert m[:5].sum() == 0 and m[:, :5].sum() == 0 and 0.1 < m.mean() < 0.5


class _FakeSet:
    """Two photos of 120x160 with one hand each and an ignore box: a stand-in LabelledSet."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.samples = [
            Sample(
                image=rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),
                K=None,
                hands=[_hand(40, 60, 40, side=i)],
                ignore=np.array([[120, 0, 160, 40]], np.float32),
                source="fake",
                id=f"{i}.jpg",
            )
            for i in range(2)
        ]

    def __len__(self):
        return 2

    def load(self, i):
        return self.samples[i].copy()


def test_real_crops_compose_without_a_camera_and_keep_2d_labels():
    crops = RealHandCrops([_FakeSet()], side=64)
    assert len(crops) == 2
    c = crops.load(0)
    assert c.image.shape == (64, 64, 3) and c.K is None and c.mask.max() == 1
    box = c.hands[0].keypoints2d.max(0) - c.hands[0].keypoints2d.min(0)
    assert max(box) == pytest.approx(64 / 1.4, rel=1e-3)
    ds = ComposedHands(crops, 4, ComposeConfig(out_size=96, min_hands=2, max_hands=2), seed=3)
    s = ds[0]
    assert s.image.shape == (96, 96, 3) and len(s.hands) == 2
    assert all(h.joints3d is None for h in s.hands)
    np.testing.assert_array_equal(ds[0].image, s.image)  # a pure function of (seed, index)
    t = build_targets(s, 96, max_hands=2)
    assert t["valid"].all() and not t["has_joints3d"].any() and not t["has_focal"].any()


def test_hand_free_backgrounds_stay_away_from_hands_and_ignore_boxes():
    fake = _FakeSet()
    bg = HandFreeBackgrounds([fake], margin=0.2, min_side=24, tries=200)
    assert len(bg) > 0
    kp = fake.samples[0].hands[0].keypoints2d
    side = float(max(kp.max(0) - kp.min(0)))
    blocked = [np.r_[kp.min(0) - 0.2 * side, kp.max(0) + 0.2 * side], np.array([116, -4, 164, 44])]
    for _, x0, y0, sq in bg.squares:
        for b in blocked:
            assert x0 + sq <= b[0] or b[2] <= x0 or y0 + sq <= b[1] or b[3] <= y0
    out = bg.sample(np.random.default_rng(0), 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_matching_is_one_to_one_and_counts_duplicates_and_ignored():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    pred = np.array(
        [[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 11], [50, 50, 60, 60], [80, 80, 90, 90]], float
    )
    scores = np.array([0.9, 0.95, 0.8, 0.7, 0.6])
    r = match_hands(pred, scores, gt, ignore_boxes=np.array([[78, 78, 95, 95]]))
    assert sorted(r.pairs) == [(1, 0), (2, 1)]  # the best-scoring prediction takes the first hand
    assert r.duplicates == [0] and r.false_positives == [3] and r.ignored == [4] and r.missed == []
    assert list(r.tp) == [False, True, True, False, False]


def test_real_scores_pck_handedness_and_recall():
    h = _hand(50, 50, 40, side=0)
    s = Sample(image=np.zeros((100, 100, 3), np.uint8), K=None, hands=[h, _hand(150, 50, 40)])
    off = h.keypoints2d.copy()
    off[[5, 9, 10, 11, 12], 0] += 10.0  # 5 inner keypoints 10 px off (> 0.2 x 34 px); same box
    sc = RealScores()
    sc.add(s, [Detection(off, 1, 0.9)])
    out = sc.summary()
    assert out["recall"] == 0.5 and out["precision"] == 1.0 and out["handedness_acc"] == 0.0
    assert out["pck0.2_matched"] == pytest.approx(16 / 21) and out["pck0.2_all"] == pytest.approx(16 / 42)
    assert pck(h.keypoints2d, h.keypoints2d, np.zeros(21, bool)) == (0, 0)


def test_correct_side_recall_counts_found_hands_with_the_labels_side_over_hands_of_known_side():
    """handedness_acc is a share of the matched hands; correct_side_recall divides the same
    correct sides by every labelled hand of known side, so finding one more hand never lowers it."""
    a, b, c = _hand(50, 50, 40, side=0), _hand(150, 50, 40, side=1), _hand(250, 50, 40, side=1)
    s = Sample(image=np.zeros((100, 300, 3), np.uint8), K=None, hands=[a, b, c])
    known = [True, True, False]
    one = RealScores()
    one.add(s, [Detection(a.keypoints2d, 0, 0.9)], side_known=known)
    two = RealScores()  # also finds the second hand, with the wrong side
    two.add(s, [Detection(a.keypoints2d, 0, 0.9), Detection(b.keypoints2d, 0, 0.8)], side_known=known)
    o1, o2 = one.summary(), two.summary()
    assert o1["handedness_acc"] == 1.0 and o2["handedness_acc"] == 0.5
    assert o1["correct_side_recall"] == o2["correct_side_recall"] == 0.5  # 1 of the 2 hands of known side


def test_keypoint_matching_scores_partly_labelled_hands():
    # a human label with only 6 visible keypoints: its visible-keypoint box is far smaller than the
    # predicted full hand; box matching compares the prediction's box of the same 6 keypoints, and
    # keypoint matching their distances: both keep the good prediction and refuse the far one
    h = _hand(50, 50, 40)
    vis = np.zeros(21, bool)
    vis[[0, 1, 2, 5, 9, 13]] = True
    partial = HandLabel(side=1, keypoints2d=h.keypoints2d, visibility=vis)
    s = Sample(image=np.zeros((100, 100, 3), np.uint8), K=None, hands=[partial])
    det = [Detection(h.keypoints2d + 1.0, 1, 0.9), Detection(h.keypoints2d + 60.0, 0, 0.8)]
    box, kps = RealScores(), RealScores(match="keypoints")
    box.add(s, det)
    kps.add(s, det)
    assert box.summary()["recall"] == 1.0 and box.summary()["false_positives"] == 1
    out = kps.summary()
    assert out["recall"] == 1.0 and out["false_positives"] == 1 and out["pck0.2_matched"] == 1.0
    with pytest.raises(ValueError, match="match"):
        RealScores(match="iou")


def test_real_scores_ap_ranks_hands_above_false_positives_and_skips_ignored():
    # two labelled hands; detections: hand A 0.9, a false hand 0.8, hand B 0.5, one in an ignore box
    a, b = _hand(50, 50, 40), _hand(150, 50, 40)
    s = Sample(image=np.zeros((100, 200, 3), np.uint8), K=None, hands=[a, b],
               ignore=np.array([[150, 150, 200, 200]], np.float32))
    false = _hand(60, 160, 20).keypoints2d
    inside = _hand(175, 175, 20).keypoints2d
    dets = [Detection(a.keypoints2d, 1, 0.9), Detection(false, 1, 0.8), Detection(b.keypoints2d, 1, 0.5),
            Detection(inside, 1, 0.95)]
    sc = RealScores()
    sc.add(s, dets)
    # precision 1 up to recall 0.5, then 2/3 up to recall 1 (the ignored 0.95 counts for nothing)
    assert sc.summary()["ap"] == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)
    ranked_well = RealScores()
    ranked_well.add(s, [dets[0], Detection(false, 1, 0.4), dets[2]])
    assert ranked_well.summary()["ap"] == pytest.approx(1.0)


def test_a_perfect_prediction_of_a_hand_cut_by_the_frame_matches_and_scores_every_keypoint():
    """The label marks the keypoints outside the image as not visible; the prediction places all 21
    (its whole hand's box is 2.5x the visible part's): compared on the same keypoints, it matches."""
    hand = _hand(90, 40, 100)  # fingers up to y = -30: the top part is outside the 100 x 100 image
    inside = (hand.keypoints2d >= 0).all(1) & (hand.keypoints2d <= 99).all(1)
    assert 6 <= inside.sum() <= 15
    label = HandLabel(side=1, keypoints2d=hand.keypoints2d, visibility=inside)
    s = Sample(image=np.zeros((100, 100, 3), np.uint8), K=None, hands=[label])
    sc = RealScores()
    res = sc.add(s, [Detection(hand.keypoints2d, 1, 0.9)])
    summary = sc.summary()
    assert res.pairs == [(0, 0)] and summary["recall"] == summary["precision"] == summary["pck0.2_all"] == 1.0
    # a prediction displaced by a whole visible part still does not match
    off = RealScores()
    off.add(s, [Detection(hand.keypoints2d + np.float32([0.0, 60.0]), 1, 0.9)])
    assert off.summary()["recall"] == 0.0


def test_matches_name_the_labels_index_in_the_sample_and_equal_scores_keep_detection_order():
    unseen = HandLabel(side=0, keypoints2d=np.zeros((21, 2), np.float32), visibility=np.zeros(21, bool))
    a = _hand(150, 50, 40)
    s = Sample(image=np.zeros((100, 200, 3), np.uint8), K=None, hands=[unseen, a])
    false = _hand(50, 50, 40).keypoints2d
    sc = RealScores()
    res = sc.add(s, [Detection(false, 1, 0.9), Detection(a.keypoints2d, 1, 0.9)])
    assert res.pairs == [(1, 1)] and res.false_positives == [0]  # label 1 of the sample, not 0
    # the false hand comes first at the same score: precision 1/2 at recall 1, not 1
    assert sc.summary()["ap"] == pytest.approx(0.5)
