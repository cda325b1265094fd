"""Rotated hand rectangles of the 2D teacher: palm -> hand crop, crop warp, landmark projection.

Re-implements the documented MediaPipe Hands (0.10.21) graph settings in numpy/OpenCV:
- a palm becomes a rectangle rotated so that wrist -> middle-finger MCP points up (target angle
  90 degrees), shifted by half its height towards the fingers, made square on its long side in
  pixels and enlarged 2.6 times (`palm_to_hand_rect`);
- overlapping hand rectangles (IoU > 0.5 of their unrotated boxes) keep the later one
  (`associate_rects`);
- a rectangle is cut out by the perspective map that takes its four corners to the corners of the
  output tensor (`rect_transform`, `crop`), and landmarks in the crop are rotated back
  (`project_landmarks`).
A rectangle here is `HandRect`: centre, size in image pixels, rotation in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from smhr.teacher.palm import PalmDetection, iou
from smhr.teacher.warp import BORDER_REPLICATE, warp_perspective_fixed

__all__ = [
    "HandRect",
    "associate_rects",
    "crop",
    "letterbox_rect",
    "palm_to_hand_rect",
    "project_landmarks",
    "rect_transform",
    "rotate_world",
]

TARGET_ANGLE = math.pi / 2  # wrist -> middle MCP should point up in the crop
RECT_SCALE = 2.6
RECT_SHIFT_Y = -0.5
ASSOCIATION_IOU = 0.5


@dataclass
class HandRect:
    """A rotated rectangle in image pixels: centre (cx, cy), size (width, height), rotation rad
    (positive = clockwise on screen, as OpenCV's RotatedRect angle)."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0

    def corners(self) -> np.ndarray:
        """[4, 2] corners in the order bottom-left, top-left, top-right, bottom-right of the
        unrotated rectangle (cv2.boxPoints)."""
        box = ((self.cx, self.cy), (self.width, self.height), math.degrees(self.rotation))
        return cv2.boxPoints(box).astype(np.float32)

    def axis_box(self, image_wh: tuple[int, int]) -> np.ndarray:
        """(xmin, ymin, width, height) normalised by the image size, rotation ignored (what
        MediaPipe compares when it associates rectangles)."""
        W, H = image_wh
        return np.array(
            [
                (self.cx - self.width / 2) / W,
                (self.cy - self.height / 2) / H,
                self.width / W,
                self.height / H,
            ],
            np.float32,
        )


def normalize_radians(angle: float) -> float:
    """Angle wrapped into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def letterbox_rect(image_wh: tuple[int, int]) -> tuple[HandRect, tuple[float, float, float, float]]:
    """The whole image grown to a square (centred) and its padding fractions (left, top, right,
    bottom) of the square: the region the palm detector sees."""
    W, H = image_wh
    side = float(max(W, H))
    pad_x, pad_y = (1.0 - W / side) / 2, (1.0 - H / side) / 2
    return HandRect(W / 2.0, H / 2.0, side, side), (pad_x, pad_y, pad_x, pad_y)


def palm_to_hand_rect(palm: PalmDetection, image_wh: tuple[int, int]) -> HandRect:
    """The hand crop of a palm (normalised to the image): see the module docstring."""
    W, H = image_wh
    x0, y0 = palm.keypoints[0, 0] * W, palm.keypoints[0, 1] * H
    x1, y1 = palm.keypoints[2, 0] * W, palm.keypoints[2, 1] * H
    rotation = normalize_radians(TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    w, h = float(palm.box[2]), float(palm.box[3])  # normalised
    cx, cy = float(palm.box[0]) + w / 2, float(palm.box[1]) + h / 2
    # shift along the rotated y axis by RECT_SHIFT_Y heights (in pixels, then normalised back)
    cx += (-H * h * RECT_SHIFT_Y * math.sin(rotation)) / W
    cy += (H * h * RECT_SHIFT_Y * math.cos(rotation)) / H
    side = max(w * W, h * H) * RECT_SCALE
    return HandRect(cx * W, cy * H, side, side, rotation)


def associate_rects(
    rects: list[HandRect], image_wh: tuple[int, int], threshold: float = ASSOCIATION_IOU
) -> list[HandRect]:
    """Drop rectangles that overlap a later one by more than `threshold` (later ones win)."""
    kept: list[HandRect] = []
    for r in rects:
        box = r.axis_box(image_wh)
        kept = [k for k in kept if iou(k.axis_box(image_wh), box) <= threshold]
        kept.append(r)
    return kept


def rect_transform(rect: HandRect, out_size: int) -> np.ndarray:
    """[3, 3] perspective map from image pixels to an out_size x out_size crop of `rect` (its
    corners go to the crop's corners (0, out), (0, 0), (out, 0), (out, out))."""
    dst = np.array([[0, out_size], [0, 0], [out_size, 0], [out_size, out_size]], np.float32)
    return cv2.getPerspectiveTransform(rect.corners(), dst)


def crop(image: np.ndarray, rect: HandRect, out_size: int, border: str = BORDER_REPLICATE) -> np.ndarray:
    """The out_size x out_size crop of `rect` from an HxWx3 uint8 image (bilinear, uint8; outside
    the image: nearest edge pixel, as MediaPipe's landmark crop, or zero for the palm letterbox)."""
    return warp_perspective_fixed(image, rect_transform(rect, out_size), (out_size, out_size), border)


def project_landmarks(points: np.ndarray, rect: HandRect, crop_size: int) -> np.ndarray:
    """Landmarks [N, 3] in crop pixels (x, y, z) -> image pixels (x, y) and z scaled like x.

    x, y rotate about the crop centre by the rectangle's rotation and scale to its size; z (the
    model's relative depth, crop px) scales with the rectangle width."""
    p = np.asarray(points, np.float64)
    u = p[:, 0] / crop_size - 0.5
    v = p[:, 1] / crop_size - 0.5
    c, s = math.cos(rect.rotation), math.sin(rect.rotation)
    x = (c * u - s * v) * rect.width + rect.cx
    y = (s * u + c * v) * rect.height + rect.cy
    z = p[:, 2] / crop_size * rect.width
    return np.stack([x, y, z], -1).astype(np.float32)


def rotate_world(world: np.ndarray, rect: HandRect) -> np.ndarray:
    """World landmarks [N, 3] (metres, crop-aligned) rotated about z by the rectangle's rotation,
    so that they are aligned with the image like the 2D landmarks."""
    c, s = math.cos(rect.rotation), math.sin(rect.rotation)
    w = np.asarray(world, np.float64)
    return np.stack([c * w[:, 0] - s * w[:, 1], s * w[:, 0] + c * w[:, 1], w[:, 2]], -1).astype(np.float32)
