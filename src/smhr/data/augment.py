"""Geometric and photometric augmentation that keeps image, masks, keypoints, 3D and K consistent.

The invariant every function here keeps (tested to 1e-3 px):
    project(hand.joints3d, sample.camera_of(hand)) == hand.keypoints2d      (when it held before)
where a hand's camera is its own `HandLabel.K` (multi-hand composites) or else the sample's K; both
move the same way.

Geometric steps
- `flip_horizontal`: x' = W - 1 - x in the image. In 3D the camera-frame x is negated, and
  K' = [[fx, -skew, W - 1 - cx], [0, fy, cy], [0, 0, 1]] so the relation stays exact. A mirrored
  right hand IS a left hand: side becomes 1 - side, and model parameters are mirrored
  (axis-angle (x, y, z) -> (x, -y, -z) for the orientation and every joint; transl x negated,
  exact for a mirror-symmetric left/right model pair such as MANO's).
- `warp`: any 2x3 affine A = [M | t] with det(M) > 0 (crop, scale, rotation, translation, or
  letterbox). Pixels: p' = M p + t (cv2.warpAffine; masks with nearest). For 3D we factor
  M @ K[:2,:2] = U @ Q (RQ decomposition: U upper triangular with positive diagonal, Q a 2D
  rotation by angle phi; `smhr.geometry.affine.move_camera`). Points are rotated about the
  camera's optical (z) axis by phi, X' = Rz(phi) X, and K' = [[U, M c + t], [0, 0, 1]] with c the
  old principal point. Then project(X', K') = U Q x_n + M c + t = M (K x_n) + t = p' exactly, for
  any K (skew included).
  With square pixels (fx = fy, no skew) and a similarity M = s R(theta), this is simply: 3D rotated
  by theta about the optical axis, focal multiplied by s, principal point moved with the image.
  The hand-model orientation is rotated the same way (R' = Rz R). A known `transl` can only be
  re-expressed under a rotation with the model's root joint, so it becomes None when phi != 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from smhr.data.sample import HandParams, Sample
from smhr.geometry.affine import mirror_camera, move_camera

MIRROR_AXIS_ANGLE = np.array([1.0, -1.0, -1.0], np.float32)  # (x, y, z) -> (x, -y, -z)


# ----------------------------------------------------------------------------- flips
def mirror_params(params: HandParams) -> HandParams:
    """Parameters of the mirror image (x -> -x) of a hand, for the other side's model."""
    return HandParams(
        global_orient=params.global_orient * MIRROR_AXIS_ANGLE,
        pose=(params.pose.reshape(-1, 3) * MIRROR_AXIS_ANGLE).reshape(-1),
        betas=params.betas.copy(),
        transl=None if params.transl is None else params.transl * np.array([-1.0, 1.0, 1.0], np.float32),
        model=params.model,
        pose_space=params.pose_space,
    )


def flip_horizontal(sample: Sample) -> Sample:
    """Mirror the image left-right; hands swap side (see module docstring for K and 3D)."""
    out = sample.copy()
    W = sample.hw[1]
    out.image = np.ascontiguousarray(sample.image[:, ::-1])
    if sample.mask is not None:
        out.mask = np.ascontiguousarray(sample.mask[:, ::-1])
    if out.K is not None:
        out.K = mirror_camera(out.K, W)
    neg_x = np.array([-1.0, 1.0, 1.0], np.float32)
    for h in out.hands:
        h.side = 1 - h.side
        h.keypoints2d[:, 0] = W - 1 - h.keypoints2d[:, 0]
        if h.K is not None:
            h.K = mirror_camera(h.K, W)
        if h.joints3d is not None:
            h.joints3d *= neg_x
        if h.vertices is not None:
            h.vertices *= neg_x
        if h.params is not None:
            h.params = mirror_params(h.params)
        if h.bbox is not None:
            h.bbox = flip_boxes(h.bbox[None], W)[0]
    out.ignore = flip_boxes(out.ignore, W)
    out.meta["flipped"] = not sample.meta.get("flipped", False)
    return out


def flip_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    """[N,4] x1,y1,x2,y2 boxes of an image `width` px wide, mirrored left-right."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.stack([width - 1 - b[:, 2], b[:, 1], width - 1 - b[:, 0], b[:, 3]], 1).astype(np.float32)


# ----------------------------------------------------------------------------- affine warps
def moved_camera(A: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K' [3,3] float32, R3 [3,3] float64) of the camera K after the image moved by the 2x3 affine A
    (`smhr.geometry.affine.move_camera`); a mirroring A is refused (use `flip_horizontal`)."""
    N = A[:, :2] @ np.asarray(K, np.float64)[:2, :2]
    if not N[0, 0] * N[1, 1] - N[0, 1] * N[1, 0] > 0:
        raise ValueError(f"affine warp must preserve orientation (det > 0); got linear part {N.tolist()}")
    K_new, R3 = move_camera(A, K)
    return K_new.astype(np.float32), R3


def transform_points(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to [N,2] pixels."""
    return (points.astype(np.float64) @ A[:, :2].T + A[:, 2]).astype(np.float32)


def warp(sample: Sample, A: np.ndarray, out_size: tuple[int, int], image: np.ndarray | None = None) -> Sample:
    """Warp a sample by the 2x3 affine A (src px -> dst px) into an image of out_size = (W, H).
    image: the already warped pixels, when the caller resampled them its own way (`letterbox`)."""
    A = np.asarray(A, np.float64).reshape(2, 3)
    out = sample.copy()
    if image is None:
        image = cv2.warpAffine(sample.image, A, out_size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    out.image = image
    if sample.mask is not None:
        out.mask = cv2.warpAffine(sample.mask, A, out_size, flags=cv2.INTER_NEAREST, borderValue=0)
    R3_sample = np.eye(3)
    if sample.K is not None:
        out.K, R3_sample = moved_camera(A, sample.K)
    for h in out.hands:
        R3 = R3_sample
        if h.K is not None:  # a hand with its own camera turns with that camera
            h.K, R3 = moved_camera(A, h.K)
        rotated = not np.allclose(R3, np.eye(3))
        h.keypoints2d = transform_points(A, h.keypoints2d)
        if h.joints3d is not None:
            h.joints3d = (h.joints3d.astype(np.float64) @ R3.T).astype(np.float32)
        if h.vertices is not None:
            h.vertices = (h.vertices.astype(np.float64) @ R3.T).astype(np.float32)
        if h.params is not None and rotated:
            R = R3 @ Rotation.from_rotvec(h.params.global_orient.astype(np.float64)).as_matrix()
            h.params.global_orient = Rotation.from_matrix(R).as_rotvec().astype(np.float32)
            h.params.transl = None
        if h.bbox is not None:
            h.bbox = warp_boxes(A, h.bbox[None])[0]
    out.ignore = warp_boxes(A, out.ignore)
    return out


def warp_boxes(A: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """[N,4] x1,y1,x2,y2 boxes -> the axis-aligned boxes around their four warped corners."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], 1)  # [N,4,2]
    warped = transform_points(A, corners.reshape(-1, 2)).reshape(-1, 4, 2)
    return np.concatenate([warped.min(1), warped.max(1)], 1).astype(np.float32)


def crop_affine(center: tuple[float, float], size: float, rotation_deg: float, out_size: int) -> np.ndarray:
    """2x3 affine taking a square of side `size` px centred at `center`, rotated by rotation_deg,
    to an out_size x out_size image (pixel-centre convention: the square's edges land on -0.5 and
    out_size - 0.5)."""
    s = out_size / float(size)
    th = math.radians(rotation_deg)
    M = s * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    c = np.asarray(center, np.float64)
    t = (out_size / 2.0 - 0.5) - M @ c
    return np.concatenate([M, t[:, None]], axis=1)


def letterbox(sample: Sample, out_size: int) -> tuple[Sample, np.ndarray]:
    """A whole sample in the network frame: the pixels of THE letterbox
    (`smhr.geometry.letterbox.letterbox_image`, what inference feeds the network) and every label
    and camera moved by its affine; returns the sample and the 3x3 original->network affine."""
    from smhr.geometry.letterbox import letterbox_image

    pixels, A = letterbox_image(sample.image, out_size)
    return warp(sample, A[:2], (out_size, out_size), image=pixels), A


def hands_box(sample: Sample) -> np.ndarray | None:
    """[4] x1,y1,x2,y2 px around the visible keypoints (or boxes) of all hands; None without any."""
    pts = []
    for h in sample.hands:
        if h.visibility.any():
            pts.append(h.keypoints2d[h.visibility])
        elif h.bbox is not None:
            pts.append(h.bbox.reshape(2, 2))
    if not pts:
        return None
    p = np.concatenate(pts)
    return np.concatenate([p.min(0), p.max(0)]).astype(np.float32)


# ----------------------------------------------------------------------------- colour
def color_jitter(
    image: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.3,
    contrast: float = 0.3,
    saturation: float = 0.3,
    hue: float = 0.05,
) -> np.ndarray:
    """Random brightness / contrast / saturation gains in [1-x, 1+x] and a hue shift in
    [-hue, hue] of a full turn, on an HxWx3 uint8 RGB image; returns uint8."""
    img = image.astype(np.float32)
    if brightness > 0:
        img *= rng.uniform(1 - brightness, 1 + brightness)
    if contrast > 0:
        mean = (img @ np.array([0.299, 0.587, 0.114], np.float32)).mean()
        img = (img - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    if saturation > 0:
        grey = (img @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        img = (img - grey) * rng.uniform(1 - saturation, 1 + saturation) + grey
    img = np.clip(img, 0, 255).astype(np.uint8)
    if hue > 0:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # uint8 hue in [0, 180)
        shift = round(rng.uniform(-hue, hue) * 180)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return img


# ----------------------------------------------------------------------------- random pipeline
@dataclass
class AugmentConfig:
    """Random crop / rotate / flip / colour settings.

    hand_fraction: the hands' joint box side as a fraction of the crop side, drawn uniformly
    (official single-hand: 0.3-0.6). rotation_deg: max |rotation| (official: 40). translate:
    max centre jitter as a fraction of the crop side. flip_prob: horizontal flip (side swap)
    probability. color_prob: probability of colour jitter. max_crop: the crop side is at most this
    times the image's longer side (None: unbounded), so zooming out on a photo whose hands are
    already small does not shrink the whole photo into a sea of padding.
    """

    out_size: int = 224
    hand_fraction: tuple[float, float] = (0.3, 0.6)
    rotation_deg: float = 40.0
    translate: float = 0.05
    flip_prob: float = 0.0
    color_prob: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.05
    max_crop: float | None = None


def random_affine(sample: Sample, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Draw the crop affine for one sample: around all hands (or the whole image without hands)."""
    H, W = sample.hw
    box = hands_box(sample)
    if box is None:
        center = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
        size = max(H, W) * rng.uniform(0.7, 1.0)
    else:
        center = (box[:2] + box[2:]) / 2.0
        side = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
        size = side / rng.uniform(*cfg.hand_fraction)
        if cfg.max_crop is not None:
            size = min(size, cfg.max_crop * max(H, W))
    center = center + rng.uniform(-cfg.translate, cfg.translate, size=2) * size
    rotation = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
    return crop_affine((float(center[0]), float(center[1])), size, rotation, cfg.out_size)


def augment(sample: Sample, rng: np.random.Generator, cfg: AugmentConfig | None = None) -> Sample:
    """Random flip, crop/scale/rotate/translate to cfg.out_size, then colour jitter."""
    cfg = cfg or AugmentConfig()
    if rng.random() < cfg.flip_prob:
        sample = flip_horizontal(sample)
    out = warp(sample, random_affine(sample, rng, cfg), (cfg.out_size, cfg.out_size))
    if rng.random() < cfg.color_prob:
        out.image = color_jitter(out.image, rng, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
    return out
