"""Image-plane affine transforms (crop, scale, rotate, letterbox) that keep pixels, 2D keypoints and
intrinsics K consistent.

Every transform is a 3x3 matrix A in homogeneous pixel coordinates (last row 0 0 1) mapping SOURCE
pixels to DESTINATION pixels: [u', v', 1]^T = A [u, v, 1]^T. Functions that take an affine also
accept the 2x3 form (the top two rows, what cv2.warpAffine wants).

Pixel-centre convention (OpenCV's): pixel (i, j) covers the square [j - 0.5, j + 0.5] x
[i - 0.5, i + 0.5], so pixel centres sit at integer coordinates and a W-pixel-wide image spans
u in [-0.5, W - 0.5]. `cv2.warpAffine` uses the same convention, so an image warped with A and
keypoints moved with `apply_to_points(A, uv)` agree exactly. Intrinsics K are expressed in this
convention too (the principal point of a centred camera is ((W - 1) / 2, (H - 1) / 2)).

K update: projecting then warping equals projecting with A @ K (`apply_to_K`). The product is a
proper upper-triangular intrinsics matrix when A has no in-plane rotation (scale + translation:
letterbox, axis-aligned crops). With rotation, `split_camera_rotation` factors A @ K = K' R_z with
K' upper triangular and R_z a rotation about the optical axis, so points rotated by R_z and projected
with K' land on the warped pixels (what `geometry.cameras.project` needs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.linalg
import torch

__all__ = [
    "Letterbox",
    "apply_to_K",
    "apply_to_points",
    "as_3x3",
    "crop_transform",
    "invert",
    "letterbox",
    "split_camera_rotation",
    "warp_image",
]


def as_3x3(A: np.ndarray) -> np.ndarray:
    """Return the affine as a float64 3x3 matrix (accepts 2x3 or 3x3)."""
    A = np.asarray(A, dtype=np.float64)
    if A.shape == (2, 3):
        return np.vstack([A, [0.0, 0.0, 1.0]])
    if A.shape == (3, 3):
        if not np.allclose(A[2], [0.0, 0.0, 1.0]):
            raise ValueError(f"affine must have last row [0, 0, 1], got {A[2].tolist()}")
        return A
    raise ValueError(f"affine must be 2x3 or 3x3, got shape {A.shape}")


@dataclass(frozen=True)
class Letterbox:
    """Resize-keep-aspect-and-pad to a square network input of side `size`.

    A: 3x3 source->network pixel affine; scale: network px per source px; pad: (left, top) padding
    in network pixels (the continuous image edge -0.5 lands at pad - 0.5).
    """

    A: np.ndarray
    scale: float
    pad: tuple[float, float]
    size: int

    @property
    def inverse(self) -> np.ndarray:
        """3x3 network->source affine (un-letterbox predictions with this)."""
        return invert(self.A)


def letterbox(image_hw: tuple[int, int], size: int) -> Letterbox:
    """Letterbox an H x W image into a size x size square, centred, aspect ratio kept.

    The longer side fills the square exactly; the shorter side is padded equally on both sides.
    """
    H, W = int(image_hw[0]), int(image_hw[1])
    if H <= 0 or W <= 0 or size <= 0:
        raise ValueError(f"letterbox: image_hw and size must be positive, got {image_hw}, {size}")
    s = size / float(max(H, W))
    pad_x = (size - s * W) / 2.0
    pad_y = (size - s * H) / 2.0
    # continuous coords: (u + 0.5) * s + pad - 0.5  (edges -0.5 -> pad - 0.5)
    A = np.array(
        [[s, 0.0, pad_x + 0.5 * s - 0.5], [0.0, s, pad_y + 0.5 * s - 0.5], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )
    return Letterbox(A=A, scale=s, pad=(pad_x, pad_y), size=int(size))


def crop_transform(
    center: tuple[float, float], size: float, out_size: int, rotation_deg: float = 0.0
) -> np.ndarray:
    """3x3 affine mapping a square crop (side `size` source px, centred at `center` = (u, v) px)
    onto an out_size x out_size image, with the content rotated by `rotation_deg`.

    Positive angles turn the content clockwise on screen (v points down), e.g. +90 deg sends a point
    right of the centre to below it.

    Precisely: dst = s * Rot(rotation_deg) (src - center) + c_out with s = out_size / size,
    Rot(theta) = [[cos, -sin], [sin, cos]] in (u right, v down) pixel axes and
    c_out = (out_size - 1) / 2 the output centre under the pixel-centre convention.
    """
    if size <= 0 or out_size <= 0:
        raise ValueError(f"crop_transform: size and out_size must be positive, got {size}, {out_size}")
    s = out_size / float(size)
    th = math.radians(rotation_deg)
    M = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = np.asarray(center, dtype=np.float64)
    t = (out_size - 1) / 2.0 - M @ c
    A = np.eye(3)
    A[:2, :2] = M
    A[:2, 2] = t
    return A


def invert(A: np.ndarray) -> np.ndarray:
    """Inverse of an affine (3x3 in, 3x3 out)."""
    return np.linalg.inv(as_3x3(A))


def apply_to_points(A: np.ndarray, uv: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Move pixel points [..., 2] by A. numpy in -> numpy out; torch in -> torch out (same dtype/device,
    differentiable w.r.t. uv)."""
    A3 = as_3x3(A)
    if isinstance(uv, torch.Tensor):
        At = torch.as_tensor(A3, dtype=uv.dtype, device=uv.device)
        return uv @ At[:2, :2].T + At[:2, 2]
    uv = np.asarray(uv)
    return uv @ A3[:2, :2].T + A3[:2, 2]


def apply_to_K(A: np.ndarray, K: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:  # noqa: N802
    """New camera matrix A @ K for pixels moved by A; K is [..., 3, 3] (numpy or torch).

    Exact for any affine: project-with-(A @ K) == apply_to_points(A, project-with-K). It is a proper
    intrinsics matrix (upper triangular) only when A has no rotation; otherwise use
    `split_camera_rotation`.
    """
    A3 = as_3x3(A)
    if isinstance(K, torch.Tensor):
        return torch.as_tensor(A3, dtype=K.dtype, device=K.device) @ K
    return A3 @ np.asarray(K, dtype=np.float64)


def split_camera_rotation(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factor a 3x3 camera matrix P (e.g. apply_to_K(A, K) with a rotated crop) as P = K' @ R.

    K' is upper triangular with positive diagonal and K'[2, 2] = 1; R is a proper rotation. For an
    affine A (last row 0 0 1) R is a rotation about the optical (z) axis. Use: rotate camera-frame
    points by R (x -> R x) and project with K'.
    """
    P = np.asarray(P, dtype=np.float64)
    if P.shape != (3, 3) or np.linalg.det(P) <= 0:
        raise ValueError("split_camera_rotation: need a 3x3 matrix with positive determinant")
    Kq, R = scipy.linalg.rq(P)
    D = np.diag(np.sign(np.diag(Kq)))  # make diag(K') positive; D @ D = I
    Kq, R = Kq @ D, D @ R
    scale = Kq[2, 2]
    return Kq / scale, R


def warp_image(img: np.ndarray, A: np.ndarray, out_size: int | tuple[int, int], *,
               interpolation: int = cv2.INTER_LINEAR, border_value: float = 0.0) -> np.ndarray:
    """Warp an image [H, W] or [H, W, C] by A (source -> destination) with cv2.warpAffine.

    out_size: side of a square output, or (W, H). Pixel centres at integer coordinates (OpenCV),
    consistent with `apply_to_points`. Use interpolation=cv2.INTER_NEAREST for masks.
    """
    if isinstance(out_size, int):
        out_size = (out_size, out_size)
    A2 = as_3x3(A)[:2]
    return cv2.warpAffine(img, A2, (int(out_size[0]), int(out_size[1])), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
