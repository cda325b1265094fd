"""smhr.geometry.rotations: conventions, round trips and gradients at the identity."""

import torch

from smhr.geometry import rotations as rot


def _random_aa(shape, seed=0, max_angle=3.0):
    g = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(*shape, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(*shape, 1, generator=g, dtype=torch.float64) * max_angle
    return axis * angle


def test_round_trips_any_leading_dims():
    aa = _random_aa((2, 3, 4))
    R = rot.aa_to_matrix(aa)
    assert R.shape == (2, 3, 4, 3, 3)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(R @ R.transpose(-1, -2), eye.expand_as(R), atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(2, 3, 4, dtype=torch.float64))
    assert torch.allclose(rot.matrix_to_aa(R), aa, atol=1e-9)
    assert torch.allclose(rot.rot6d_to_aa(rot.aa_to_rot6d(aa)), aa, atol=1e-9)
    assert torch.allclose(rot.quat_to_aa(rot.aa_to_quat(aa)), aa, atol=1e-9)
    assert torch.allclose(rot.quat_to_matrix(rot.matrix_to_quat(R)), R, atol=1e-12)


def test_known_rotation_and_quaternion_order():
    aa = torch.tensor([0.0, 0.0, torch.pi / 2], dtype=torch.float64)  # +90 deg about z
    R = rot.aa_to_matrix(aa)
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)
    q = rot.aa_to_quat(aa)  # (x, y, z, w), scalar last
    s = 2 ** -0.5
    assert torch.allclose(q, torch.tensor([0.0, 0.0, s, s], dtype=torch.float64), atol=1e-12)


def test_rot6d_is_first_two_columns_and_gram_schmidt():
    R = rot.aa_to_matrix(_random_aa((5,), seed=1))
    six = rot.matrix_to_rot6d(R)
    assert torch.equal(six[:, :3], R[:, :, 0]) and torch.equal(six[:, 3:], R[:, :, 1])
    raw = torch.tensor([[2.0, 0.0, 0.0, 1.0, 3.0, 0.0]], dtype=torch.float64)  # not orthonormal
    M = rot.rot6d_to_matrix(raw)[0]
    assert torch.allclose(M, torch.eye(3, dtype=torch.float64), atol=1e-12)


def test_gradients_finite_and_correct_at_zero_rotation():
    W = torch.randn(4, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    aa = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    (rot.aa_to_matrix(aa) * W).sum().backward()
    # R = I + [aa]_x + O(|aa|^2): d/da1 = W21 - W12, d/da2 = W02 - W20, d/da3 = W10 - W01
    expected = torch.stack([W[:, 2, 1] - W[:, 1, 2], W[:, 0, 2] - W[:, 2, 0], W[:, 1, 0] - W[:, 0, 1]], -1)
    assert torch.allclose(aa.grad, expected, atol=1e-12)

    R = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1).requires_grad_()
    rot.matrix_to_aa(R).square().sum().backward()
    assert torch.isfinite(R.grad).all()
    six = torch.tensor([[1.0, 0, 0, 0, 1, 0]], dtype=torch.float64, requires_grad=True)
    (rot.rot6d_to_matrix(six) * W[:1]).sum().backward()
    assert torch.isfinite(six.grad).all()


def test_mirror_axis_angle_is_reflection_conjugation():
    aa = _random_aa((6,), seed=3)
    S = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    lhs = S @ rot.aa_to_matrix(aa) @ S
    assert torch.allclose(lhs, rot.aa_to_matrix(rot.mirror_axis_angle(aa)), atol=1e-12)
    assert torch.equal(rot.mirror_axis_angle(torch.tensor([1.0, 2.0, 3.0])), torch.tensor([1.0, -2.0, -3.0]))
