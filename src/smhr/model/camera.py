"""Translation decoding: the official centre-anchored rule, and its metric re-expression.

The network does not know the real camera. Each hand's 3 translation outputs (a, b, c) are read in
a *virtual* camera of the R x R network input: focal f = 512 px, principal point (R/2, R/2). The
hand-model origin is placed on the ray through pixel (centre_x + a, centre_y + b) at depth
Z = c + 0.8 m, i.e. X = Z (u - R/2) / f, Y = Z (v - R/2) / f. So (a, b) are pixel offsets from the
hand's centre cell and Z is effectively a scale parameter (only 2D is supervised).

One deliberate change from the official code: the anchor is the cell CENTRE, (x + 0.5) * stride,
not the cell's top-left corner x * stride. Why: the targets put a hand whose centre is at pixel c
into cell floor(c / stride), so the centres that belong to cell x fill [x*s, (x+1)*s) and their
mean is (x + 0.5)*s. With the centre anchor the offsets (a, b) a head must produce are zero-mean
and bounded by s/2, and the regression head's zero initialisation already places every hand within
half a cell of its centre; with the corner anchor every hand starts biased by +s/2 in x and y.
(Official checkpoints are not loadable anyway: different tensor names, stride-4 HEAD vs older.)

This module is the PyTorch form of the rule for training (differentiable, on the device); inference
decodes the same rule in NumPy (`smhr.runtime.decode`), which also re-expresses hands in a real
camera: same pixel ray, depth scaled by f_real / f_virtual.
"""

from __future__ import annotations

import torch

from smhr.geometry.cameras import unproject
from smhr.geometry.virtual_camera import DEPTH_OFFSET, VIRTUAL_FOCAL

__all__ = [
    "DEPTH_OFFSET",
    "VIRTUAL_FOCAL",
    "anchor_pixels",
    "cell_centres",
    "cell_coords",
    "decode_translation",
    "virtual_intrinsics",
]



def virtual_intrinsics(
    input_size: int, focal: float = VIRTUAL_FOCAL, *, dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """[3,3] virtual intrinsics of an input_size x input_size network image (f px, centre R/2).

    Filled on the device from Python scalars: `torch.tensor(..., device=cuda)` would be a pageable
    host->device copy, which synchronises the stream and cannot be captured in a CUDA graph.
    """
    c = input_size / 2.0
    K = torch.zeros(3, 3, dtype=dtype, device=device)
    for (r, col), value in (((0, 0), focal), ((1, 1), focal), ((0, 2), c), ((1, 2), c), ((2, 2), 1.0)):
        K[r, col].fill_(value)  # a scalar kernel argument: no host->device copy
    return K


def cell_coords(ind: torch.Tensor, width: int) -> torch.Tensor:
    """Flat cell indices [...] (y*width + x) -> integer cell coordinates [..., 2] = (x, y) as float."""
    y = torch.div(ind, width, rounding_mode="floor")
    return torch.stack([ind - y * width, y], dim=-1).float()


def cell_centres(ind: torch.Tensor, width: int, stride: int) -> torch.Tensor:
    """Pixel centre of each cell [..., 2] = ((x + 0.5) * stride, (y + 0.5) * stride)."""
    return (cell_coords(ind, width) + 0.5) * stride


def anchor_pixels(raw: torch.Tensor, centre_px: torch.Tensor) -> torch.Tensor:
    """Pixel [..., 2] onto which the hand-model origin projects: centre + (a, b)."""
    return centre_px + raw[..., :2]


def decode_translation(
    raw: torch.Tensor, centre_px: torch.Tensor, input_size: int, focal: float = VIRTUAL_FOCAL
) -> torch.Tensor:
    """Translation [..., 3] metres in the virtual camera from head outputs raw [..., 3] = (a, b, c)
    and the anchor cell centres centre_px [..., 2] (network pixels)."""
    depth = raw[..., 2] + DEPTH_OFFSET
    K = virtual_intrinsics(input_size, focal, dtype=raw.dtype, device=raw.device)
    uv = anchor_pixels(raw, centre_px)
    return unproject(uv[..., None, :], depth[..., None], K)[..., 0, :]

