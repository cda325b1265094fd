"""Camera-frame placement numbers: the whole hand's rotation and depth, which PA-MPJPE removes."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from smhr.eval.placement import placement_errors, rotation_angles_deg
from smhr.hands.keypoints import ROOT_INDEX


def _hands(n=6, seed=0):
    rng = np.random.default_rng(seed)
    shape = rng.normal(0, 0.04, (n, 21, 3))
    shape -= shape[:, ROOT_INDEX : ROOT_INDEX + 1]
    roots = np.stack([rng.uniform(-0.1, 0.1, n), rng.uniform(-0.1, 0.1, n), rng.uniform(0.4, 0.8, n)], 1)
    return shape, roots


def test_a_perfect_prediction_has_no_placement_error():
    shape, roots = _hands()
    gt = shape + roots[:, None]
    got = placement_errors(gt.copy(), gt)
    assert got["root_relative_mpjpe_mm"] == pytest.approx(0, abs=1e-9)
    assert got["rotation_error_deg"] == pytest.approx(0, abs=1e-4)
    assert got["root_depth_error_mm"] == pytest.approx(0, abs=1e-9) and got["depth_ratio"] == pytest.approx(1)


def test_a_right_shape_turned_and_placed_too_far_is_measured_in_degrees_and_depth():
    shape, roots = _hands()
    gt = shape + roots[:, None]
    turn = Rotation.from_rotvec([np.radians(30), 0, 0]).as_matrix()
    far = roots * np.array([1.0, 1.0, 1.2])
    pred = shape @ turn.T + far[:, None]  # the same shape about its root, turned 30 degrees, 20 % deeper
    got = placement_errors(pred, gt)
    assert got["rotation_error_deg"] == pytest.approx(30, abs=1e-6)
    assert got["rotation_error_deg_mean"] == pytest.approx(30, abs=1e-6)
    assert got["depth_ratio"] == pytest.approx(1.2)
    assert got["root_depth_error_mm"] == pytest.approx(np.mean(roots[:, 2] * 0.2) * 1e3)
    want = np.linalg.norm(shape @ turn.T - shape, axis=-1).mean() * 1e3  # rotation alone moves the joints
    assert got["root_relative_mpjpe_mm"] == pytest.approx(want) and want > 10


def test_the_rotation_angle_ignores_size_and_position():
    shape, roots = _hands(seed=1)
    turn = Rotation.from_rotvec([0, 0, np.radians(-50)]).as_matrix()
    angles = rotation_angles_deg(0.7 * shape @ turn.T + roots[:, None] + 0.3, shape + roots[:, None])
    np.testing.assert_allclose(angles, 50, atol=1e-6)


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="placement_errors: pred and gt must both be"):
        placement_errors(np.zeros((2, 21, 3)), np.zeros((3, 21, 3)))
