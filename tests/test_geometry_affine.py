"""smhr.geometry.affine: one RQ split moves a camera with its image, for numpy and batched torch."""

import math

import numpy as np
import pytest
import torch

from smhr.data.augment import crop_affine
from smhr.geometry.affine import mirror_camera, move_camera, rot_z, rq_2x2
from smhr.geometry.cameras import project


def _points(seed=0, n=30):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(-0.1, 0.1, (n, 2)), rng.uniform(0.4, 0.9, n)]


def _apply(A, uv):
    return uv @ A[:, :2].T + A[:, 2]


def test_rq_reconstructs_n_with_a_proper_upper_triangle():
    N = np.array([[3.0, 1.0], [-2.0, 4.0]])
    U, phi = rq_2x2(N)
    R = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
    np.testing.assert_allclose(U @ R, N, atol=1e-12)
    assert U[1, 0] == 0 and U[0, 0] > 0 and U[1, 1] > 0
    # hand-checked: 2 R(0.5 rad) splits into U = 2 I and phi = 0.5
    U2, phi2 = rq_2x2(2.0 * np.array([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]]))
    np.testing.assert_allclose(U2, 2.0 * np.eye(2), atol=1e-12)
    assert phi2 == pytest.approx(0.5)


@pytest.mark.parametrize("rotation", [0.0, 37.0, -120.0])
def test_projection_through_the_moved_camera_lands_on_the_moved_pixels(rotation):
    K = np.array([[500.0, 3.0, 311.5], [0.0, 520.0, 239.5], [0.0, 0.0, 1.0]])  # skew on purpose
    X = _points()
    A = crop_affine((300.0, 250.0), 180.0, rotation, 224)
    moved = _apply(A, project(torch.from_numpy(X), torch.from_numpy(K)).numpy())
    Kn, R3 = move_camera(A, K)
    assert Kn.dtype == np.float64 and Kn[1, 0] == 0 and Kn[2].tolist() == [0.0, 0.0, 1.0]
    assert Kn[0, 0] > 0 and Kn[1, 1] > 0
    assert np.allclose(R3 @ R3.T, np.eye(3)) and np.isclose(np.linalg.det(R3), 1.0)
    assert np.allclose(R3[2], [0, 0, 1])  # a rotation about the optical axis only
    uv = project(torch.from_numpy(X @ R3.T), torch.from_numpy(Kn)).numpy()
    assert np.abs(uv - moved).max() < 1e-6
    if rotation == 0.0:  # scale + translation: K' = A @ K, no rotation
        assert np.allclose(R3, np.eye(3)) and np.allclose(Kn, np.vstack([A, [0, 0, 1]]) @ K)


def test_torch_batched_equals_numpy_per_item():
    Ks = np.stack([
        np.array([[f, sk, 40.0], [0.0, 1.1 * f, 30.0], [0, 0, 1]]) for f, sk in [(60, 0), (90, 2)]
    ])
    As = np.stack([crop_affine((30.0, 20.0), 50.0, r, 64) for r in (10.0, -75.0)])
    Kt, Rt = move_camera(torch.from_numpy(As), torch.from_numpy(Ks))
    assert isinstance(Kt, torch.Tensor) and Kt.shape == (2, 3, 3) and Rt.shape == (2, 3, 3)
    for i in range(2):
        Kn, Rn = move_camera(As[i], Ks[i])
        np.testing.assert_allclose(Kt[i].numpy(), Kn, atol=1e-12)
        np.testing.assert_allclose(Rt[i].numpy(), Rn, atol=1e-12)
    np.testing.assert_allclose(rot_z(torch.tensor([0.3, -1.0])).numpy(), np.stack([rot_z(0.3), rot_z(-1.0)]))


def test_torch_path_is_differentiable():
    K = torch.tensor([[80.0, 0.0, 32.0], [0.0, 80.0, 32.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    theta = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    c, s = torch.cos(theta), torch.sin(theta)
    A = torch.stack([torch.stack([c, -s, theta * 0 + 5.0]), torch.stack([s, c, theta * 0 - 2.0])])
    Kn, R3 = move_camera(A, K)
    (Kn.sum() + R3[0, 1]).backward()
    assert theta.grad is not None and torch.isfinite(theta.grad)


def test_mirrored_camera_sees_mirrored_points():
    K = np.array([[70.0, 1.5, 38.0], [0.0, 65.0, 30.0], [0.0, 0.0, 1.0]], np.float32)
    X = _points(1)
    uv = project(torch.from_numpy(X), torch.from_numpy(K.astype(np.float64))).numpy()
    Km = mirror_camera(K, 80)
    assert Km.dtype == np.float32 and Km[0, 2] == pytest.approx(79 - 38.0) and Km[0, 1] == pytest.approx(-1.5)
    uv_m = project(torch.from_numpy(X * [-1.0, 1.0, 1.0]), torch.from_numpy(Km.astype(np.float64))).numpy()
    np.testing.assert_allclose(uv_m[:, 0], 79 - uv[:, 0], atol=1e-4)
    np.testing.assert_allclose(uv_m[:, 1], uv[:, 1], atol=1e-4)
    assert K[0, 2] == 38.0  # the input is not modified
