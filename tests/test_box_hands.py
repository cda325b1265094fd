"""Box-level hands (teacher v2's hands too small for the landmark model): the body-placed template,
when one is made, how it is written and read back, and how training targets, crops, backgrounds and
the real-photo scorer treat it (a centre and a side, never keypoints)."""

import gzip
import json
from types import SimpleNamespace

import numpy as np
import pytest

from smhr.data.labelled import LabelledSet, write_labelled_set
from smhr.data.real_crops import HandFreeBackgrounds, RealHandCrops
from smhr.data.sample import HandLabel, Sample
from smhr.data.targets import build_targets
from smhr.eval.real import Detection, RealScores
from smhr.label.writer import hand_record
from smhr.teacher.boxhand import box_hand, template_keypoints
from smhr.teacher.model import TeacherHand
from smhr.teacher.pose import PoseHandRegion
from smhr.teacher.rects import HandRect
from smhr.teacher.v2 import HandTeacherV2


def _region(wrist, pinky, index, side="right", vis=0.95) -> PoseHandRegion:
    pts = np.array([wrist, pinky, index, index], np.float64)
    return PoseHandRegion(HandRect(*wrist, 40.0, 40.0), side, vis, 0, pts, np.full(4, vis))


def _kp_hand(cx: float, cy: float, s: float, side: int = 1) -> HandLabel:
    kp = np.stack([np.linspace(cx - s / 2, cx + s / 2, 21), np.linspace(cy - s / 2, cy + s / 2, 21)], 1)
    return HandLabel(side=side, keypoints2d=kp, visibility=np.ones(21, bool))


def test_template_follows_the_body_points_and_mirrors_with_the_index_side():
    a = template_keypoints([100, 100], [95, 90], [105, 90])  # fingers up, index to the right
    assert np.allclose(a[0], [100, 100], atol=1.0)  # keypoint 0 at the wrist
    assert a[8, 1] < a[5, 1] < a[0, 1] and a[8, 0] > a[20, 0]  # tips beyond MCPs; index right of pinky
    b = template_keypoints([100, 100], [105, 90], [95, 90])  # the mirror image: index to the left
    assert np.allclose(b[:, 0], 200 - a[:, 0], atol=1e-6) and np.allclose(b[:, 1], a[:, 1])
    c = template_keypoints([0, 0], [-10, -20], [10, -20])  # twice the scale, same direction
    np.testing.assert_allclose(c, (a - [100, 100]) * 2, atol=1e-6)


def test_box_hand_needs_visible_body_points_a_small_size_and_takes_the_arms_side():
    h = box_hand(_region([100, 100], [95, 90], [105, 90], side="left"), 0.01, (200, 200))
    assert h is not None and h.level == "box" and h.origin == "pose-box" and h.side == 0
    assert 12 <= max(h.box[2:] - h.box[:2]) <= 40 and h.presence == 0.01
    assert h.palm_score == pytest.approx(0.95)
    assert box_hand(_region([100, 100], [95, 90], [105, 90], side="right"), 0.0, (200, 200)).side == 1
    assert box_hand(_region([100, 100], [95, 90], [105, 90], vis=0.5), 0.0, (200, 200)) is None  # not visible
    assert box_hand(_region([100, 100], [80, 60], [120, 60]), 0.0, (200, 200)) is None  # too big
    assert box_hand(_region([100, 100], [99, 98], [101, 98]), 0.0, (200, 200)) is None  # too small to place
    assert box_hand(_region([100, 300], [95, 290], [105, 290]), 0.0, (200, 200)) is None  # off the image


def test_box_hands_never_repeat_a_kept_hand():
    near = _region([100, 100], [95, 90], [105, 90])
    far = _region([30, 150], [25, 140], [35, 140])
    kp = template_keypoints([100, 100], [95, 90], [105, 90])
    kept = TeacherHand(kp, np.zeros(21), np.zeros((21, 3)), 0.9, 1.0, 0.9, np.zeros(4), HandRect(0, 0, 1, 1))
    t = SimpleNamespace(box_max_side=40.0, box_min_visibility=0.8, dup_iou=0.3)
    out = HandTeacherV2.box_hands(t, [(near, 0.0), (far, 0.0), (far, 0.0)], [kept], (200, 200))
    assert len(out) == 1 and np.allclose(out[0].keypoints2d[0], [30, 150], atol=1.5)
    t.box_max_side = 0.0  # switched off
    assert HandTeacherV2.box_hands(t, [(far, 0.0)], [], (200, 200)) == []


def _labelled(tmp_path):
    box = box_hand(_region([100, 100], [95, 90], [105, 90], side="left"), 0.01, (160, 120))
    kp = TeacherHand(
        _kp_hand(40, 60, 40).keypoints2d, np.zeros(21), np.zeros((21, 3)), 0.9, 0.9, 0.9, np.zeros(4),
        HandRect(40, 60, 80, 80),
    )
    rec_box, rec_kp = hand_record(box), hand_record(kp)
    assert rec_box["level"] == "box" and "world" not in rec_box and "depth" not in rec_box
    assert "level" not in rec_kp and "world" in rec_kp  # keypoint-level records are as before
    rng = np.random.default_rng(0)
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    record = {"path": "a.png", "sha256": "0", "width": 160, "height": 120, "split": "train", "group": "a",
              "hands": [rec_kp, rec_box], "ignore": [], "source_boxes": None}
    meta = {"source": {"name": "t"}, "image_root": str(tmp_path), "teacher": {"version": "v2"}}
    write_labelled_set(tmp_path / "labels", meta, [record])
    with gzip.open(tmp_path / "labels" / "labels.jsonl.gz", "rt") as f:
        assert json.loads(f.readline())["hands"][1]["origin"] == "pose-box"
    return LabelledSet(tmp_path / "labels"), box


def test_box_level_labels_give_centre_and_side_targets_only(tmp_path):
    ds, box = _labelled(tmp_path)
    s = ds[0]
    h = s.hands[1]
    assert not h.visibility.any() and np.allclose(h.bbox, box.box, atol=0.01) and h.side == 0
    assert (s.mask == 2).sum() == 0 and (s.mask == 1).sum() > 0  # no silhouette drawn from the template
    t = build_targets(s, (120, 160), max_hands=4)
    assert t["valid"][:2].all() and t["side"][1] == 0
    np.testing.assert_allclose(t["center"][1].numpy(), (box.box[:2] + box.box[2:]) / 2, atol=0.01)
    assert not t["visibility"][1].any() and t["handmap"][0].max() == 1.0  # a left-hand peak, no keypoints
    assert not t["has_joints3d"][1] and (t["instance_mask"] == 2).sum() == 0
    assert len(RealHandCrops([ds], side=64)) == 1  # the box-level hand is not cut out to be composed
    bg = HandFreeBackgrounds([ds], margin=0.2, min_side=16, tries=300)
    x1, y1, x2, y2 = box.box
    for _, x0, y0, sq in bg.squares:  # no background square overlaps the box-level hand
        assert x0 + sq <= x1 or x2 <= x0 or y0 + sq <= y1 or y2 <= y0


def test_real_scores_find_box_level_hands_by_centre_and_leave_them_out_of_pck():
    kp_hand = _kp_hand(50, 50, 40)
    boxed = HandLabel(side=0, keypoints2d=np.zeros((21, 2)), visibility=np.zeros(21, bool),
                      bbox=np.array([150, 40, 170, 60], np.float32))
    s = Sample(image=np.zeros((100, 200, 3), np.uint8), K=None, hands=[kp_hand, boxed])
    far = kp_hand.keypoints2d + np.array([110, 0])  # a detection whose box centre (160, 50) is in the box
    sc = RealScores()
    sc.add(s, [Detection(kp_hand.keypoints2d, 1, 0.9), Detection(far, 0, 0.8)])
    out = sc.summary()
    assert out["hands"] == 2 and out["recall"] == 1.0 and out["precision"] == 1.0
    assert out["box_hands"] == 1 and out["recall_box_hands"] == 1.0 and out["recall_keypoint_hands"] == 1.0
    assert out["pck0.2_matched"] == 1.0 and out["pck0.2_all"] == 1.0 and out["handedness_acc"] == 1.0
    missed = RealScores()
    missed.add(s, [Detection(kp_hand.keypoints2d, 1, 0.9), Detection(far + np.array([60, 0]), 0, 0.8)])
    assert missed.summary()["recall_box_hands"] == 0.0 and missed.summary()["false_positives"] == 1
    # a box-level detection (the teacher's) is found by its box against human keypoint labels,
    # never scored for keypoints; matching stays one-to-one in score order
    k = RealScores(match="keypoints")
    hb = np.array([40, 40, 60, 60], float)
    k.add(s, [Detection(np.zeros((21, 2)), 1, 0.9, level="box", box=hb)])
    assert k.summary()["recall_keypoint_hands"] == 1.0 and np.isnan(k.summary()["pck0.2_matched"])
    both = RealScores(match="keypoints")
    both.add(s, [Detection(np.zeros((21, 2)), 1, 0.9, level="box", box=hb),
                 Detection(kp_hand.keypoints2d, 1, 0.5)])
    assert np.isnan(both.summary()["pck0.2_matched"]) and both.summary()["duplicates"] == 1


def test_dataset_protocol_finds_box_level_labels_by_centre():
    from smhr.eval.protocols import Tally, score_image, summarise

    boxed = HandLabel(side=0, keypoints2d=np.zeros((21, 2)), visibility=np.zeros(21, bool),
                      bbox=np.array([150, 40, 170, 60], np.float32))
    s = Sample(image=np.zeros((100, 200, 3), np.uint8), K=None, hands=[boxed])
    pred = SimpleNamespace(side=0, score=0.9, keypoints2d=_kp_hand(160, 50, 30).keypoints2d, joints3d=None)
    off = SimpleNamespace(side=0, score=0.9, keypoints2d=_kp_hand(60, 50, 30).keypoints2d, joints3d=None)
    hit, miss = Tally(), Tally()
    score_image(hit, [pred], s)
    score_image(miss, [off], s)
    out = summarise(hit, "multihand")
    assert out["recall"] == 1.0 and summarise(miss, "multihand")["recall"] == 0.0
    assert out["kp2d_error_px"] is None or np.isnan(out["kp2d_error_px"])  # no keypoints to score


def test_v2_turns_a_rejected_small_pose_crop_into_a_box_level_hand(monkeypatch):
    pytest.importorskip("onnxruntime")
    from smhr.data.sheet import sample_sheet

    t = HandTeacherV2()
    region = _region([100, 100], [95, 90], [105, 90], side="left")
    rect = HandRect(100, 95, 60, 60)
    monkeypatch.setattr(t, "candidates", lambda image: [(rect, "pose", 0.95, np.zeros(4), region)])
    image = np.full((200, 200, 3), 128, np.uint8)  # no hand: the landmark model rejects the crop
    hands = t(image)
    assert len(hands) == 1 and hands[0].level == "box" and hands[0].side == 0
    assert hands[0].presence < 0.5 and t.settings() == {"box_max_side": 40.0, "box_min_visibility": 0.8}
    box = hands[0].box
    boxed = HandLabel(side=0, keypoints2d=hands[0].keypoints2d, visibility=np.zeros(21, bool), bbox=box)
    sheet = sample_sheet([Sample(image=image, K=None, hands=[boxed])], cols=1)
    x1, y1, x2, y2 = box.round().astype(int)
    assert (sheet[y1, x1 + 2 : x2 - 2] != 128).any(axis=-1).all()  # the box is drawn ...
    assert (sheet[y1 + 2 : y2 - 1, x1 + 2 : x2 - 1] == 128).all()  # ... and no template skeleton in it
