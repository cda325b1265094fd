"""The translation that lays a hand's keypoints on its local keypoint head's (`smhr.runtime.translation_fit`)
and the decode that uses it."""

import numpy as np

from smhr.geometry.virtual_camera import project_points, virtual_intrinsics
from smhr.runtime.decode import decode_peaks
from smhr.runtime.translation_fit import fit_translation
from test_runtime_decode import HANDS, R, S, crafted_outputs

K2 = np.array([[[500.0, 0, 128], [0, 500.0, 128], [0, 0, 1]], [[900.0, 0, 300], [0, 880.0, 200], [0, 0, 1]]])


def _hands():
    rng = np.random.default_rng(0)
    shape = rng.uniform(-0.05, 0.05, (2, 21, 3))
    return shape, np.array([[0.05, -0.03, 0.6], [-0.1, 0.02, 1.4]])


def test_recovers_the_translation_that_projects_onto_the_targets():
    shape, truth = _hands()
    target = project_points(shape + truth[:, None], K2)
    start = np.array([[0.0, 0.0, 0.8], [0.0, 0.0, 1.0]])
    t = fit_translation(shape + start[:, None], start, target, K2)
    np.testing.assert_allclose(t, truth, atol=1e-9)
    none = fit_translation(np.zeros((0, 21, 3)), np.zeros((0, 3)), np.zeros((0, 21, 2)), K2[:0])
    assert none.shape == (0, 3)


def test_untrusted_solutions_keep_the_predicted_translation():
    shape, truth = _hands()
    start = truth.copy()
    # hand 0: every target on one pixel (a point-sized hand: infinitely far); hand 1: 3x its depth
    target = project_points(shape + truth[:, None], K2)
    target[0] = target[0].mean(0)
    far = truth[1] * [1.0, 1.0, 3.0]
    target[1] = project_points(shape[1] + far, K2[1])
    t = fit_translation(shape + start[:, None], start, target, K2)
    np.testing.assert_array_equal(t, start)


def test_decode_moves_the_whole_hand_to_where_its_local_keypoints_see_it():
    out = crafted_outputs()
    A = np.stack([np.eye(3)] * 2)
    plain = decode_peaks(out, HANDS, R, S, A, 0.5)[0][1]  # hand B (right, cell x12 y10)
    delta = np.array([0.004, -0.003, -0.05], np.float32)  # nearer, a little aside
    seen = project_points(plain.joints3d + delta, virtual_intrinsics(R))
    out["kp_offsets"][0, 1] = (seen / 4 - [12, 10]).reshape(-1)
    fitted = decode_peaks(out, HANDS, R, S, A, 0.5, fit_translation=True)[0][1]
    unfitted = decode_peaks(out, HANDS, R, S, A, 0.5)[0][1]
    np.testing.assert_allclose(fitted.transl, plain.transl + delta, atol=1e-5)
    moved = fitted.vertices - unfitted.vertices
    np.testing.assert_allclose(moved, np.broadcast_to(delta, moved.shape), atol=1e-5)
    np.testing.assert_allclose(fitted.keypoints2d, seen, atol=1e-3)  # it projects where the head says
    np.testing.assert_allclose(unfitted.keypoints2d, plain.keypoints2d)  # off: the predicted translation
