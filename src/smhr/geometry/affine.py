"""The camera of a moved image: one RQ split of a 2x2 map, for numpy arrays and torch tensors alike.

Moving an image by an affine A = [M | t] (source px -> destination px) sends every projected point
p = K x_n (x_n = X / Z) to M p + t. That is again a pinhole projection, after a rotation of the 3D
points about the optical axis: factor N = M @ K[:2,:2] = U @ R(phi) (RQ: U upper triangular with
positive diagonal, R(phi) = [[cos, -sin], [sin, cos]]), rotate camera-frame points by Rz(phi) and
project with K' = [[U, M c + t], [0, 0, 1]] (c = K's principal point):

    project(Rz(phi) X, K') = U R(phi) x_n + M c + t = M (K x_n) + t      exactly, skew included.

With square pixels and a similarity M = s R(theta) this is simply: 3D rotated by theta about the
optical axis, focal times s, principal point moved with the image. Augmentation
(`smhr.data.augment.warp`) and composition (`smhr.data.compose.geometry.place_cameras`) both use
`move_camera` (and `mirror_camera` for left-right flips), so a crop and a paste move cameras the
same way.

numpy in -> numpy out (float64); torch in -> torch out, batched over the leading dimensions, on the
input's device, differentiable, without a host sync (so without checks on values: callers that need
det(N) > 0 check it themselves where a check is cheap). torch is never imported here.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import numpy as np

__all__ = ["mirror_camera", "move_camera", "rot_z", "rq_2x2"]

Array = TypeVar("Array")  # numpy array or torch tensor


def _namespace(x: Any) -> Any:
    """The array module of x: torch for a tensor (torch is then imported already), else numpy."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(x, torch.Tensor) else np


def rq_2x2(N: Array) -> tuple[Array, Array]:
    """N [...,2,2] with det > 0 -> (U [...,2,2] upper triangular with positive diagonal, phi [...]
    rad) such that N = U @ R(phi), R(phi) = [[cos, -sin], [sin, cos]].

    R's second row is (sin phi, cos phi) = (c, d) / r for N's second row (c, d), r = |(c, d)|; then
    U = [[det / r, (a c + b d) / r], [0, r]]. With det <= 0 (a mirror) U's first diagonal entry
    is <= 0: a mirror is no rotation, so mirror first (as `augment.flip_horizontal` does).
    """
    xp = _namespace(N)
    if xp is np:
        N = np.asarray(N, np.float64)
    a, b, c, d = N[..., 0, 0], N[..., 0, 1], N[..., 1, 0], N[..., 1, 1]
    r = xp.hypot(c, d)
    det = a * d - b * c
    U = xp.stack([xp.stack([det / r, (a * c + b * d) / r], -1), xp.stack([xp.zeros_like(r), r], -1)], -2)
    return U, xp.arctan2(c, d)


def rot_z(phi: Array | float) -> Array:
    """phi [...] rad -> [...,3,3] rotation about the camera z axis by phi (x towards y, i.e.
    clockwise on screen, the rotation R(phi) of `rq_2x2` in 3D)."""
    xp = _namespace(phi)
    c, s = xp.cos(phi), xp.sin(phi)
    o, i = xp.zeros_like(c), xp.ones_like(c)
    return xp.stack([xp.stack([c, -s, o], -1), xp.stack([s, c, o], -1), xp.stack([o, o, i], -1)], -2)


def move_camera(A: Array, K: Array) -> tuple[Array, Array]:
    """(K' [...,3,3], R3 [...,3,3]) for pixels moved by A [...,2,3] (source px -> destination px)
    seen through the camera K [...,3,3]: rotate camera-frame points by R3 (X -> R3 @ X) and
    project with K' to land exactly on the moved pixels (see the module docstring).

    Needs det(A[..., :2]) > 0 (no mirror; see `rq_2x2`). Both arguments are numpy or both torch
    (same dtype and device for torch).
    """
    xp = _namespace(K)
    if xp is np:
        A, K = np.asarray(A, np.float64), np.asarray(K, np.float64)
    M, t = A[..., :2], A[..., 2]
    U, phi = rq_2x2(M @ K[..., :2, :2])
    K_new = xp.zeros_like(K)
    K_new[..., :2, :2] = U
    K_new[..., :2, 2] = (M @ K[..., :2, 2:3])[..., 0] + t
    K_new[..., 2, 2] = 1
    return K_new, rot_z(phi)


def mirror_camera(K: Array, width: Array | float) -> Array:
    """K [...,3,3] of an image mirrored left-right (x' = width - 1 - x; width [...] px): the skew and
    the principal point's x flip. Camera-frame points then have x negated:
    project(X * (-1, 1, 1), K') == mirrored project(X, K). Keeps K's dtype (a copy)."""
    out = K.copy() if _namespace(K) is np else K.clone()
    out[..., 0, 2] = width - 1 - K[..., 0, 2]
    out[..., 0, 1] = -K[..., 0, 1]
    return out
