"""Hand regions from MediaPipe's body-pose models: people -> 33 body landmarks -> a crop per hand.

Why: the palm detector sees the whole photo at 192x192, so a hand of a person standing in a
room (20 px in a 640 px photo) is a few pixels at its input and is missed. MediaPipe Holistic finds
such hands from the body instead: the person detector (224x224) finds people, the pose landmark
model (256x256 crop per person) places wrists, index and little-finger points, and those give a
rotated hand crop that a tiny "re-crop" network tightens before the hand landmark model runs.
This module re-implements those steps of MediaPipe 0.10.21's graphs (`pose_detection_cpu`,
`pose_landmark_by_roi_cpu`, `holistic_landmark/hand_landmarks_from_pose_*`, `hand_recrop_by_roi`)
in NumPy; the three networks run in onnxruntime (files and provenance in `smhr/assets/teacher/`).
Unlike Holistic (first person only) every detected person is used, best first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smhr.teacher.palm import PalmDetection, decode_palms, palm_anchors, remove_letterbox, weighted_nms
from smhr.teacher.rects import HandRect, crop, letterbox_rect, normalize_radians, project_landmarks
from smhr.teacher.warp import BORDER_ZERO

__all__ = [
    "HAND_POINTS",
    "THUMB_POINT",
    "PoseHandRegion",
    "PosePerson",
    "decode_pose_landmarks",
    "hand_rect_from_pose",
    "pose_detection_rect",
    "recrop_rect",
    "rect_from_points",
    "refine_from_heatmap",
    "transform_rect",
]

POSE_INPUT = 224  # person detector input (letterboxed whole image, values in [-1, 1])
POSE_STRIDES = (8, 16, 32, 32, 32)  # 2254 anchors
POSE_KEYPOINTS = 4  # hip centre, full-body scale point, shoulder centre, upper-body scale point
POSE_LANDMARK_INPUT = 256
POSE_LANDMARKS = 39  # 33 body landmarks + 6 auxiliary (2 used for tracking, unused here)
RECROP_INPUT = 256
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
POSE_PRESENCE = 0.5  # the landmark model's pose flag must exceed this
WRIST_VISIBILITY = 0.1  # Holistic drops a hand whose pose wrist visibility is not above this
# pose landmark indices (wrist, little finger, index finger) per side of the *person*: the person's
# anatomical side, the same convention as `TeacherHand.side` (checked: on 227 pose crops whose hand
# the landmark model accepted, the arm's side and the landmark model's side agree on 96 %)
HAND_POINTS = {"left": (15, 17, 19), "right": (16, 18, 20)}
THUMB_POINT = {"left": 21, "right": 22}


@dataclass
class PosePerson:
    """One person: landmarks [33, 2] image px, visibility [33] in [0, 1], presence (pose flag),
    detection score and the rotated crop the landmarks were read in."""

    landmarks: np.ndarray
    visibility: np.ndarray
    presence: float
    score: float
    rect: HandRect


@dataclass
class PoseHandRegion:
    """A hand crop derived from a person's pose: `rect` is where the hand landmark model should
    look; `person_side` is the person's "left" / "right" arm it came from; `wrist_visibility` the
    pose model's visibility of that wrist; `person` the index of the person (best first);
    `points` [4, 2] px the body's wrist, little-finger, index-finger and thumb landmarks of that
    arm and `visibility` [4] theirs (what a box-level hand is placed by, `smhr.teacher.boxhand`)."""

    rect: HandRect
    person_side: str
    wrist_visibility: float
    person: int
    points: np.ndarray | None = None
    visibility: np.ndarray | None = None


def rect_from_points(center: np.ndarray, scale_point: np.ndarray, target_angle: float) -> HandRect:
    """MediaPipe's alignment-points rectangle: centred on `center` (px), side twice the distance to
    `scale_point`, rotated so that center -> scale_point points at `target_angle` (radians)."""
    (x0, y0), (x1, y1) = np.asarray(center, np.float64), np.asarray(scale_point, np.float64)
    side = 2.0 * math.hypot(x1 - x0, y1 - y0)
    rotation = normalize_radians(target_angle - math.atan2(-(y1 - y0), x1 - x0))
    return HandRect(float(x0), float(y0), side, side, rotation)


def transform_rect(rect: HandRect, scale: float, shift_y: float = 0.0) -> HandRect:
    """MediaPipe's rectangle transformation: shift by `shift_y` heights (before scaling) along the
    rectangle's own y axis (negative: towards its top), make it square on its long side (px),
    scale both sides."""
    c, s = math.cos(rect.rotation), math.sin(rect.rotation)
    cx = rect.cx - rect.height * shift_y * s
    cy = rect.cy + rect.height * shift_y * c
    side = max(rect.width, rect.height) * scale
    return HandRect(cx, cy, side, side, rect.rotation)


def pose_detection_rect(d: PalmDetection, image_wh: tuple[int, int]) -> HandRect:
    """The person crop of a detection (normalised to the image): centred on the hip centre, side
    2.5x the hip -> full-body-point distance, rotated so that the body points up."""
    W, H = image_wh
    scale = np.array([W, H], np.float64)
    r = rect_from_points(d.keypoints[0] * scale, d.keypoints[1] * scale, math.pi / 2)
    return transform_rect(r, 1.25)


def refine_from_heatmap(
    xy: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = HEATMAP_KERNEL,
    min_conf: float = HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """Landmarks [N, 2] normalised to the crop, moved to the sigmoid-weighted mean cell of a
    kernel x kernel window of their heatmap [h, w, N] (cell index / size, as MediaPipe) when the
    window's peak is at least `min_conf`; landmarks outside the heatmap stay."""
    hm_h, hm_w, _ = heatmap.shape
    out = np.array(xy, np.float64)
    off = (kernel - 1) // 2
    for i, (x, y) in enumerate(np.asarray(xy, np.float32)):
        # float32 product truncated toward zero, as the C++ `int col = x * width`
        col, row = int(x * np.float32(hm_w)), int(y * np.float32(hm_h))
        if not (0 <= col < hm_w and 0 <= row < hm_h):
            continue
        r0, r1 = max(0, row - off), min(hm_h, row + off + 1)
        c0, c1 = max(0, col - off), min(hm_w, col + off + 1)
        conf = 1.0 / (1.0 + np.exp(-heatmap[r0:r1, c0:c1, i].astype(np.float64)))
        total = conf.sum()
        if conf.max() >= min_conf and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i] = [(cols * conf).sum() / hm_w / total, (rows * conf).sum() / hm_h / total]
    return out


def decode_pose_landmarks(raw: np.ndarray, heatmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose landmark outputs -> (landmarks [39, 2] normalised to the crop, refined by the heatmap;
    visibility [39] = sigmoid of the model's visibility logit)."""
    v = np.asarray(raw, np.float32).reshape(POSE_LANDMARKS, 5)
    xy = refine_from_heatmap(
        v[:, :2] / np.float32(POSE_LANDMARK_INPUT), np.asarray(heatmap).reshape(64, 64, POSE_LANDMARKS)
    )
    return xy, 1.0 / (1.0 + np.exp(-v[:, 3]))


def hand_rect_from_pose(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray) -> HandRect:
    """Holistic's hand search region from three pose points (px): the middle finger is guessed at
    (2 index + pinky) / 3; the rectangle is centred there, its side twice the wrist distance,
    fingers up, then moved 0.1 of that side towards the fingers and enlarged 2.7x."""
    wrist, pinky, index = (np.asarray(p, np.float64) for p in (wrist, pinky, index))
    middle = (2.0 * index + pinky) / 3.0
    side = 2.0 * float(np.hypot(*(middle - wrist)))
    rotation = normalize_radians(math.pi / 2 - math.atan2(-(middle[1] - wrist[1]), middle[0] - wrist[0]))
    return transform_rect(
        HandRect(float(middle[0]), float(middle[1]), side, side, rotation), 2.7, shift_y=-0.1
    )


def recrop_rect(points: np.ndarray) -> HandRect:
    """The re-crop network's two points (px: crop centre, scale point) -> the hand landmark crop:
    side twice their distance, rotated so that centre -> scale point points down (-90 degrees),
    moved 0.1 of its side towards the fingers."""
    r = rect_from_points(points[0], points[1], -math.pi / 2)
    return transform_rect(r, 1.0, shift_y=-0.1)


class PoseHands:
    """Runs the person detector, the pose landmark model and the hand re-crop model (onnxruntime
    sessions) and returns hand crops; see the module docstring."""

    def __init__(self, sessions: dict[str, object], max_people: int = 4, min_score: float = 0.5) -> None:
        self.detector = sessions["pose_detection"]
        self.landmarker = sessions["pose_landmark"]
        self.recropper = sessions["hand_recrop"]
        self.anchors = palm_anchors(POSE_INPUT, POSE_STRIDES)
        self.max_people = max_people
        self.min_score = min_score

    @staticmethod
    def _run(session: object, x: np.ndarray) -> list[np.ndarray]:
        return session.run(None, {session.get_inputs()[0].name: x[None]})  # type: ignore[attr-defined]

    def detect_people(self, image: np.ndarray) -> list[PalmDetection]:
        """People (normalised detections with 4 keypoints), best first, at most max_people."""
        H, W = image.shape[:2]
        roi, padding = letterbox_rect((W, H))
        x = crop(image, roi, POSE_INPUT, border=BORDER_ZERO).astype(np.float32) * np.float32(2.0 / 255.0)
        reg, logits = self._run(self.detector, x - np.float32(1.0))
        found = decode_palms(reg[0], logits[0], self.anchors, self.min_score, POSE_INPUT, POSE_KEYPOINTS)
        return [remove_letterbox(d, padding) for d in weighted_nms(found)[: self.max_people]]

    def person(self, image: np.ndarray, detection: PalmDetection) -> PosePerson | None:
        """Body landmarks of one detected person, or None when the pose flag is not above 0.5."""
        H, W = image.shape[:2]
        rect = pose_detection_rect(detection, (W, H))
        x = crop(image, rect, POSE_LANDMARK_INPUT).astype(np.float32) / np.float32(255.0)
        raw, flag, heatmap = self._run(self.landmarker, x)[:3]
        presence = float(np.asarray(flag).reshape(-1)[0])
        if not presence > POSE_PRESENCE:
            return None
        xy, vis = decode_pose_landmarks(raw, heatmap)
        pts = project_landmarks(np.c_[xy * POSE_LANDMARK_INPUT, np.zeros(len(xy))], rect, POSE_LANDMARK_INPUT)
        return PosePerson(pts[:33, :2], vis[:33].astype(np.float32), presence, detection.score, rect)

    def recrop(self, image: np.ndarray, rect: HandRect) -> HandRect:
        """The re-crop network's tightened hand crop inside a pose-derived search region."""
        x = crop(image, rect, RECROP_INPUT).astype(np.float32) / np.float32(255.0)
        pts = np.asarray(self._run(self.recropper, x)[0], np.float64).reshape(2, 2)
        img = project_landmarks(np.c_[pts, np.zeros(2)], rect, RECROP_INPUT)[:, :2]
        return recrop_rect(img)

    def __call__(self, image: np.ndarray) -> tuple[list[PosePerson], list[PoseHandRegion]]:
        """People and their hand crops (both arms of each person whose wrist is visible enough)."""
        people = [p for d in self.detect_people(image) if (p := self.person(image, d)) is not None]
        regions = []
        for k, p in enumerate(people):
            for side, (w, pinky, index) in HAND_POINTS.items():
                if not p.visibility[w] > WRIST_VISIBILITY:
                    continue
                search = hand_rect_from_pose(p.landmarks[w], p.landmarks[pinky], p.landmarks[index])
                if search.width < 1.0:
                    continue
                idx = [w, pinky, index, THUMB_POINT[side]]
                regions.append(
                    PoseHandRegion(
                        self.recrop(image, search), side, float(p.visibility[w]), k,
                        p.landmarks[idx].astype(np.float64), p.visibility[idx].astype(np.float64),
                    )
                )
        return people, regions
