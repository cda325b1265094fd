"""smhr.geometry.procrustes: batched Umeyama similarity alignment."""

import numpy as np
import pytest
import roma
import torch
from scipy.linalg import orthogonal_procrustes

from smhr.geometry.procrustes import procrustes_align


def _similar_pair(B=6, N=21, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, 3, generator=g, dtype=dtype)
    R = roma.random_rotmat(B, dtype=dtype)
    s = torch.rand(B, generator=g, dtype=dtype) * 2.7 + 0.3
    t = torch.randn(B, 3, generator=g, dtype=dtype)
    return x, s[:, None, None] * x @ R.transpose(1, 2) + t[:, None], (s, R, t)


def test_recovers_known_similarity_float64():
    torch.manual_seed(0)
    x, y, (s, R, t) = _similar_pair()
    aligned, (s2, R2, t2) = procrustes_align(x, y)
    assert (aligned - y).abs().max() < 1e-10
    assert (s2 - s).abs().max() < 1e-6 and (R2 - R).abs().max() < 1e-6 and (t2 - t).abs().max() < 1e-6


def test_float32_is_close():
    torch.manual_seed(1)
    x, y, _ = _similar_pair(dtype=torch.float32)
    aligned, _ = procrustes_align(x, y)
    assert aligned.dtype == torch.float32
    assert (aligned - y).abs().max() < 1e-4


def _scipy_reference(pred, target):
    """Umeyama through scipy: centre, orthogonal Procrustes, optimal scale (reflections allowed)."""
    mp, mt = pred.mean(0), target.mean(0)
    P, T = pred - mp, target - mt
    R, ssum = orthogonal_procrustes(P, T)  # P @ R ~ T
    scale = ssum / (P**2).sum()
    return scale * P @ R + mt


def test_matches_scipy_reference_on_noisy_data():
    rng = np.random.default_rng(3)
    target = rng.normal(size=(8, 50, 3))
    pred = 0.7 * target @ np.linalg.qr(rng.normal(size=(3, 3)))[0] + rng.normal(size=(8, 50, 3)) * 0.3
    ours, _ = procrustes_align(torch.from_numpy(pred), torch.from_numpy(target), allow_reflection=True)
    ref = np.stack([_scipy_reference(pred[i], target[i]) for i in range(8)])
    assert np.abs(ours.numpy() - ref).max() < 1e-9


def test_reflection_handling():
    x, _, _ = _similar_pair(B=2, seed=4)
    y = x * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # mirror image: no rotation fits exactly
    proper, (_, R, _) = procrustes_align(x, y)
    assert torch.allclose(torch.linalg.det(R), torch.ones(2, dtype=torch.float64))
    assert (proper - y).abs().max() > 0.1
    improper, (_, R2, _) = procrustes_align(x, y, allow_reflection=True)
    assert torch.allclose(torch.linalg.det(R2), -torch.ones(2, dtype=torch.float64))
    assert (improper - y).abs().max() < 1e-10


def test_mask_ignores_outliers():
    x, y, (s, _, _) = _similar_pair(B=3, N=30, seed=5)
    y_bad = y.clone()
    y_bad[:, :5] += 10.0
    mask = torch.ones(3, 30, dtype=torch.bool)
    mask[:, :5] = False
    aligned, (s2, _, _) = procrustes_align(x, y_bad, mask)
    assert (s2 - s).abs().max() < 1e-9
    assert (aligned[:, 5:] - y[:, 5:]).abs().max() < 1e-9
    with pytest.raises(ValueError, match="mask"):
        procrustes_align(x, y, mask[:, :10])
