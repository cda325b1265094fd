"""Box-level hands: a hand placed by the body's wrist, index and little-finger points alone.

Why: on whole-body photos most hands are 10-40 px. Teacher v2's pose path puts a crop on them, but
the hand landmark model rejects nearly all such crops (presence 0.00-0.02 on COCO-WholeBody's
small hands even with a crop cut from the human labels; on 147 pose crops whose hand we estimate
under 40 px, 2 were accepted), so without this they stay unlabelled, and a detector trained or
scored on those labels is taught that they are background. A *box-level* hand records what the
body model does know: that a hand is there (the person's wrist, index and little-finger points
are visible), which side it is (the arm's), and roughly where (a box). Its 21 keypoints are a
template, not a measurement: consumers use the box and side only (`TeacherHand.level == "box"`,
`level: "box"` in a label file; docs/real-photos.md).

The template: the median of 227 hands the landmark model did find from a pose crop (subhih,
capston2, dwivedi, ragadag photos), each keypoint written in the frame of the body's points:
origin the wrist, u = wrist -> the middle-finger guess (2 index + little) / 3 (as MediaPipe
Holistic guesses it), v = u turned 90 degrees towards the index side. Coordinates (a, b) mean
wrist + a u + b v, so the template follows the arm's direction, scale and which side the thumb is.
"""

from __future__ import annotations

import numpy as np

from smhr.teacher.model import TeacherHand
from smhr.teacher.pose import PoseHandRegion

__all__ = [
    "BOX_MAX_SIDE",
    "BOX_MIN_SIDE",
    "BOX_MIN_VISIBILITY",
    "TEMPLATE_UV",
    "box_hand",
    "template_keypoints",
]

# (a, b) of the 21 keypoints (FreiHAND order) in the body-point frame (module docstring)
TEMPLATE_UV = np.array(
    [
        [0.08, 0.00], [0.35, 0.36], [0.82, 0.55], [1.21, 0.45], [1.44, 0.25],
        [1.40, 0.39], [1.88, 0.42], [1.99, 0.44], [2.24, 0.44],
        [1.38, 0.07], [1.89, 0.07], [2.01, 0.14], [2.21, 0.17],
        [1.28, -0.20], [1.68, -0.23], [1.66, -0.13], [1.57, -0.07],
        [1.08, -0.46], [1.37, -0.47], [1.20, -0.39], [1.10, -0.34],
    ]
)
BOX_MAX_SIDE = 40.0  # px: larger hands are within the landmark model's reach; a rejection there is no hand
BOX_MIN_SIDE = 12.0  # px: smaller boxes are below what the body points place reliably
# the body's wrist, index and little-finger visibility must all reach it: an eye check of the first
# 28 box-level hands of capston2-scenes at 0.5 found a visible hand in 13 (46 %), in 9 of the 15 at
# >= 0.8 (60 %; the rest: hands in pockets, sleeves, behind the body, and 2 under 12 px)
BOX_MIN_VISIBILITY = 0.8


def template_keypoints(wrist: np.ndarray, pinky: np.ndarray, index: np.ndarray) -> np.ndarray:
    """[21, 2] px: the template hand placed by the body's wrist, little-finger and index points."""
    wrist, pinky, index = (np.asarray(p, np.float64).reshape(2) for p in (wrist, pinky, index))
    u = (2.0 * index + pinky) / 3.0 - wrist
    v = np.array([-u[1], u[0]])
    if u[0] * (index - pinky)[1] - u[1] * (index - pinky)[0] < 0:  # v towards the index side
        v = -v
    return wrist + TEMPLATE_UV[:, :1] * u + TEMPLATE_UV[:, 1:] * v


def box_hand(
    region: PoseHandRegion,
    presence: float,
    image_wh: tuple[int, int],
    max_side: float = BOX_MAX_SIDE,
    min_side: float = BOX_MIN_SIDE,
    min_visibility: float = BOX_MIN_VISIBILITY,
) -> TeacherHand | None:
    """A box-level `TeacherHand` for a pose region the landmark model rejected (its `presence`
    there is recorded), or None: body points missing or not visible enough (wrist, little and
    index finger >= `min_visibility`), the template's box outside [min_side, max_side] px on its
    long side, or its centre outside the image. Side = the arm's; palm_score = the lowest of the
    three visibilities."""
    if region.points is None or region.visibility is None:
        return None
    vis = float(np.min(region.visibility[:3]))
    if vis < min_visibility:
        return None
    kp = template_keypoints(region.points[0], region.points[1], region.points[2])
    lo, hi = kp.min(0), kp.max(0)
    side = float(max(hi - lo))
    cx, cy = (lo + hi) / 2.0
    W, H = image_wh
    if not (min_side <= side <= max_side) or not (0 <= cx <= W - 1 and 0 <= cy <= H - 1):
        return None
    c = region.rect.corners()
    return TeacherHand(
        keypoints2d=kp.astype(np.float32),
        depth=np.zeros(21, np.float32),
        world=np.zeros((21, 3), np.float32),
        presence=float(presence),
        right_prob=1.0 if region.person_side == "right" else 0.0,
        palm_score=vis,
        palm_box=np.concatenate([c.min(0), c.max(0)]).astype(np.float32),
        rect=region.rect,
        origin="pose-box",
        level="box",
    )
