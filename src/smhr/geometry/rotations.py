"""Rotation representations used by the hand model, the heads and the losses.

Thin wrappers over `roma` (which handles the small-angle and near-pi cases carefully) so the rest of
the package names one convention, written once:

- axis-angle (rotation vector) `aa`: [..., 3], direction = axis, norm = angle in radians;
- rotation matrix `R`: [..., 3, 3], acting on column vectors (x' = R x);
- 6D (Zhou et al., CVPR 2019): [..., 6] = concat(R[..., :, 0], R[..., :, 1]), i.e. the FIRST TWO
  COLUMNS, column 0 first. Decoding uses Gram-Schmidt, so any 6-vector with two independent halves
  maps to a proper rotation (the representation is continuous, hence friendly to regression);
- quaternion: [..., 4] in (x, y, z, w) order, roma's convention (scalar LAST).

All functions accept any number of leading dims and keep dtype/device. Gradients are finite at the
identity (zero rotation), which matters because flat hand poses sit exactly there.
"""

from __future__ import annotations

import roma
import torch

__all__ = [
    "aa_to_matrix",
    "aa_to_quat",
    "aa_to_rot6d",
    "matrix_to_aa",
    "matrix_to_quat",
    "matrix_to_rot6d",
    "mirror_axis_angle",
    "quat_to_aa",
    "quat_to_matrix",
    "rot6d_to_aa",
    "rot6d_to_matrix",
]


def _check_last(x: torch.Tensor, n: int, name: str) -> None:
    if x.shape[-1] != n:
        raise ValueError(f"{name}: expected last dim {n}, got shape {tuple(x.shape)}")


def aa_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] (radians) -> rotation matrix [..., 3, 3] (Rodrigues, Taylor near 0)."""
    _check_last(aa, 3, "aa_to_matrix")
    return roma.rotvec_to_rotmat(aa)


def matrix_to_aa(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix [..., 3, 3] -> axis-angle [..., 3] with angle in [0, pi]."""
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_aa: expected [..., 3, 3], got shape {tuple(R.shape)}")
    return roma.rotmat_to_rotvec(R)


def matrix_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix [..., 3, 3] -> 6D [..., 6] = (first column, second column)."""
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_rot6d: expected [..., 3, 3], got shape {tuple(R.shape)}")
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """6D [..., 6] -> rotation matrix [..., 3, 3] by Gram-Schmidt on the two 3-vectors.

    Column 0 = normalise(a); column 1 = normalise(b - (b.c0) c0); column 2 = c0 x c1 (det = +1).
    """
    _check_last(x, 6, "rot6d_to_matrix")
    cols = torch.stack([x[..., :3], x[..., 3:]], dim=-1)  # [..., 3, 2]
    return roma.special_gramschmidt(cols)


def aa_to_rot6d(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] -> 6D [..., 6]."""
    return matrix_to_rot6d(aa_to_matrix(aa))


def rot6d_to_aa(x: torch.Tensor) -> torch.Tensor:
    """6D [..., 6] -> axis-angle [..., 3]."""
    return matrix_to_aa(rot6d_to_matrix(x))


def aa_to_quat(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] -> unit quaternion [..., 4] (x, y, z, w)."""
    _check_last(aa, 3, "aa_to_quat")
    return roma.rotvec_to_unitquat(aa)


def quat_to_aa(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion [..., 4] (x, y, z, w) -> axis-angle [..., 3]."""
    _check_last(q, 4, "quat_to_aa")
    return roma.unitquat_to_rotvec(q)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion [..., 4] (x, y, z, w) -> rotation matrix [..., 3, 3] (q is renormalised)."""
    _check_last(q, 4, "quat_to_matrix")
    return roma.unitquat_to_rotmat(roma.quat_normalize(q))


def matrix_to_quat(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix [..., 3, 3] -> unit quaternion [..., 4] (x, y, z, w)."""
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_quat: expected [..., 3, 3], got shape {tuple(R.shape)}")
    return roma.rotmat_to_unitquat(R)


def mirror_axis_angle(aa: torch.Tensor) -> torch.Tensor:
    """Mirror rotations across the x = 0 plane: (a, b, c) -> (a, -b, -c), shape [..., 3].

    With the reflection S = diag(-1, 1, 1), S R(aa) S = R(mirror(aa)): this maps a right-hand pose to
    the equivalent left-hand pose (and back), as in MANO's left/right relation.
    """
    _check_last(aa, 3, "mirror_axis_angle")
    sign = aa.new_tensor([1.0, -1.0, -1.0])
    return aa * sign
