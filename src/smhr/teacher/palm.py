"""Palm detection post-processing of the 2D teacher: SSD anchors, box decoding, weighted NMS.

Why our own code: the teacher's networks are MediaPipe Hands' models (run by onnxruntime), but the
steps around them live in MediaPipe's C++ graph. These functions re-implement the documented
settings of `palm_detection_cpu` (mediapipe 0.10.21) in numpy, so labelling needs neither a
mediapipe nor a TensorFlow runtime. All coordinates here are *normalised* to the 192x192 network
input ([0, 1] across the letterboxed square) until `remove_letterbox` maps them to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PALM_INPUT",
    "PalmDetection",
    "decode_palms",
    "iou",
    "palm_anchors",
    "remove_letterbox",
    "weighted_nms",
]

PALM_INPUT = 192  # network input side (px)
PALM_STRIDES = (8, 16, 16, 16)  # SsdAnchorsCalculator: 4 layers; layers of equal stride share a grid
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 plus the interpolated scale (also ratio 1.0)
NUM_PALM_KEYPOINTS = 7  # wrist, index MCP, middle MCP, ring MCP, little MCP, thumb CMC, thumb MCP
SCORE_CLIP = 100.0  # raw logits are clipped to +-100 before the sigmoid
NMS_IOU = 0.3


@dataclass
class PalmDetection:
    """One palm: score in [0, 1]; box [4] = xmin, ymin, width, height; keypoints [7, 2] (x, y).

    Normalised coordinates: of the letterboxed network input before `remove_letterbox`, of the
    image after it."""

    score: float
    box: np.ndarray
    keypoints: np.ndarray


def palm_anchors(input_size: int = PALM_INPUT, strides: tuple[int, ...] = PALM_STRIDES) -> np.ndarray:
    """[N, 2] anchor centres (x, y), normalised, in the order of the network's 2016 outputs.

    Fixed-size anchors (width = height = 1), so only centres matter: consecutive layers of one
    stride are merged into one grid with 2 anchors per layer per cell (2 for stride 8, 6 for the
    three stride-16 layers), cells in row-major order, offset 0.5 cell.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 0
        while layer < len(strides) and strides[layer] == stride:
            same += 1
            layer += 1
        side = math.ceil(input_size / stride)
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        grid = np.stack([(xs + 0.5) / side, (ys + 0.5) / side], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, ANCHORS_PER_LAYER * same, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


def decode_palms(
    regressors: np.ndarray,
    logits: np.ndarray,
    anchors: np.ndarray,
    min_score: float = 0.5,
    input_size: int = PALM_INPUT,
    num_keypoints: int = NUM_PALM_KEYPOINTS,
) -> list[PalmDetection]:
    """Raw network outputs -> palms above `min_score`, normalised to the network input.

    regressors [N, 4 + 2K] (x, y, w, h offsets in input px, then K keypoints (x, y); K = 7 for
    palms, 4 for MediaPipe's person detector, which decodes the same way); logits [N] or [N, 1].
    Box centre = anchor + offset / input_size, size = value / input_size (no exponential).
    """
    reg = np.asarray(regressors, np.float32).reshape(len(anchors), -1)
    raw = np.asarray(logits, np.float32).reshape(-1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw, -SCORE_CLIP, SCORE_CLIP)))
    out = []
    for i in np.flatnonzero(scores >= min_score):
        a = anchors[i]
        cx, cy = reg[i, 0] / input_size + a[0], reg[i, 1] / input_size + a[1]
        w, h = reg[i, 2] / input_size, reg[i, 3] / input_size
        kp = reg[i, 4 : 4 + 2 * num_keypoints].reshape(-1, 2) / input_size + a
        box = np.array([cx - w / 2, cy - h / 2, w, h], np.float32)
        out.append(PalmDetection(float(scores[i]), box, kp.astype(np.float32)))
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (xmin, ymin, width, height) boxes; 0 for empty unions."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def weighted_nms(detections: list[PalmDetection], threshold: float = NMS_IOU) -> list[PalmDetection]:
    """MediaPipe's weighted non-maximum suppression.

    Repeatedly take the best remaining palm; every remaining palm whose IoU with it exceeds
    `threshold` (itself included) joins its cluster, and the output keeps the best score with the
    score-weighted mean of the cluster's box corners and keypoints. Output is in score order.
    """
    remaining = sorted(detections, key=lambda d: -d.score)
    out = []
    while remaining:
        top = remaining[0]
        cluster = [d for d in remaining if iou(d.box, top.box) > threshold]
        remaining = [d for d in remaining if iou(d.box, top.box) <= threshold]
        w = np.array([d.score for d in cluster], np.float64)
        corners = np.array([[d.box[0], d.box[1], d.box[0] + d.box[2], d.box[1] + d.box[3]] for d in cluster])
        c = (corners * w[:, None]).sum(0) / w.sum()
        kp = (np.stack([d.keypoints for d in cluster]) * w[:, None, None]).sum(0) / w.sum()
        box = np.array([c[0], c[1], c[2] - c[0], c[3] - c[1]], np.float32)
        out.append(PalmDetection(top.score, box, kp.astype(np.float32)))
    return out


def remove_letterbox(d: PalmDetection, padding: tuple[float, float, float, float]) -> PalmDetection:
    """Map a palm from the letterboxed input to the image (both normalised).

    padding: (left, top, right, bottom) fractions of the network input that are padding."""
    left, top, right, bottom = padding
    sx, sy = 1.0 - left - right, 1.0 - top - bottom
    box = np.array([(d.box[0] - left) / sx, (d.box[1] - top) / sy, d.box[2] / sx, d.box[3] / sy], np.float32)
    kp = (d.keypoints - np.array([left, top], np.float32)) / np.array([sx, sy], np.float32)
    return PalmDetection(d.score, box, kp.astype(np.float32))
