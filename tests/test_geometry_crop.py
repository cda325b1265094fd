"""smhr.geometry.crop: pixels, keypoints and K move together (pixel centres at integers)."""

import numpy as np
import pytest
import torch

from smhr.geometry import crop
from smhr.geometry.cameras import intrinsics, project


def _points():
    rng = np.random.default_rng(0)
    return np.c_[rng.uniform(-0.1, 0.1, (30, 2)), rng.uniform(0.4, 0.9, 30)]


@pytest.mark.parametrize("rotation", [0.0, 37.0, -120.0])
def test_project_then_warp_equals_project_with_new_k(rotation):
    K = np.array([[500.0, 0.0, 311.5], [0.0, 520.0, 239.5], [0.0, 0.0, 1.0]])
    X = _points()
    A = crop.crop_transform(center=(300.0, 250.0), size=180.0, out_size=224, rotation_deg=rotation)
    uv = project(torch.from_numpy(X), torch.from_numpy(K)).numpy()
    moved = crop.apply_to_points(A, uv)

    P = crop.apply_to_K(A, K)
    h = X @ P.T
    assert np.abs(h[:, :2] / h[:, 2:] - moved).max() < 1e-4

    Kn, R = crop.split_camera_rotation(P)
    assert np.allclose(np.tril(Kn, -1), 0.0) and Kn[2, 2] == 1.0 and np.all(np.diag(Kn) > 0)
    assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1.0)
    uv2 = project(torch.from_numpy(X @ R.T), torch.from_numpy(Kn)).numpy()
    assert np.abs(uv2 - moved).max() < 1e-4
    if rotation == 0.0:
        assert np.allclose(R, np.eye(3)) and np.allclose(Kn, P)


def test_letterbox_edges_and_inverse_round_trip():
    lb = crop.letterbox((480, 640), 256)
    assert lb.scale == pytest.approx(0.4) and lb.pad == pytest.approx((0.0, 32.0))
    edges = crop.apply_to_points(lb.A, np.array([[-0.5, -0.5], [639.5, 479.5]]))
    assert np.allclose(edges, [[-0.5, 31.5], [255.5, 223.5]])
    uv = np.random.default_rng(1).uniform(0, 600, (10, 2))
    back = crop.apply_to_points(lb.inverse, crop.apply_to_points(lb.A, uv))
    assert np.abs(back - uv).max() < 1e-9
    t = torch.tensor(uv, dtype=torch.float64)
    assert torch.allclose(crop.apply_to_points(lb.A, t), torch.from_numpy(crop.apply_to_points(lb.A, uv)))
    assert np.allclose(crop.invert(lb.A[:2]) @ lb.A, np.eye(3))


def test_letterbox_matches_data_augment_convention():
    from smhr.data.augment import crop_affine, letterbox_affine

    assert np.allclose(crop.letterbox((300, 200), 224).A[:2], letterbox_affine((300, 200), 224))
    assert np.allclose(crop.crop_transform((50.0, 60.0), 80.0, 128, 25.0)[:2],
                       crop_affine((50.0, 60.0), 80.0, 25.0, 128))


def test_letterbox_k_update_matches_keypoints():
    K = intrinsics(600.0, 319.5, 239.5, dtype=torch.float64)
    lb = crop.letterbox((480, 640), 384)
    X = torch.from_numpy(_points())
    K2 = crop.apply_to_K(lb.A, K)
    assert isinstance(K2, torch.Tensor) and K2[1, 0] == 0 and K2[0, 1] == 0
    assert torch.allclose(project(X, K2), crop.apply_to_points(lb.A, project(X, K)), atol=1e-9)


@pytest.mark.parametrize("rotation", [0.0, 90.0])
def test_warp_moves_bright_pixel_where_points_go(rotation):
    img = np.zeros((40, 50), np.float32)
    src = np.array([17.0, 12.0])  # (u, v)
    img[12, 17] = 1.0
    # scale 2, integer centre and odd output: the pixel lands on an integer destination
    A = crop.crop_transform(center=(20.0, 15.0), size=30.5, out_size=61, rotation_deg=rotation)
    dst = crop.apply_to_points(A, src)
    assert np.allclose(dst, np.round(dst))
    out = crop.warp_image(img, A, 61)
    v, u = np.unravel_index(np.argmax(out), out.shape)
    assert (u, v) == (round(dst[0]), round(dst[1]))
    assert out[v, u] == pytest.approx(1.0)
    if rotation == 90.0:  # right of the centre goes below it (clockwise on screen)
        right = crop.apply_to_points(A, np.array([21.0, 15.0]))
        assert np.allclose(right, [30.0, 32.0])


def test_bad_affine_shape_is_rejected():
    with pytest.raises(ValueError, match="2x3 or 3x3"):
        crop.apply_to_points(np.eye(4), np.zeros((1, 2)))
