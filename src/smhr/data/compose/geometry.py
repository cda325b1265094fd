"""Composition geometry shared by both executions: source -> canvas maps, cameras, visibility.

Every hand k of a composite is one source hand moved by a 2D map A_k = A_sim ∘ F: F is the
optional mirror x' = W_src - 1 - x (a mirrored right hand IS a left hand: side 0, 3D x negated, K
flipped, as `augment.flip_horizontal`), and A_sim = [s R(theta) | t] a similarity that takes the
hand's keypoint-box centre to its layout centre and its box side to its layout size. As in
`augment.warp`, the new camera of hand k is K_k = [[U, M c + t], [0, 0, 1]] with M K[:2,:2] =
U Rz(phi), and its 3D points are rotated by Rz(phi) about the optical axis
(`smhr.geometry.affine.move_camera`), so `project(joints3d_k, K_k) == keypoints2d_k` holds exactly.

Visibility: keypoint j of hand k is visible iff it was visible in the source, lies inside the
canvas, and the instance mask at its (rounded) pixel is not a LATER hand (hands are pasted in slot
order with a hard alpha, warped mask >= 0.5) nor an object held by hand k or a later hand.
"""

from __future__ import annotations

import torch

from smhr.data.compose.layout import Layout
from smhr.geometry.affine import mirror_camera, move_camera


def paste_affines(
    layout: Layout, keypoints2d: torch.Tensor, visibility: torch.Tensor, src_width: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source -> canvas maps of every slot.

    keypoints2d [B,M,21,2] px and visibility [B,M,21] of each slot's source hand (unmirrored),
    src_width [B,M] source image widths px. Returns (A [B,M,2,3], A_sim [B,M,2,3]): A maps source
    pixels to the canvas (mirror included, det < 0 when mirrored), A_sim is its similarity part
    (applied after the mirror). The keypoint box uses the visible keypoints (all when none is);
    for slots with `layout.fill` set, `layout.size` is the side of the box after the rotation.
    """
    dt = keypoints2d.dtype
    W = src_width.to(dt)
    sign = torch.where(layout.mirror, -1.0, 1.0).to(dt)
    kp = keypoints2d.clone()
    kp[..., 0] = torch.where(layout.mirror[..., None], W[..., None] - 1 - kp[..., 0], kp[..., 0])
    vis = visibility & visibility.any(-1, keepdim=True) | ~visibility.any(-1, keepdim=True)
    big = torch.finfo(dt).max
    lo = torch.where(vis[..., None], kp, torch.full_like(kp, big)).amin(-2)
    hi = torch.where(vis[..., None], kp, torch.full_like(kp, -big)).amax(-2)
    c = (lo + hi) / 2
    side = (hi - lo).amax(-1).clamp(min=1.0)
    cos, sin = torch.cos(layout.angle.to(dt)), torch.sin(layout.angle.to(dt))
    if layout.fill is not None and bool(layout.fill.any()):  # size of the rotated box instead
        d = kp - c[..., None, :]
        rot = torch.stack([cos[..., None] * d[..., 0] - sin[..., None] * d[..., 1],
                           sin[..., None] * d[..., 0] + cos[..., None] * d[..., 1]], -1)  # fmt: skip
        lo_r = torch.where(vis[..., None], rot, torch.full_like(rot, big)).amin(-2)
        hi_r = torch.where(vis[..., None], rot, torch.full_like(rot, -big)).amax(-2)
        side = torch.where(layout.fill, (hi_r - lo_r).amax(-1).clamp(min=1.0), side)
    s = layout.size.to(dt) / side
    Ms = torch.stack([torch.stack([s * cos, -s * sin], -1), torch.stack([s * sin, s * cos], -1)], -2)
    ts = layout.center.to(dt) - (Ms @ c[..., None])[..., 0]
    A_sim = torch.cat([Ms, ts[..., None]], -1)
    # A = A_sim o F, F(x, y) = (sign x + (1 - sign)/2 (W - 1), y)
    Mf = Ms.clone()
    Mf[..., :, 0] = Ms[..., :, 0] * sign[..., None]
    tf = ts + Ms[..., :, 0] * ((1 - sign) / 2 * (W - 1))[..., None]
    return torch.cat([Mf, tf[..., None]], -1), A_sim


def place_cameras(
    A_sim: torch.Tensor, mirror: torch.Tensor, K: torch.Tensor, src_width: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """New per-hand intrinsics and the 3D rotation of each pasted hand.

    A_sim [...,2,3], mirror [...] bool, K [...,3,3] source intrinsics, src_width [...] px.
    Returns (K_new [...,3,3], R3 [...,3,3]) such that the hand's camera-frame points X become
    X' = R3 @ diag(-1 if mirror else 1, 1, 1) @ X and project(X', K_new) == A(project(X, K)).
    The mirror and the move are `smhr.geometry.affine.mirror_camera` and `move_camera`, as in
    `augment.flip_horizontal` and `augment.warp`.
    """
    dt = A_sim.dtype
    K = K.to(dt)
    Kf = torch.where(mirror[..., None, None], mirror_camera(K, src_width.to(dt)), K)
    return move_camera(A_sim, Kf)


def apply_affine(A: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """A [...,2,3], points [...,N,2] -> [...,N,2]."""
    return points @ A[..., :2].transpose(-1, -2) + A[..., None, :, 2]


def keypoint_visibility(
    keypoints2d: torch.Tensor,
    src_visibility: torch.Tensor,
    valid: torch.Tensor,
    instance: torch.Tensor,
    occluder: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Visibility [B,M,21] and 'outside' [B,M,21] of canvas keypoints [B,M,21,2].

    instance [B,H,W] long: 0 background, k+1 = slot k on top. A keypoint is visible when it was
    visible in the source, lies inside the canvas and no LATER slot covers its (rounded) pixel.
    occluder [B,H,W] long or None: k+1 where the object held by slot k is on top (drawn after slot
    k, before slot k+1): it hides the keypoints of slots <= k there, as a later hand would.
    """
    B, M = valid.shape
    H, W = instance.shape[-2:]
    x, y = keypoints2d[..., 0], keypoints2d[..., 1]
    outside = (x < -0.5) | (x >= W - 0.5) | (y < -0.5) | (y >= H - 0.5)
    xi = torch.round(x).long().clamp(0, W - 1)
    yi = torch.round(y).long().clamp(0, H - 1)
    owner = torch.gather(instance.reshape(B, 1, H * W).expand(B, M, H * W), 2, yi * W + xi)
    slot = torch.arange(1, M + 1, device=instance.device).view(1, M, 1)
    covered = owner > slot
    if occluder is not None:
        held = torch.gather(occluder.reshape(B, 1, H * W).expand(B, M, H * W), 2, yi * W + xi)
        covered = covered | (held >= slot)
    vis = src_visibility & ~outside & ~covered & valid[..., None]
    return vis, outside & src_visibility & valid[..., None]
