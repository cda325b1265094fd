"""Pinhole camera maths with intrinsics K (OpenCV axes: x right, y down, z forward).

Every module that moves between 3D (metres, camera frame) and 2D (pixels) goes through these two
functions, so the convention is written once.
"""

from __future__ import annotations

import torch

DEPTH_EPS = 1e-6  # metres; keeps projection finite for points at (or behind) the camera centre


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Project camera-frame points to pixels.

    points: [..., N, 3] metres; K: [..., 3, 3] (broadcast over the leading dims).
    Returns [..., N, 2] pixels (u right, v down). Depth is clamped at DEPTH_EPS so gradients stay
    finite; callers that care about points behind the camera must mask them.
    """
    z = points[..., 2:3].clamp(min=DEPTH_EPS)
    xy = points[..., :2] / z
    fx = K[..., 0, 0].unsqueeze(-1)
    fy = K[..., 1, 1].unsqueeze(-1)
    cx = K[..., 0, 2].unsqueeze(-1)
    cy = K[..., 1, 2].unsqueeze(-1)
    skew = K[..., 0, 1].unsqueeze(-1)
    u = fx * xy[..., 0] + skew * xy[..., 1] + cx
    v = fy * xy[..., 1] + cy
    return torch.stack([u, v], dim=-1)


def unproject(uv: torch.Tensor, depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Back-project pixels with known depth to camera-frame points.

    uv: [..., N, 2] pixels; depth: [..., N] metres (z); K: [..., 3, 3]. Returns [..., N, 3] metres.
    Exact inverse of `project` for points in front of the camera.
    """
    fx = K[..., 0, 0].unsqueeze(-1)
    fy = K[..., 1, 1].unsqueeze(-1)
    cx = K[..., 0, 2].unsqueeze(-1)
    cy = K[..., 1, 2].unsqueeze(-1)
    skew = K[..., 0, 1].unsqueeze(-1)
    y = (uv[..., 1] - cy) / fy
    x = (uv[..., 0] - cx - skew * y) / fx
    return torch.stack([x * depth, y * depth, depth], dim=-1)


def intrinsics(focal: float, cx: float, cy: float, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A 3x3 K with square pixels and no skew (e.g. the official virtual camera f=512, c=R/2)."""
    return torch.tensor([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]], dtype=dtype)
