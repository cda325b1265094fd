"""Teacher v2: tiles, pose-derived hand crops (parity with MediaPipe Holistic recorded on the
committed photos, tests/fixtures/teacher/holistic.json) and the merge with v1's hands."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from smhr.io.images import read_rgb
from smhr.teacher.palm import PalmDetection
from smhr.teacher.pose import (
    HAND_POINTS,
    hand_rect_from_pose,
    pose_detection_rect,
    recrop_rect,
    refine_from_heatmap,
    transform_rect,
)
from smhr.teacher.rects import HandRect, project_landmarks
from smhr.teacher.tiles import tile_rects

FIXTURES = Path(__file__).parent / "fixtures" / "teacher"


def test_tiles_cover_the_image_at_each_scale_and_skip_tiny_ones():
    tiles = tile_rects((800, 600), scales=(2, 3), overlap=1.5, min_side=160)
    sides = sorted({round(t.width) for t in tiles})
    assert sides == [400, 600]  # 1.5 x 800 / 3 and 1.5 x 800 / 2
    for side in sides:
        ts = [t for t in tiles if round(t.width) == side]
        xs = np.linspace(0, 800, 81)
        ys = np.linspace(0, 600, 61)
        covered = [
            any(abs(x - t.cx) <= side / 2 and abs(y - t.cy) <= side / 2 for t in ts) for x in xs for y in ys
        ]
        assert all(covered)
    assert len([t for t in tiles if round(t.width) == 600]) == 2 and len(tiles) == 8
    assert tile_rects((100, 100)) == []  # 60 px tiles would only upsample
    default = tile_rects((800, 600))  # teacher v2's tiling: 2 x 2 tiles of 0.6 x the long side
    assert len(default) == 4 and {round(t.width) for t in default} == {480}


def test_rect_transform_shifts_along_the_rotated_axis_and_squares():
    r = transform_rect(HandRect(100.0, 100.0, 40.0, 20.0, 0.0), 2.0, shift_y=-0.5)
    assert (r.cx, r.cy, r.width, r.height) == pytest.approx((100.0, 90.0, 80.0, 80.0))
    r = transform_rect(HandRect(100.0, 100.0, 20.0, 20.0, math.pi / 2), 1.0, shift_y=-0.5)
    assert (r.cx, r.cy) == pytest.approx((110.0, 100.0))  # rotated 90 deg: "up" is +x on screen


def test_person_and_hand_rects_follow_mediapipe_rules():
    kp = np.zeros((4, 2), np.float32)
    kp[0], kp[1] = [0.5, 0.5], [0.5, 0.25]  # hip centre, full-body point straight above
    d = PalmDetection(0.9, np.zeros(4, np.float32), kp)
    r = pose_detection_rect(d, (200, 400))
    assert (r.cx, r.cy, r.width, r.rotation) == pytest.approx((100.0, 200.0, 250.0, 0.0))  # 2 x 100 px x 1.25
    # wrist below, index and pinky above: middle finger at (2 index + pinky) / 3, fingers up
    hr = hand_rect_from_pose(np.array([50.0, 100.0]), np.array([44.0, 70.0]), np.array([53.0, 70.0]))
    assert hr.rotation == pytest.approx(0.0, abs=1e-9)
    assert hr.width == pytest.approx(2 * 30 * 2.7) and (hr.cx, hr.cy) == pytest.approx((50.0, 70 - 0.1 * 60))
    rr = recrop_rect(np.array([[60.0, 60.0], [60.0, 80.0]]))  # scale point below the centre: upright
    assert rr.rotation == pytest.approx(0.0, abs=1e-9) and rr.width == pytest.approx(40.0)
    assert (rr.cx, rr.cy) == pytest.approx((60.0, 56.0))  # 0.1 of the side towards the fingers


def test_heatmap_refinement_moves_to_the_confident_peak_only():
    hm = np.full((64, 64, 3), -10.0, np.float32)
    hm[20, 30, 0] = 10.0  # a sharp, confident peak near landmark 0
    hm[40, 40, 1] = -0.5  # landmark 1: peak below 0.5 after the sigmoid
    xy = np.array([[31.5 / 64, 21.2 / 64], [40 / 64, 40 / 64], [1.5, 0.5]])
    out = refine_from_heatmap(xy, hm)
    assert out[0] == pytest.approx([30 / 64, 20 / 64], abs=2e-3)
    np.testing.assert_allclose(out[1:], xy[1:])  # unconfident, and outside the heatmap: unchanged


def _holistic():
    return {r["file"]: r for r in json.loads((FIXTURES / "holistic.json").read_text())["images"]}


@pytest.fixture(scope="module")
def teacher():
    pytest.importorskip("onnxruntime")  # a third-party runtime (the `label` extra), not our code
    from smhr.teacher import HandTeacherV2

    return HandTeacherV2()


def test_pose_landmarks_match_mediapipe_holistic(teacher):
    for name, ref in _holistic().items():
        people, _ = teacher.pose(read_rgb(FIXTURES / name))
        if ref["pose"] is None:
            assert people == []
            continue
        vis = np.asarray(ref["pose_visibility"]) > 0.5
        err = np.linalg.norm(people[0].landmarks - np.asarray(ref["pose"]), axis=1)[vis]
        assert err.mean() < 2.0  # px of a 320x240 photo; measured 0.6-1.5 (docs/real-photos.md)


def test_hands_from_pose_landmarks_match_mediapipe_holistic(teacher):
    """Given Holistic's own pose landmarks, our wrist -> re-crop -> hand landmark steps reproduce
    Holistic's hand landmarks within half a pixel of the 224-px crop."""
    from smhr.teacher.model import LANDMARK_INPUT

    checked = 0
    for name, ref in _holistic().items():
        if ref["pose"] is None:
            continue
        img, pose = read_rgb(FIXTURES / name), np.asarray(ref["pose"])
        for side, (w, pinky, index) in HAND_POINTS.items():
            if ref[f"{side}_hand"] is None:
                continue
            rect = teacher.pose.recrop(img, hand_rect_from_pose(pose[w], pose[pinky], pose[index]))
            out = teacher.v1.landmarks_in(img, rect)
            pts = project_landmarks(out["landmarks"], rect, LANDMARK_INPUT)[:, :2]
            err = (
                np.linalg.norm(pts - np.asarray(ref[f"{side}_hand"]), axis=1).max()
                * LANDMARK_INPUT
                / rect.width
            )
            assert out["presence"] >= 0.5 and err < 0.5
            checked += 1
    assert checked == 3


def test_v2_keeps_v1_hands_and_finds_the_small_hand_v1_misses(teacher):
    img = read_rgb(FIXTURES / "two_hands.jpg")
    H, W = img.shape[:2]
    canvas = np.full((2 * H, 2 * W, 3), 90, np.uint8)  # the photo in a room twice its size
    canvas[H // 2 : H // 2 + H, W // 3 : W // 3 + W] = img
    v1 = teacher.v1(canvas)
    v2 = teacher(canvas)
    assert len(v1) == 1 and len(v2) == 2  # v1 misses one of the two (now smaller) hands
    np.testing.assert_array_equal(v2[0].keypoints2d, v1[0].keypoints2d)  # v1's hand, unchanged, first
    extra = v2[1]
    assert extra.origin in ("tile", "pose") and extra.flip_err is not None and extra.flip_err <= 0.05
    assert sorted(h.side for h in v2) == [0, 1]
    # the extra hand is the other hand of the photo: close to v1's labels of the uncut photo
    ref = min(teacher.v1(img), key=lambda h: h.side != extra.side)
    shift = np.array([W // 3, H // 2], np.float32)
    assert np.linalg.norm(extra.keypoints2d - (ref.keypoints2d + shift), axis=1).mean() < 4.0


def test_v2_lists_each_hand_once_on_the_committed_photos(teacher):
    for name in ("left_hand.jpg", "right_hand.jpg", "two_hands.jpg"):
        img = read_rgb(FIXTURES / name)
        hands = teacher(img)
        v1 = teacher.v1(img)
        assert [h.origin for h in hands[: len(v1)]] == ["palm"] * len(v1)
        centres = np.array([h.keypoints2d.mean(0) for h in hands])
        for i in range(len(hands)):
            for j in range(i):
                assert np.linalg.norm(centres[i] - centres[j]) > 10.0


def test_teacher_versions_and_their_model_files():
    from smhr.teacher import make_teacher, model_files

    assert [p.name for p in model_files("v1")] == ["palm_detection_full.onnx", "hand_landmark_full.onnx"]
    v2 = model_files("v2")
    assert len(v2) == 5 and all(p.is_file() for p in v2)
    with pytest.raises(ValueError, match="v3"):
        make_teacher("v3")


def _fixed_point_reference(img: np.ndarray, M: np.ndarray, size: int, replicate: bool) -> np.ndarray:
    """OpenCV 3/4's uint8 bilinear warp written out: 1/32-px coordinates, integer weights / 2^15."""
    f = np.arange(32) / 32
    w1 = np.stack([1 - f, f], -1)
    tab = np.rint((w1[:, None, :, None] * w1[None, :, None, :]).reshape(32, 32, 4).astype(np.float32) * 32768)
    tab = tab.astype(np.int64)
    diff = tab.sum(-1) - 32768
    at = np.where(diff[..., None] < 0, tab.argmax(-1)[..., None], tab.argmin(-1)[..., None])
    np.put_along_axis(tab, at, np.take_along_axis(tab, at, -1) - diff[..., None], -1)
    Minv = np.linalg.inv(M)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    p = Minv @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    X = np.rint(p[0] * 32 / p[2]).astype(np.int64).reshape(size, size)
    Y = np.rint(p[1] * 32 / p[2]).astype(np.int64).reshape(size, size)
    H, W = img.shape[:2]
    acc = np.zeros((size, size, 3), np.int64)
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        yy, xx = (Y >> 5) + dy, (X >> 5) + dx
        v = img[yy.clip(0, H - 1), xx.clip(0, W - 1)].astype(np.int64)
        if not replicate:
            v *= ((yy >= 0) & (yy < H) & (xx >= 0) & (xx < W))[..., None]
        acc += v * tab[Y & 31, X & 31][..., k : k + 1]
    return ((acc + (1 << 14)) >> 15).clip(0, 255).astype(np.uint8)


def test_fixed_point_warp_is_bit_identical_to_the_written_out_rule():
    from smhr.teacher.rects import rect_transform
    from smhr.teacher.warp import BORDER_REPLICATE, BORDER_ZERO, warp_perspective_fixed

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    for cx, cy, side, rot in ((45, 35, 60, 0.3), (5, 60, 80, -2.0), (80, 10, 25, 1.1)):
        M = rect_transform(HandRect(cx, cy, side, side, rot), 48)
        for border, rep in ((BORDER_ZERO, False), (BORDER_REPLICATE, True)):
            ours = warp_perspective_fixed(img, M, (48, 48), border)
            np.testing.assert_array_equal(ours, _fixed_point_reference(img, M, 48, rep))
