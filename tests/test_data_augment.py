"""Augmentation keeps image, mask, keypoints, 3D and K consistent."""

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from smhr.data.augment import (
    AugmentConfig,
    augment,
    color_jitter,
    crop_affine,
    flip_horizontal,
    letterbox,
    warp,
)
from smhr.data.sample import LEFT, RIGHT, HandLabel, HandParams, Sample
from smhr.geometry.cameras import project


def _project(X, K):
    return project(torch.from_numpy(X.astype(np.float64)), torch.from_numpy(K.astype(np.float64))).numpy()


def _sample(rng, fx=60.0, fy=55.0, skew=0.0):
    """80x64 image, non-square pixels on purpose, two hands with 3D, vertices and a disc mask each."""
    K = np.array([[fx, skew, 38.0], [0.0, fy, 30.0], [0.0, 0.0, 1.0]], np.float32)
    hands, mask = [], np.zeros((64, 80), np.uint8)
    yy, xx = np.mgrid[0:64, 0:80]
    for k, (side, off) in enumerate([(RIGHT, -0.12), (LEFT, 0.12)]):
        j = rng.uniform(-0.03, 0.03, (21, 3)) + np.array([off, 0.0, 0.6])
        v = rng.uniform(-0.03, 0.03, (50, 3)) + np.array([off, 0.0, 0.6])
        kp = _project(j, K)
        c = kp.mean(0)
        mask[(xx - c[0]) ** 2 + (yy - c[1]) ** 2 <= 4.0**2] = k + 1
        params = HandParams(rng.normal(size=3) * 0.5, rng.normal(size=45) * 0.1, np.zeros(10), np.zeros(3))
        hands.append(HandLabel(side, kp, np.ones(21, bool), joints3d=j, vertices=v, params=params))
    image = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    return Sample(image=image, K=K, hands=hands, mask=mask, source="test", id="0")


def _reprojection_error(s):
    return max(float(np.abs(_project(h.joints3d, s.K) - h.keypoints2d).max()) for h in s.hands)


def test_projection_consistent_after_random_augmentations():
    rng = np.random.default_rng(0)
    cfg = AugmentConfig(out_size=48, rotation_deg=180.0, translate=0.1, flip_prob=0.5, color_prob=0.5)
    worst = 0.0
    for trial in range(50):
        s = _sample(rng, skew=2.0 if trial % 2 else 0.0)
        a = augment(s, rng, cfg)
        assert a.image.shape == (48, 48, 3) and a.mask.shape == (48, 48)
        worst = max(worst, _reprojection_error(a))
        assert abs(a.K[1, 0]) < 1e-9 and np.allclose(a.K[2], [0, 0, 1])  # still a pinhole K
        # vertices move rigidly with the joints (same 3D rotation / mirror)
        for h0, h1 in zip(s.hands, a.hands, strict=True):
            d0 = np.linalg.norm(h0.vertices[:, None] - h0.joints3d[None], axis=-1)
            d1 = np.linalg.norm(h1.vertices[:, None] - h1.joints3d[None], axis=-1)
            np.testing.assert_allclose(d1, d0, atol=1e-6)
    assert worst < 1e-3


def test_similarity_with_square_pixels_is_rotation_about_optical_axis():
    rng = np.random.default_rng(1)
    s = _sample(rng, fx=60.0, fy=60.0)
    A = crop_affine((40.0, 30.0), 40.0, 30.0, 80)  # scale 2, rotate 30 deg
    w = warp(s, A, (80, 80))
    assert w.K[0, 0] == pytest.approx(120.0, abs=1e-3) and w.K[1, 1] == pytest.approx(120.0, abs=1e-3)
    assert abs(w.K[0, 1]) < 1e-3
    Rz = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    np.testing.assert_allclose(w.hands[0].joints3d, s.hands[0].joints3d @ Rz.T, atol=1e-6)
    R_new = Rotation.from_rotvec(w.hands[0].params.global_orient).as_matrix()
    R_old = Rotation.from_rotvec(s.hands[0].params.global_orient).as_matrix()
    np.testing.assert_allclose(R_new, Rz @ R_old, atol=1e-5)
    assert w.hands[0].params.transl is None  # cannot be re-expressed under rotation without the model


def test_a_mirroring_warp_is_refused():
    s = _sample(np.random.default_rng(5))
    with pytest.raises(ValueError, match="det > 0"):
        warp(s, np.array([[-1.0, 0.0, 79.0], [0.0, 1.0, 0.0]]), (80, 64))


@pytest.mark.parametrize("rotation", [0.0, 90.0])
def test_crop_affine_moves_a_bright_pixel_where_its_point_goes(rotation):
    """Pixel centres at integers, as cv2.warpAffine: image and keypoints move together exactly."""
    img = np.zeros((40, 50), np.float32)
    img[12, 17] = 1.0  # (u, v) = (17, 12)
    # scale 2, integer centre and odd output: the pixel lands on an integer destination
    A = crop_affine((20.0, 15.0), 30.5, rotation, 61)
    dst = A[:, :2] @ np.array([17.0, 12.0]) + A[:, 2]
    assert np.allclose(dst, np.round(dst))
    out = cv2.warpAffine(img, A, (61, 61), flags=cv2.INTER_LINEAR)
    v, u = np.unravel_index(np.argmax(out), out.shape)
    assert (u, v) == (round(dst[0]), round(dst[1])) and out[v, u] == pytest.approx(1.0)
    if rotation == 90.0:  # right of the centre goes below it (clockwise on screen)
        assert np.allclose(A[:, :2] @ np.array([21.0, 15.0]) + A[:, 2], [30.0, 32.0])


def test_flip_swaps_side_and_mirrors_geometry():
    rng = np.random.default_rng(2)
    s = _sample(rng, skew=1.5)
    f = flip_horizontal(s)
    assert [h.side for h in f.hands] == [LEFT, RIGHT]
    np.testing.assert_allclose(f.hands[0].keypoints2d[:, 0], 79 - s.hands[0].keypoints2d[:, 0], atol=1e-5)
    assert f.K[0, 2] == pytest.approx(79 - 38.0) and f.K[0, 1] == pytest.approx(-1.5)
    assert _reprojection_error(f) < 1e-3
    np.testing.assert_array_equal(f.image[:, 0], s.image[:, 79])
    np.testing.assert_array_equal(f.mask, s.mask[:, ::-1])
    go = s.hands[0].params.global_orient
    np.testing.assert_allclose(f.hands[0].params.global_orient, [go[0], -go[1], -go[2]], atol=1e-7)
    ff = flip_horizontal(f)  # twice = identity
    np.testing.assert_allclose(ff.hands[0].joints3d, s.hands[0].joints3d, atol=1e-7)
    np.testing.assert_allclose(ff.K, s.K, atol=1e-6)
    assert ff.hands[0].side == RIGHT


def test_masks_move_with_the_image():
    rng = np.random.default_rng(3)
    cfg = AugmentConfig(out_size=64, hand_fraction=(0.4, 0.6), rotation_deg=90.0, translate=0.02,
                        flip_prob=0.5, color_prob=0.0)
    checked = 0
    for _ in range(20):
        s = _sample(rng)
        a = augment(s, rng, cfg)
        for k, h in enumerate(a.hands):
            ys, xs = np.nonzero(a.mask == k + 1)
            if len(xs) < 20:  # disc clipped by the crop border: centroid would be biased
                continue
            centre = h.keypoints2d.mean(0)  # the disc was centred on the keypoint mean
            assert np.hypot(xs.mean() - centre[0], ys.mean() - centre[1]) < 1.0
            checked += 1
    assert checked >= 10


def test_letterbox_and_color_jitter():
    rng = np.random.default_rng(4)
    s = _sample(rng)
    lb, A = letterbox(s, 40)
    assert lb.image.shape == (40, 40, 3) and A[0, 0] == pytest.approx(0.5)
    assert _reprojection_error(lb) < 1e-3
    assert lb.image[:3].max() == 0 and lb.image[-3:].max() == 0  # 80x64 -> 40x32, padded top/bottom
    # the training-time letterbox is the inference-time one: same pixels, and K moves by its affine
    from smhr.geometry.letterbox import letterbox_image

    pixels, A_inf = letterbox_image(s.image, 40)
    np.testing.assert_array_equal(lb.image, pixels)
    np.testing.assert_allclose(A, A_inf)
    np.testing.assert_allclose(lb.K, A_inf @ s.K, rtol=1e-5, atol=1e-4)
    img = np.full((8, 8, 3), 100, np.uint8)
    out = color_jitter(img, rng, brightness=0.5, contrast=0.0, saturation=0.0, hue=0.0)
    assert out.dtype == np.uint8 and 50 <= out[0, 0, 0] <= 150 and out[0, 0, 0] != 100
