"""Teacher v2: teacher v1's hands plus the hands its whole-image palm detector misses.

Why: v1 (MediaPipe Hands' static-image pipeline, `HandTeacher`) finds hands that fill a fair part
of the photo; on whole-body photos most hands are a few percent of the image and are missed, so
labelled sets lose exactly the small, distant hands a detector must learn. v2 adds two searches:
1. tiles: the palm detector on overlapping square tiles at several scales (`smhr.teacher.tiles`);
2. pose: hand crops from people's wrists, index and little-finger points (MediaPipe's person
   detector + pose landmark model + hand re-crop model, as Holistic does; `smhr.teacher.pose`).
Each candidate crop goes through the same hand landmark model and must (a) have presence >= 0.5
and (b) agree with itself under a horizontal flip: the crop and its mirror image must give the
same landmarks (mean distance <= `flip_tolerance` of the crop), which rejects the texture and
face crops that the landmark model half-believes. Candidates that repeat a hand already kept
(keypoint boxes overlapping by IoU > `dup_iou`, or a crop mostly over a kept hand) are dropped,
so v1's hands come out unchanged and first, and no hand is listed twice.
Last, a pose crop the landmark model rejected becomes a *box-level* hand (`smhr.teacher.boxhand`:
side and box from the body's hand points, keypoints only a template) when the body points are
visible and the hand is small (<= `box_max_side` px, where the landmark model fails on real photos)
and it overlaps no hand already kept.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np

from smhr.teacher.boxhand import BOX_MAX_SIDE, BOX_MIN_VISIBILITY, box_hand
from smhr.teacher.model import LANDMARK_INPUT, HandTeacher, TeacherHand, teacher_files
from smhr.teacher.palm import iou, weighted_nms
from smhr.teacher.pose import PoseHandRegion, PoseHands
from smhr.teacher.rects import HandRect, crop, palm_to_hand_rect, project_landmarks, rotate_world
from smhr.teacher.tiles import palms_in_rect, tile_rects

__all__ = ["TEACHER_VERSIONS", "HandTeacherV2", "make_teacher", "model_files"]

TEACHER_VERSIONS = ("v1", "v2")
POSE_FILES = {
    "pose_detection": "pose_detection.onnx",
    "pose_landmark": "pose_landmark_full.onnx",
    "hand_recrop": "hand_recrop.onnx",
}


def model_files(version: str) -> list[Path]:
    """The bundled ONNX files a teacher version runs (recorded with their sha256 in label files)."""
    if version not in TEACHER_VERSIONS:
        raise ValueError(f"teacher version {version!r} unknown; choose one of {', '.join(TEACHER_VERSIONS)}")
    files = list(teacher_files())
    if version == "v2":
        root = importlib.resources.files("smhr") / "assets" / "teacher"
        files += [Path(str(root / f)) for f in POSE_FILES.values()]
    return files


def _kp_box(kp: np.ndarray) -> np.ndarray:
    """(xmin, ymin, width, height) of keypoints, as `palm.iou` takes."""
    lo, hi = kp.min(0), kp.max(0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float64)


class HandTeacherV2:
    """v1 + tiles + pose-derived hand crops, flip-checked and merged (module docstring).

    max_hands: palms per detector run (v1's and each tile's); max_people: people whose hands are
    searched; tile_scales / tile_overlap / min_tile: the tiling (`tile_rects`); flip_tolerance:
    largest mean landmark disagreement under a flip, as a fraction of the crop; dup_iou: keypoint-
    box IoU above which a candidate repeats a kept hand; box_max_side: largest box-level hand (px;
    0 = none); box_min_visibility: the body's hand points must be at least this visible."""

    version = "v2"

    def __init__(
        self,
        max_hands: int = 4,
        max_people: int = 4,
        tile_scales: tuple[int, ...] = (2,),
        tile_overlap: float = 1.2,
        min_tile: float = 128.0,
        flip_tolerance: float = 0.05,
        dup_iou: float = 0.3,
        min_palm_score: float = 0.5,
        min_presence: float = 0.5,
        threads: int = 1,
        box_max_side: float = BOX_MAX_SIDE,
        box_min_visibility: float = BOX_MIN_VISIBILITY,
    ) -> None:
        self.v1 = HandTeacher(max_hands, min_palm_score, min_presence, threads)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        files = dict(zip(POSE_FILES, model_files("v2")[2:], strict=True))
        sessions = {
            k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            for k, p in files.items()
        }
        self.pose = PoseHands(sessions, max_people=max_people)
        self.max_hands = max_hands
        self.tile_scales, self.tile_overlap, self.min_tile = tile_scales, tile_overlap, min_tile
        self.flip_tolerance, self.dup_iou = flip_tolerance, dup_iou
        self.min_palm_score, self.min_presence = min_palm_score, min_presence
        self.box_max_side, self.box_min_visibility = box_max_side, box_min_visibility
        self.last_presence = 0.0  # the landmark model's presence in the last crop `candidate` ran

    def settings(self) -> dict[str, float]:
        """The box-level hand settings, recorded in a label file's meta.json (a v2 file without
        them was labelled before box-level hands existed)."""
        return {"box_max_side": self.box_max_side, "box_min_visibility": self.box_min_visibility}

    def _landmarks(self, x: np.ndarray) -> list[np.ndarray]:
        s = self.v1.landmarks
        return s.run(None, {s.get_inputs()[0].name: x[None]})

    def candidate(
        self, image: np.ndarray, rect: HandRect, origin: str, score: float, box: np.ndarray
    ) -> TeacherHand | None:
        """The hand in one crop, or None when it is absent (presence) or flip-inconsistent."""
        x = crop(image, rect, LANDMARK_INPUT).astype(np.float32) / 255.0
        lm, presence, handed, world = self._landmarks(x)
        presence = self.last_presence = float(presence.reshape(-1)[0])
        if presence < self.min_presence:
            return None
        lm_m, presence_m, _, _ = self._landmarks(np.ascontiguousarray(x[:, ::-1]))
        if float(presence_m.reshape(-1)[0]) < self.min_presence:
            return None
        a, b = lm.reshape(21, 3)[:, :2], lm_m.reshape(21, 3)[:, :2].copy()
        b[:, 0] = LANDMARK_INPUT - b[:, 0]
        flip_err = float(np.linalg.norm(a - b, axis=1).mean() / LANDMARK_INPUT)
        if flip_err > self.flip_tolerance:
            return None
        pts = project_landmarks(lm.reshape(21, 3), rect, LANDMARK_INPUT)
        return TeacherHand(
            keypoints2d=pts[:, :2],
            depth=pts[:, 2],
            world=rotate_world(world.reshape(21, 3), rect),
            presence=presence,
            right_prob=float(handed.reshape(-1)[0]),
            palm_score=score,
            palm_box=np.asarray(box, np.float32),
            rect=rect,
            origin=origin,
            flip_err=flip_err,
        )

    def candidates(
        self, image: np.ndarray
    ) -> list[tuple[HandRect, str, float, np.ndarray, PoseHandRegion | None]]:
        """(crop, origin, score, box px, pose region or None) of every tile palm and pose hand
        crop. Tile palms of all tiles go through one weighted NMS (a hand seen by two overlapping
        tiles is one palm)."""
        H, W = image.shape[:2]
        palms = []
        for t in tile_rects((W, H), self.tile_scales, self.tile_overlap, self.min_tile):
            palms += palms_in_rect(
                self.v1.palm, self.v1.anchors, image, t, self.min_palm_score, self.max_hands
            )
        out = []
        for p in weighted_nms(palms):
            box = np.array([p.box[0] * W, p.box[1] * H, (p.box[0] + p.box[2]) * W, (p.box[1] + p.box[3]) * H])
            out.append((palm_to_hand_rect(p, (W, H)), "tile", p.score, box, None))
        _, regions = self.pose(image)
        for r in regions:
            c = r.rect.corners()
            out.append((r.rect, "pose", r.wrist_visibility, np.concatenate([c.min(0), c.max(0)]), r))
        return out

    @staticmethod
    def _covered(rect: HandRect, kept: list[TeacherHand]) -> bool:
        """Skip a crop without running the landmark model when it would find a kept hand again
        (its centre in the hand's keypoint box, at a similar size)."""
        for h in kept:
            x1, y1, x2, y2 = h.box
            size = max(x2 - x1, y2 - y1)
            if x1 <= rect.cx <= x2 and y1 <= rect.cy <= y2 and 0.5 * size <= rect.width / 2.0 <= 4.0 * size:
                return True
        return False

    @staticmethod
    def _repeats(rect: HandRect, tried: list[HandRect], wh: tuple[int, int]) -> bool:
        """A crop already tried (axis boxes overlapping by IoU > 0.5): its answer would be the same."""
        box = rect.axis_box(wh)
        return any(iou(box, t.axis_box(wh)) > 0.5 for t in tried)

    def box_hands(
        self, rejected: list[tuple[PoseHandRegion, float]], kept: list[TeacherHand], wh: tuple[int, int]
    ) -> list[TeacherHand]:
        """Box-level hands of the pose crops the landmark model rejected ((region, presence)), in
        order; one whose box centre lies in a kept hand's box, or whose box overlaps one (IoU >
        `dup_iou`), is the same hand and is dropped."""
        out: list[TeacherHand] = []
        if self.box_max_side <= 0:
            return out
        for region, presence in rejected:
            h = box_hand(region, presence, wh, self.box_max_side, min_visibility=self.box_min_visibility)
            if h is None:
                continue
            c = (h.box[:2] + h.box[2:]) / 2.0
            if any(
                (k.box[0] <= c[0] <= k.box[2] and k.box[1] <= c[1] <= k.box[3])
                or iou(_kp_box(h.keypoints2d), _kp_box(k.keypoints2d)) > self.dup_iou
                for k in kept + out
            ):
                continue
            out.append(h)
        return out

    def __call__(self, image: np.ndarray) -> list[TeacherHand]:
        """v1's hands (unchanged, first), then the extra hands found by tiles and pose, then the
        box-level hands (`box_hands`)."""
        H, W = image.shape[:2]
        hands = self.v1(image)
        tried = [h.rect for h in hands]
        rejected: list[tuple[PoseHandRegion, float]] = []
        for rect, origin, score, box, region in self.candidates(image):
            if self._covered(rect, hands):
                continue
            if self._repeats(rect, tried, (W, H)):
                if region is not None:
                    rejected.append((region, 0.0))
                continue
            tried.append(rect)
            h = self.candidate(image, rect, origin, score, box)
            if h is None:
                if region is not None:
                    rejected.append((region, self.last_presence))
                continue
            if any(iou(_kp_box(h.keypoints2d), _kp_box(k.keypoints2d)) > self.dup_iou for k in hands):
                continue
            hands.append(h)
        return hands + self.box_hands(rejected, hands, (W, H))


def make_teacher(version: str = "v2", max_hands: int = 4, threads: int = 1) -> HandTeacher | HandTeacherV2:
    """The teacher of a version: "v1" = `HandTeacher` (MediaPipe Hands' static-image pipeline,
    exact), "v2" = `HandTeacherV2`."""
    if version not in TEACHER_VERSIONS:
        raise ValueError(f"teacher version {version!r} unknown; choose one of {', '.join(TEACHER_VERSIONS)}")
    if version == "v1":
        return HandTeacher(max_hands=max_hands, threads=threads)
    return HandTeacherV2(max_hands=max_hands, threads=threads)
