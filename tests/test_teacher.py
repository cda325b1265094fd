"""The 2D teacher: pre/post-processing pieces on toy inputs, and parity with MediaPipe's own output
recorded on three real photos (tests/fixtures/teacher, ATTRIBUTION.md there)."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from smhr.io.images import read_rgb
from smhr.teacher.palm import PalmDetection, decode_palms, palm_anchors, remove_letterbox, weighted_nms
from smhr.teacher.rects import HandRect, letterbox_rect, palm_to_hand_rect, project_landmarks, rect_transform
from smhr.teacher.warp import BORDER_REPLICATE, BORDER_ZERO, warp_perspective_fixed

FIXTURES = Path(__file__).parent / "fixtures" / "teacher"


def test_anchor_grid_matches_the_palm_model_outputs():
    a = palm_anchors()
    assert a.shape == (2016, 2)  # 24x24x2 (stride 8) + 12x12x6 (three stride-16 layers)
    np.testing.assert_allclose(a[0], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[1], a[0])  # two anchors per stride-8 cell
    np.testing.assert_allclose(a[2], [1.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[1152], [0.5 / 12, 0.5 / 12])  # first stride-16 cell
    np.testing.assert_allclose(a[1152:1158], np.repeat(a[1152:1153], 6, 0))
    np.testing.assert_allclose(a[-1], [11.5 / 12, 11.5 / 12])


def test_decode_puts_boxes_and_keypoints_at_their_anchor_plus_offset():
    anchors = palm_anchors()
    reg = np.zeros((2016, 18), np.float32)
    logits = np.full(2016, -10.0, np.float32)
    reg[100] = [19.2, -9.6, 38.4, 19.2] + [0.0] * 14
    logits[100] = 2.0
    (d,) = decode_palms(reg, logits, anchors)
    assert d.score == pytest.approx(1 / (1 + math.exp(-2.0)))
    cx, cy = anchors[100] + [0.1, -0.05]
    np.testing.assert_allclose(d.box, [cx - 0.1, cy - 0.05, 0.2, 0.1], atol=1e-6)
    np.testing.assert_allclose(d.keypoints, np.repeat(anchors[100:101], 7, 0), atol=1e-6)
    logits[100] = 500.0  # clipped at 100 before the sigmoid: still a finite score of 1
    assert decode_palms(reg, logits, anchors)[0].score == pytest.approx(1.0)


def test_weighted_nms_averages_clusters_by_score_and_keeps_separate_palms():
    kp = np.zeros((7, 2), np.float32)
    a = PalmDetection(0.9, np.array([0.1, 0.1, 0.2, 0.2], np.float32), kp + 1)
    b = PalmDetection(0.6, np.array([0.12, 0.1, 0.2, 0.2], np.float32), kp + 2)
    c = PalmDetection(0.7, np.array([0.6, 0.6, 0.2, 0.2], np.float32), kp + 3)
    out = weighted_nms([b, c, a])
    assert [round(d.score, 3) for d in out] == [0.9, 0.7]
    np.testing.assert_allclose(out[0].box[0], (0.9 * 0.1 + 0.6 * 0.12) / 1.5, atol=1e-6)
    np.testing.assert_allclose(out[0].keypoints, kp + (0.9 * 1 + 0.6 * 2) / 1.5, atol=1e-6)
    np.testing.assert_allclose(out[1].box, c.box)


def test_letterbox_removal_inverts_the_padding():
    roi, pad = letterbox_rect((400, 200))
    assert (roi.width, roi.height) == (400, 400) and pad == (0.0, 0.25, 0.0, 0.25)
    d = PalmDetection(1.0, np.array([0.5, 0.5, 0.1, 0.1], np.float32), np.full((7, 2), 0.75, np.float32))
    out = remove_letterbox(d, pad)
    np.testing.assert_allclose(out.box, [0.5, 0.5, 0.1, 0.2], atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0], [0.75, 1.0], atol=1e-6)


def test_hand_rect_points_fingers_up_and_grows_the_palm():
    # wrist below the middle MCP: no rotation; square on the long side, x2.6, shifted half a palm up
    kp = np.zeros((7, 2), np.float32)
    kp[0], kp[2] = [0.5, 0.6], [0.5, 0.4]
    palm = PalmDetection(1.0, np.array([0.4, 0.4, 0.2, 0.2], np.float32), kp)
    r = palm_to_hand_rect(palm, (100, 100))
    assert r.rotation == pytest.approx(0.0, abs=1e-6)
    assert (r.cx, r.cy, r.width) == pytest.approx((50.0, 40.0, 52.0))
    kp[0], kp[2] = [0.6, 0.5], [0.4, 0.5]  # fingers to the left: rotation -90 degrees
    r = palm_to_hand_rect(PalmDetection(1.0, palm.box, kp), (100, 100))
    assert r.rotation == pytest.approx(-math.pi / 2)
    assert (r.cx, r.cy) == pytest.approx((40.0, 50.0))


def test_landmark_projection_inverts_the_crop_map():
    r = HandRect(120.0, 80.0, 60.0, 60.0, 0.7)
    M = rect_transform(r, 224)
    pts = np.array([[10.0, 20.0], [200.0, 37.0], [112.0, 112.0]])
    crop_pts = cv2.perspectiveTransform(pts[None], M)[0]
    back = project_landmarks(np.c_[crop_pts, np.zeros(3)], r, 224)[:, :2]
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_fixed_point_warp_copies_on_integer_shifts_and_stays_close_to_opencv():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    shift = np.array([[1, 0, -3], [0, 1, -5], [0, 0, 1]], np.float64)
    out = warp_perspective_fixed(img, shift, (30, 20), BORDER_ZERO)
    np.testing.assert_array_equal(out, img[5:25, 3:33])
    M = np.array([[0.7, 0.2, 3.3], [-0.1, 0.9, 1.7], [0.0, 0.0, 1.0]])
    ours = warp_perspective_fixed(img, M, (45, 35), BORDER_REPLICATE).astype(int)
    ref = cv2.warpPerspective(img, M, (45, 35), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(ours - ref.astype(int)).max() <= 4  # 1/32-px coordinate quantisation vs exact


def _recorded():
    return json.loads((FIXTURES / "mediapipe.json").read_text())["images"]


@pytest.fixture(scope="module")
def teacher():
    pytest.importorskip("onnxruntime")  # a third-party runtime (the `label` extra), not our code
    from smhr.teacher import HandTeacher

    return HandTeacher(max_hands=4)


@pytest.mark.parametrize("record", _recorded(), ids=lambda r: r["file"])
def test_parity_with_mediapipe_within_a_pixel_of_a_224px_crop(teacher, record):
    hands = teacher(read_rgb(FIXTURES / record["file"]))
    assert len(hands) == len(record["hands"])
    for ref in record["hands"]:
        kp = np.asarray(ref["keypoints"])
        h = min(hands, key=lambda h: np.abs(h.keypoints2d - kp).max())
        err_crop_px = np.linalg.norm(h.keypoints2d - kp, axis=1).max() * 224 / h.rect.width
        assert err_crop_px < 1.0
        # MediaPipe's "Left" assumes a mirrored image: on an ordinary photo it is a right hand
        assert h.side == (1 if ref["label"] == "Left" else 0)
        np.testing.assert_allclose(h.world, np.asarray(ref["world"]), atol=2e-3)


def test_mirroring_a_photo_swaps_every_hand_side(teacher):
    img = read_rgb(FIXTURES / "two_hands.jpg")
    sides = sorted(h.side for h in teacher(img))
    mirrored = teacher(np.ascontiguousarray(img[:, ::-1]))
    assert sorted(1 - h.side for h in mirrored) == sides == [0, 1]
