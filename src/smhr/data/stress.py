"""Stress sets built from labelled real photos: hands that fill the frame, and close-ups without the arm.

Why: on photos from sources never trained on, two framings fail far more than the held-out splits
show: a hand that fills (and is cut by) the frame, and a hand seen without its arm, whose side must
come from the hand alone. Both are made from real single-hand photos by one affine warp each, so
the labels follow exactly and no new photo is needed:

- `frame_filling`: the hand's keypoint box is scaled to s x the frame side, s uniform in
  [0.6, 1.3], its centre moved up to 20 % of the frame off-centre, then the frame shifted to lie
  inside the photo where the photo is large enough; above s = 1 the border cuts the hand.
- `closeup_no_arm`: the image is rotated so the hand points up (wrist -> middle-finger MCP) and
  cropped square with the bottom edge just below the wrist, the hand filling ~85 % of the side;
  nothing of the forearm is left.
- `with_border`: the frame-filling views inside a black border (half their side on every side),
  which tells whether a miss is the framing or the hand.

Keypoints outside the output are invisible (scored by their visible part); `Sample.ignore` regions
(unlabelled hands) follow the warp. Only hands with all 21 keypoints inside the source image and a
keypoint box of at least `min_hand_px` are used, one sample per such single-hand image.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from smhr.data.sample import HandLabel, Sample

__all__ = ["closeup_affine", "closeup_no_arm", "frame_filling", "single_hands", "warp_sample", "with_border"]

WRIST, MIDDLE_MCP = 0, 9


def warp_sample(sample: Sample, A: np.ndarray, size: int, tag: str, black_border: bool = False) -> Sample:
    """`sample` through the 2x3 affine A (source px -> output px) into a size x size image; outside
    the source, its edge pixels are repeated (or black with `black_border`)."""
    import cv2

    A = np.asarray(A, np.float64).reshape(2, 3)
    border = cv2.BORDER_CONSTANT if black_border else cv2.BORDER_REPLICATE
    image = cv2.warpAffine(sample.image, A, (size, size), flags=cv2.INTER_AREA if _zoom(A) < 1
                           else cv2.INTER_LINEAR, borderMode=border, borderValue=(0, 0, 0))
    hands = []
    for h in sample.hands:
        kp = _apply(A, h.keypoints2d)
        inside = (kp >= 0).all(1) & (kp <= size - 1).all(1)
        hands.append(HandLabel(side=h.side, keypoints2d=kp, visibility=h.visibility & inside))
    ignore = []
    for x1, y1, x2, y2 in np.asarray(sample.ignore, np.float64).reshape(-1, 4):
        c = _apply(A, np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]))
        b = np.clip(np.r_[c.min(0), c.max(0)], 0, size - 1)
        if b[2] > b[0] and b[3] > b[1]:
            ignore.append(b)
    return Sample(
        image=image, K=None, hands=hands, ignore=np.asarray(ignore, np.float32).reshape(-1, 4),
        image_path=sample.image_path, source=sample.source, id=f"{sample.id}#{tag}",
        meta={**{k: v for k, v in sample.meta.items() if k != "scale"}, "stress": tag},
    )


def _zoom(A: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(A[:, :2]))))


def _apply(A: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    return (pts @ A[:, :2].T + A[:, 2]).astype(np.float32)


def single_hands(samples: Iterable[Sample], min_hand_px: float = 64.0) -> Iterable[tuple[Sample, HandLabel]]:
    """(sample, hand) for every sample with exactly one labelled hand, fully inside the image and
    at least `min_hand_px` on its keypoint box's longer side."""
    for s in samples:
        if len(s.hands) != 1 or not s.hands[0].visibility.all():
            continue
        kp = s.hands[0].keypoints2d
        if float((kp.max(0) - kp.min(0)).max()) >= min_hand_px:
            yield s, s.hands[0]


def frame_filling(samples: Iterable[Sample], size: int = 256, scale_range: tuple[float, float] = (0.6, 1.3),
                  shift: float = 0.2, seed: int = 0, min_hand_px: float = 64.0) -> list[Sample]:
    """One frame-filling view per usable single-hand sample (see module docstring)."""
    rng = np.random.default_rng(seed)
    out = []
    for s, h in single_hands(samples, min_hand_px):
        lo, hi = h.keypoints2d.min(0), h.keypoints2d.max(0)
        frac = rng.uniform(*scale_range)
        z = frac * size / float((hi - lo).max())
        centre = 0.5 * size + rng.uniform(-shift, shift, 2) * size
        origin = 0.5 * (lo + hi) - centre / z  # the frame's top-left corner in source pixels
        H, W = s.image.shape[:2]
        for d, extent in ((0, W), (1, H)):  # keep the frame inside the photo where it fits
            span = size / z
            origin[d] = np.clip(origin[d], 0, extent - span) if span <= extent else 0.5 * (extent - span)
        A = np.array([[z, 0, -z * origin[0]], [0, z, -z * origin[1]]], np.float64)
        out.append(warp_sample(s, A, size, f"fill{frac:.2f}"))
    return out


def with_border(samples: Iterable[Sample], frac: float = 0.5) -> list[Sample]:
    """Each (square) sample framed by a black border `frac` x its side wide on every side: the
    known remedy for frame-filling hands, measured beside them."""
    out = []
    for s in samples:
        side = s.image.shape[0]
        pad = round(frac * side)
        A = np.array([[1.0, 0, pad], [0, 1.0, pad]])
        out.append(warp_sample(s, A, side + 2 * pad, "border", black_border=True))
    return out


def closeup_affine(keypoints2d: np.ndarray, size: int, fill: float, wrist_margin: float, shift: float,
                   rotation_deg: float) -> np.ndarray | None:
    """2x3 affine (source px -> view px) of a size x size close-up of the hand whose 21 keypoints
    are given (the cut of both the stress close-ups and the training ones,
    `smhr.data.closeups`); None when the hand has no direction (wrist on its middle knuckle)."""
    kp = np.asarray(keypoints2d, np.float64).reshape(21, 2)
    up = kp[MIDDLE_MCP] - kp[WRIST]
    if np.linalg.norm(up) < 1e-6:
        return None
    a = np.arctan2(up[0], -up[1])  # turning by -a points `up` to -y
    R = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    q = kp @ R.T
    top, wrist = q[:, 1].min(), q[WRIST, 1]
    bottom = wrist + wrist_margin * max(wrist - top, 1e-6)
    side = max(bottom - top, q[:, 0].max() - q[:, 0].min()) / fill
    x0 = 0.5 * (q[:, 0].max() + q[:, 0].min()) - (0.5 + shift) * side
    z = size / side
    A = np.vstack([np.hstack([z * R, -z * np.array([[x0], [bottom - side]])]), [0, 0, 1]])
    c = 0.5 * (size - 1)
    t = np.deg2rad(rotation_deg)
    turn = np.array([[np.cos(t), -np.sin(t), c - c * np.cos(t) + c * np.sin(t)],
                     [np.sin(t), np.cos(t), c - c * np.sin(t) - c * np.cos(t)], [0, 0, 1]])
    return (turn @ A)[:2]


def closeup_no_arm(samples: Iterable[Sample], size: int = 256, fill: float = 0.85,
                   min_hand_px: float = 64.0) -> list[Sample]:
    """One upright close-up cut just below the wrist per usable single-hand sample (`closeup_affine`
    without the training close-ups' turn or shift, `smhr.data.closeups`)."""
    out = []
    for s, h in single_hands(samples, min_hand_px):
        A = closeup_affine(h.keypoints2d, size, fill=fill, wrist_margin=0.05, shift=0.0, rotation_deg=0.0)
        if A is not None:
            out.append(warp_sample(s, A, size, "closeup"))
    return out
