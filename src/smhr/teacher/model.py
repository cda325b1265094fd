"""`HandTeacher`: MediaPipe Hands' two networks run by onnxruntime, with our own pre/post-processing.

Why a teacher: SMHR is trained with weak 2D supervision. We have no hand-labelled real photos, so
2D keypoints, handedness and boxes for real photos come from a strong public 2D model instead
(MediaPipe Hands, Apache-2.0; the ONNX files and their provenance are in `smhr/assets/teacher/`).
The pipeline follows MediaPipe's static-image graph: palm detection on the whole image letterboxed
to 192x192 in [0, 1] -> weighted NMS -> rotated hand crop per palm -> 224x224 landmark model ->
21 landmarks back in image pixels, a presence score, a handedness score and 21 world landmarks.

Handedness: MediaPipe's label assumes a mirrored (selfie) image. The landmark model's handedness
output is the probability of MediaPipe's "Left" label, which on an ordinary (unmirrored) photo is
a RIGHT hand (checked on FreiHAND and CMU Panoptic images of known side, docs/real-photos.md), so
`TeacherHand.right_prob` is that output unchanged and `side` is 1 (right) when it is >= 0.5.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smhr.teacher.palm import (
    PALM_INPUT,
    PalmDetection,
    decode_palms,
    palm_anchors,
    remove_letterbox,
    weighted_nms,
)
from smhr.teacher.rects import (
    HandRect,
    associate_rects,
    crop,
    letterbox_rect,
    palm_to_hand_rect,
    project_landmarks,
    rotate_world,
)
from smhr.teacher.warp import BORDER_ZERO

__all__ = ["LANDMARK_INPUT", "HandTeacher", "TeacherHand", "teacher_files"]

LANDMARK_INPUT = 224
PALM_FILE = "palm_detection_full.onnx"
LANDMARK_FILE = "hand_landmark_full.onnx"


def teacher_files() -> tuple[Path, Path]:
    """Paths of the bundled (palm detector, landmark model) ONNX files."""
    root = importlib.resources.files("smhr") / "assets" / "teacher"
    return Path(str(root / PALM_FILE)), Path(str(root / LANDMARK_FILE))


@dataclass
class TeacherHand:
    """One hand found by the teacher, in original-image pixels.

    keypoints2d [21, 2] px (FreiHAND order = MediaPipe order); depth [21] relative depth in px
    (same scale as x, wrist-relative up to an offset); world [21, 3] metres, hand-centred (the
    model's world landmarks: x right, y down, z away); presence [0, 1]; right_prob [0, 1] (see
    module docstring); palm_score [0, 1]; palm_box [4] x1, y1, x2, y2 px (the palm detector's box);
    rect the rotated crop the landmarks were read in. origin: how the hand was found ("palm": the
    whole-image palm detector, as teacher v1; "tile": the palm detector on a tile; "pose": a body
    pose's wrist); flip_err: for teacher v2's extra hands, the mean distance between the landmarks
    of the crop and of its mirror image, as a fraction of the crop (None for palm hands).
    level: "keypoints" (the landmark model's 21 keypoints) or "box" (teacher v2's box-level hand,
    origin "pose-box": a hand the body model places but the landmark model cannot read; its
    keypoints are a template placed by the body's hand points, only its box and side are labels,
    and depth / world are zeros; `smhr.teacher.boxhand`).
    """

    keypoints2d: np.ndarray
    depth: np.ndarray
    world: np.ndarray
    presence: float
    right_prob: float
    palm_score: float
    palm_box: np.ndarray
    rect: HandRect
    origin: str = "palm"
    flip_err: float | None = None
    level: str = "keypoints"

    @property
    def side(self) -> int:
        return int(self.right_prob >= 0.5)

    @property
    def box(self) -> np.ndarray:
        """[4] x1, y1, x2, y2 px around the 21 keypoints."""
        return np.concatenate([self.keypoints2d.min(0), self.keypoints2d.max(0)]).astype(np.float32)


class HandTeacher:
    """Finds hands and their 2D landmarks in RGB images (see module docstring).

    max_hands: palms kept after NMS, best first (MediaPipe's `max_num_hands`). min_palm_score:
    palm detection threshold (`min_detection_confidence`, 0.5). min_presence: landmark hand
    presence threshold (0.5). threads: onnxruntime intra-op threads.
    """

    def __init__(
        self,
        max_hands: int = 4,
        min_palm_score: float = 0.5,
        min_presence: float = 0.5,
        threads: int = 1,
        files: tuple[str | Path, str | Path] | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("the 2D teacher needs onnxruntime: pip install 'smhr[label]'") from exc
        palm_path, landmark_path = files or teacher_files()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self.palm = ort.InferenceSession(str(palm_path), opts, providers=providers)
        self.landmarks = ort.InferenceSession(str(landmark_path), opts, providers=providers)
        self.anchors = palm_anchors()
        self.max_hands = max_hands
        self.min_palm_score = min_palm_score
        self.min_presence = min_presence

    def detect_palms(self, image: np.ndarray) -> list[PalmDetection]:
        """Palms in an HxWx3 uint8 RGB image, normalised to the image, best first (<= max_hands)."""
        H, W = image.shape[:2]
        roi, padding = letterbox_rect((W, H))
        x = crop(image, roi, PALM_INPUT, border=BORDER_ZERO).astype(np.float32) / 255.0
        reg, logits = self.palm.run(None, {self.palm.get_inputs()[0].name: x[None]})
        palms = decode_palms(reg[0], logits[0], self.anchors, self.min_palm_score)
        palms = weighted_nms(palms)[: self.max_hands]
        return [remove_letterbox(p, padding) for p in palms]

    def landmarks_in(self, image: np.ndarray, rect: HandRect) -> dict[str, np.ndarray]:
        """Run the landmark model on one rotated crop: raw outputs in crop / model units."""
        x = crop(image, rect, LANDMARK_INPUT).astype(np.float32) / 255.0
        lm, presence, handed, world = self.landmarks.run(None, {self.landmarks.get_inputs()[0].name: x[None]})
        return {
            "landmarks": lm.reshape(21, 3),
            "presence": float(presence.reshape(-1)[0]),
            "handedness": float(handed.reshape(-1)[0]),
            "world": world.reshape(21, 3),
        }

    def __call__(self, image: np.ndarray) -> list[TeacherHand]:
        """Hands in an HxWx3 uint8 RGB image (presence >= min_presence), in palm-score order."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"HandTeacher expects an HxWx3 uint8 RGB image, got {image.shape} {image.dtype}")
        H, W = image.shape[:2]
        palms = self.detect_palms(image)
        rects = [palm_to_hand_rect(p, (W, H)) for p in palms]
        kept = associate_rects(rects, (W, H))
        hands = []
        for p, r in zip(palms, rects, strict=True):
            if not any(r is k for k in kept):
                continue
            out = self.landmarks_in(image, r)
            if out["presence"] < self.min_presence:
                continue
            pts = project_landmarks(out["landmarks"], r, LANDMARK_INPUT)
            box = np.array(
                [p.box[0] * W, p.box[1] * H, (p.box[0] + p.box[2]) * W, (p.box[1] + p.box[3]) * H], np.float32
            )
            hands.append(
                TeacherHand(
                    keypoints2d=pts[:, :2],
                    depth=pts[:, 2],
                    world=rotate_world(out["world"], r),
                    presence=out["presence"],
                    right_prob=out["handedness"],
                    palm_score=p.score,
                    palm_box=box,
                    rect=r,
                )
            )
        return hands
