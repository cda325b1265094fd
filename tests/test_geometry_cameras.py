"""smhr.geometry.cameras: known projections and the project/unproject round trip."""

import torch

from smhr.geometry.cameras import intrinsics, project, unproject


def test_known_projection_and_round_trip_with_skew():
    K = intrinsics(512.0, 112.0, 112.0, dtype=torch.float64)
    X = torch.tensor([[0.0, 0.0, 0.8], [0.1, -0.05, 0.5]], dtype=torch.float64)
    uv = project(X, K)
    expected = torch.tensor([[112.0, 112.0], [112.0 + 102.4, 112.0 - 51.2]], dtype=torch.float64)
    assert torch.allclose(uv, expected)
    K2 = K.clone()
    K2[0, 1] = 3.0  # skewed camera, batched over a leading dim
    Xb = X[None].repeat(2, 1, 1)
    Kb = torch.stack([K, K2])
    back = unproject(project(Xb, Kb), Xb[..., 2], Kb)
    assert torch.allclose(back, Xb, atol=1e-12)
