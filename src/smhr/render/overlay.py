"""Pictures of predictions: shaded meshes alpha-blended over a photo, 2D skeletons, a side view.

Torch-free (meshes are painted by `smhr.render.painter`), so the demo never imports PyTorch.

numpy in, numpy out (HxWx3 uint8 RGB), so the demo, the training logs and notebooks share one look:
left hands blue, right hands orange, bones coloured per finger (thumb red .. little violet).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from smhr.hands.keypoints import BONES
from smhr.render.painter import paint_hands

__all__ = ["FINGER_RGB", "SIDE_RGB", "draw_skeleton", "overlay_hands"]

SIDE_RGB = {0: (90, 150, 255), 1: (255, 160, 70)}  # left, right
FINGER_RGB = [(230, 60, 60), (240, 190, 20), (60, 200, 80), (30, 170, 240), (170, 80, 240)]


def draw_skeleton(image: np.ndarray, keypoints2d: np.ndarray, *, color: tuple[int, int, int] | None = None,
                  radius: int = 2) -> np.ndarray:
    """Draw 21 FreiHAND-order keypoints [21,2] (px) and their 20 bones on a copy of `image`."""
    out = np.ascontiguousarray(image.copy())
    kp = np.asarray(keypoints2d, np.float64).reshape(21, 2)
    if not np.isfinite(kp).all():
        return out
    thick = max(1, radius // 2 + 1)
    for n, (a, b) in enumerate(BONES):
        c = color or FINGER_RGB[n // 4]
        cv2.line(out, (round(kp[a, 0]), round(kp[a, 1])), (round(kp[b, 0]), round(kp[b, 1])), c, thick,
                 cv2.LINE_AA)
    for k in range(21):
        c = color or ((255, 255, 255) if k == 0 else FINGER_RGB[(k - 1) // 4])
        cv2.circle(out, (round(kp[k, 0]), round(kp[k, 1])), radius, c, -1, cv2.LINE_AA)
    return out


def _side_view(vertices: Sequence[np.ndarray], K: np.ndarray) -> list[np.ndarray]:
    """The hands turned 90 degrees about the vertical axis through their joint centroid."""
    allv = np.concatenate([np.asarray(v, np.float64) for v in vertices])
    c = allv.mean(0)
    R = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # +90 deg about y
    return [((np.asarray(v, np.float64) - c) @ R.T + c).astype(np.float32) for v in vertices]


def overlay_hands(
    image: np.ndarray, vertices: Sequence[np.ndarray], faces: Sequence[np.ndarray], K: np.ndarray, *,
    keypoints2d: Sequence[np.ndarray] | None = None, sides: Sequence[int] | None = None,
    alpha: float = 0.6, side_view: bool = False,
) -> np.ndarray:
    """Shaded hand meshes blended over `image` (HxWx3 uint8 RGB) with optional skeletons; with
    side_view, the same hands seen from their side are appended on the right (same height, grey
    background). vertices: per hand [V,3] camera-frame metres for intrinsics K [3,3]."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"overlay_hands: image must be HxWx3 uint8 RGB, got {img.shape} {img.dtype}")
    H, W = img.shape[:2]
    colours = [SIDE_RGB[int(s)] for s in (sides if sides is not None else [1] * len(vertices))]
    rgb, cover = paint_hands(vertices, faces, K, (H, W), colours)
    out = img.copy()
    out[cover] = ((1 - alpha) * img[cover] + alpha * rgb[cover]).round().astype(np.uint8)
    for kp in keypoints2d or []:
        out = draw_skeleton(out, kp, radius=max(1, round(min(H, W) / 150)))
    if not side_view:
        return out
    panel = np.full((H, W, 3), 60, np.uint8)
    if len(vertices):
        srgb, scover = paint_hands(_side_view(vertices, K), faces, K, (H, W), colours)
        panel[scover] = srgb[scover]
    return np.concatenate([out, panel], axis=1)
