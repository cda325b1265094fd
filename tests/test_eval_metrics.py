"""smhr.eval.metrics: hand-computed values for every metric."""

import numpy as np
import pytest
import roma
import torch

from smhr.eval import metrics as M
from smhr.hands.keypoints import ROOT_INDEX


def _hand(seed=0, n=21):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.04, size=(4, n, 3)) + np.array([0.0, 0.0, 0.6])


def test_mpjpe_known_offsets_and_root_relative():
    gt = _hand()
    rng = np.random.default_rng(1)
    d = rng.normal(size=gt.shape)
    d *= 0.003 / np.linalg.norm(d, axis=-1, keepdims=True)  # every point off by exactly 3 mm
    assert M.mpjpe(gt + d, gt) == pytest.approx(0.003, abs=1e-12)
    shifted = gt + np.array([0.01, -0.02, 0.05])
    assert M.mpjpe(shifted, gt) == pytest.approx(np.sqrt(0.01**2 + 0.02**2 + 0.05**2))
    assert M.mpjpe(shifted, gt, root=ROOT_INDEX) == pytest.approx(0.0, abs=1e-12)
    mask = np.zeros(gt.shape[:2])
    mask[:, 0] = 1
    big = gt.copy()
    big[:, 1:] += 1.0
    assert M.mpjpe(big, gt, mask=mask) == pytest.approx(0.0)


def test_pa_metrics_zero_for_similarity_and_bounded_by_noise():
    gt = _hand(2)
    R = roma.random_rotmat(4, dtype=torch.float64).numpy()
    pred = 1.7 * np.einsum("bij,bnj->bni", R, gt) + [0.3, -0.1, 0.2]
    assert M.pa_mpjpe(pred, gt) < 1e-10
    assert M.pa_mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)) < 1e-10  # tensors too
    rng = np.random.default_rng(3)
    d = rng.normal(size=gt.shape)
    d *= 0.003 / np.linalg.norm(d, axis=-1, keepdims=True)
    err = M.pa_errors(gt + d, gt)
    # PA minimises the squared error, so its RMS cannot exceed the 3 mm of the identity fit
    assert np.sqrt((err**2).mean()) <= 0.003 + 1e-12
    assert M.pa_mpjpe(gt + d, gt) == pytest.approx(0.003, rel=0.15)


def test_pck_curve_per_keypoint_average_with_mask():
    errors = np.array([[0.01, 0.03], [0.02, 0.10]])
    mask = np.array([[1, 1], [1, 0]])
    curve = M.pck_curve(errors, np.array([0.0, 0.015, 0.025, 0.05]), mask)
    # kp0: errors {0.01, 0.02}; kp1: {0.03} (0.10 masked); mean of per-keypoint fractions
    assert np.allclose(curve, [0.0, 0.25, 0.5, 1.0])
    assert M.pck_curve(np.array([[0.02]]), np.array([0.02]))[0] == 1.0  # "<=" like FreiHAND


def test_auc_of_constant_errors():
    errs = np.full((10, 21), 0.025)
    curve = M.pck_curve(errs)
    assert M.auc(curve) == pytest.approx(0.5, abs=0.5 / 99)
    assert M.auc(M.pck_curve(np.zeros((3, 21)))) == pytest.approx(1.0)
    assert M.auc(M.pck_curve(np.full((3, 21), 0.06))) == 0.0
    assert M.auc([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.5)


def _grid(n=778, spacing=0.03):
    g = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(8), indexing="ij"), -1).reshape(-1, 3)
    return g[:n] * spacing


def test_fscore_shifted_grid_and_subset():
    gt = _grid()
    shifted = gt + np.array([0.010, 0.0, 0.0])
    assert M.fscore(shifted, gt, 0.005)[0] == 0.0
    assert M.fscore(shifted, gt, 0.015) == (1.0, 1.0, 1.0)
    sub = gt[:389]  # half the GT points, exactly
    f, p, r = M.fscore(sub, gt, 0.005)
    assert (p, r) == (1.0, 0.5)
    assert f == pytest.approx(2 * 0.5 / 1.5)
    batched = M.fscore_batched(np.stack([shifted, gt]), np.stack([gt, gt]), [0.005, 0.015])
    assert np.allclose(batched, [[0.0, 1.0], [1.0, 1.0]])
    assert M.fscore(np.zeros((0, 3)), gt, 0.01) == (0.0, 0.0, 0.0)


def test_nearest_distances_exact_and_chunked():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(70, 3))
    brute = np.linalg.norm(a[:, None] - b[None], axis=-1).min(1)
    assert np.allclose(M.nearest_distances(a, b, chunk=7), brute, atol=1e-15)


def test_pck_2d_handedness_and_mrrpe():
    gt = np.zeros((2, 3, 2))
    pred = gt + np.array([[[3.0, 4.0], [0.0, 1.0], [10.0, 0.0]]] * 2)  # errors 5, 1, 10 px
    assert M.pck_2d(pred, gt, 5.0) == pytest.approx(2 / 3)
    assert M.handedness_accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 0.75
    gl, gr = np.zeros((2, 3)), np.array([[0.2, 0.0, 0.0]] * 2)
    pl = gl + 0.5  # a common offset of both roots does not count
    pr = gr + 0.5 + np.array([[0.0, 0.03, 0.04], [0.0, 0.0, 0.0]])
    assert M.mrrpe(pl, pr, gl, gr) == pytest.approx(0.025)


def test_box_iou_and_keypoint_similarity():
    iou = M.box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]])
    assert np.allclose(iou, [[50 / 150, 0.0]])
    gt = np.random.default_rng(5).uniform(0, 100, (2, 21, 2))
    oks = M.keypoint_similarity(gt, gt, [100.0, 100.0])
    assert np.allclose(np.diag(oks), 1.0) and (oks[0, 1] < 0.1)
    off = gt[:1] + np.array([3.0, 4.0])  # d = 5 px, area 100, k = 0.5 -> exp(-25 / (2 * 100 * 0.25))
    assert M.keypoint_similarity(off, gt[:1], [100.0], kappa=0.5)[0, 0] == pytest.approx(np.exp(-0.5))


def test_matching_pairs_and_average_precision():
    from smhr.eval.matching import match_by_similarity

    sim = np.array([[0.6, 0.9], [0.95, 0.0], [0.3, 0.2]])
    m = match_by_similarity(sim, [0.5, 0.9, 0.8], threshold=0.5)
    # det1 (0.9) takes gt0; det2 (0.8) has nothing >= 0.5; det0 (0.5) takes gt1 (gt0 is taken)
    assert m.tp.tolist() == [True, True, False] and sorted(m.pairs) == [(0, 1), (1, 0)]
    assert m.false_positives == [2] and m.duplicates == [] and m.missed == []
    # a prediction whose only good label is taken is a duplicate, never a second pair
    d = match_by_similarity(np.array([[0.9], [0.8]]), [0.9, 0.8], threshold=0.5)
    assert d.pairs == [(0, 0)] and d.duplicates == [1]
    scores, flags = [0.9, 0.8, 0.7], [True, False, True]
    # precision [1, .5, .667], recall [.5, .5, 1]
    assert M.average_precision(scores, flags, 2, "voc") == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert M.average_precision(scores, flags, 2, "coco101") == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert M.average_precision([0.9], [True], 4, "coco101") == pytest.approx(26 / 101)
    assert np.isnan(M.average_precision([], [], 0))
    ap = M.detection_ap([sim, np.zeros((1, 0))], [[0.5, 0.9, 0.8], [0.99]], [2, 0], 0.5, "voc")
    # pooled: 0.99 FP, 0.9 TP, 0.8 FP, 0.5 TP over 2 GTs -> envelope at recall .5 is .5, at 1 is .5
    assert ap == pytest.approx(0.5)
