"""A hand's canonical crop: the square patch around its 21 keypoints, turned so the wrist is below
the middle finger's knuckle, for the side classifier (`smhr.model.side_net`, `smhr.runtime.side_check`).

Why canonical: left and right differ by which side the thumb is on *and* by whether the palm or the
back faces the camera; a crop that always points up leaves only those two cues to learn, not the
hand's roll in the photo. The crop spans the keypoints' box in the turned frame times `CROP_MARGIN`
(the skin around the joints: nails, knuckles, palm creases), so a close-up and a 20-px hand give
the same framing. Training (teacher keypoints) and inference (the network's local keypoints) use
this one function, so the classifier sees at run time the framing it was trained on.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CROP_MARGIN", "CROP_SIZE", "canonical_crop_affine", "crop_hands"]

CROP_SIZE = 96  # px; the bundled side classifier's input (its ONNX file records its own)
CROP_MARGIN = 1.25  # crop side / the longer side of the turned keypoint box
WRIST, MIDDLE_MCP = 0, 9


def canonical_crop_affine(keypoints: np.ndarray, size: int = CROP_SIZE,
                          margin: float = CROP_MARGIN) -> np.ndarray:  # fmt: skip
    """2x3 affine (image px -> crop px) of one hand's keypoints [21,2]: wrist -> middle knuckle points
    up (-y), the turned keypoint box centred, its longer side * margin = `size`. A hand whose wrist
    and knuckle coincide keeps its orientation; a box under 1 px counts as 1 px."""
    kp = np.asarray(keypoints, np.float64).reshape(-1, 2)
    up = kp[MIDDLE_MCP] - kp[WRIST]
    angle = np.arctan2(up[0], -up[1]) if np.hypot(*up) > 1e-6 else 0.0
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, s], [-s, c]])  # turns `up` onto (0, -|up|)
    turned = kp @ R.T
    lo, hi = turned.min(0), turned.max(0)
    scale = size / (max(float((hi - lo).max()), 1.0) * margin)
    A = np.empty((2, 3))
    A[:, :2] = R * scale
    A[:, 2] = size / 2 - scale * (lo + hi) / 2
    return A


def crop_hands(image: np.ndarray, keypoints: np.ndarray, size: int = CROP_SIZE,
               margin: float = CROP_MARGIN) -> np.ndarray:  # fmt: skip
    """Canonical crops uint8 [n,size,size,C] of an HxWxC image at hands' keypoints [n,21,2] (image
    px); outside the image is black, as the letterbox's padding."""
    kps = np.asarray(keypoints, np.float64).reshape(-1, 21, 2)
    out = np.zeros((len(kps), size, size, image.shape[2]), np.uint8)
    for i, kp in enumerate(kps):
        out[i] = cv2.warpAffine(image, canonical_crop_affine(kp, size, margin), (size, size),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out
