"""Photo mode's side vote: the photo seen mirrored left-right votes on each hand's side.

Why: a hand cut below the wrist (no arm, no body) is read as left or right from the hand alone,
and the network errs there (bench_real.py's closeup_no_arm row). Mirrored, a left hand becomes a
right hand: the mirrored view is a second, differently-pixelled opinion on the same question, whose
answer is swapped back. Each hand found is matched (keypoint-box IoU) to a hand of the mirrored view
mapped back into the photo; the two (P(left), P(right)) are averaged.

Geometry when the vote changes a hand's side: the direct view decoded it with the other side's
hand model, so its mesh and pose are a left hand's where a right one is meant. The mirrored view
decoded the same hand with the voted side's mirror-image model, so its hand mirrored back is the
voted side's hand: both hand models are exact mirror images x -> -x with the same vertex order
(Anny's left asset is built so, `smhr.hands.anny.mirror_asset`; MANO's left file is, once the
loader fixes its shape basis), so mirroring the vertices and joints gives the voted side's mesh in
its own vertex order (its faces carry the mirrored winding), the axis-angle parameters mirror as
(a, b, c) -> (a, -b, -c) and the translation as x -> -x. The mirrored view is decoded in the
mirrored camera (principal point u0 -> W - 1 - u0), so x -> -x in camera space is exactly the image
mirror u -> W - 1 - u. The direct view's texture and lighting stay (the scene is not mirrored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from smhr.records import Hand
from smhr.runtime.tiling import box_overlap, keypoint_boxes, vote_copies

__all__ = ["MATCH_IOU", "TOUCH_IOU", "mirror_camera", "mirror_hand", "vote_sides"]

MATCH_IOU = 0.3  # a found hand and a mirrored-view hand overlapping this much are one hand
TOUCH_IOU = 0.05  # a found hand overlapping another found hand this much gets no vote: its mirrored
# match may be the other hand, whose side is the opposite (two hands in contact, InterHand2.6M)
_X = np.array([-1.0, 1.0, 1.0], np.float32)  # x -> -x in camera (and model) space


def mirror_camera(K: np.ndarray, width: int) -> np.ndarray:
    """The intrinsics of the photo mirrored left-right (u -> W - 1 - u): principal point mirrored."""
    Km = np.array(K, np.float64, copy=True)
    Km[0, 2] = width - 1 - Km[0, 2]
    Km[0, 1] = -Km[0, 1]
    return Km


def mirror_hand(hand: Hand, width: int, K: np.ndarray) -> Hand:
    """A hand decoded in the mirrored photo (camera `mirror_camera(K, width)`) as the same hand in
    the photo (camera K): 2D u -> W - 1 - u, 3D x -> -x, axis-angle (a, b, c) -> (a, -b, -c), the
    other side, (P(left), P(right)) swapped."""

    def u(p: np.ndarray) -> np.ndarray:
        q = np.array(p, np.float32, copy=True)
        q[..., 0] = width - 1 - q[..., 0]
        return q

    def aa(r: np.ndarray) -> np.ndarray:
        return (np.asarray(r, np.float32).reshape(-1, 3) * -_X).reshape(np.shape(r))

    return replace(
        hand, side=1 - hand.side, center=u(hand.center), global_orient=aa(hand.global_orient),
        pose=aa(hand.pose), transl=hand.transl * _X, vertices=hand.vertices * _X,
        joints3d=hand.joints3d * _X, keypoints2d=u(hand.keypoints2d),
        local_keypoints2d=u(hand.local_keypoints2d), K=np.asarray(K, np.float32),
        handedness=None if hand.handedness is None else hand.handedness[::-1].copy(),
    )  # fmt: skip


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return box_overlap(a, b)[0]


def vote_sides(hands: Sequence[Hand], mirrored: Sequence[Hand]) -> list[Hand]:
    """`hands` (found in the photo) with each side decided by the mean of its (P(left), P(right))
    and that of its match among `mirrored` (the mirrored view's hands, already `mirror_hand`-ed
    back), matched one-to-one by keypoint-box IoU >= MATCH_IOU, best pairs first. A hand whose side
    the vote changes takes its geometry from its mirrored match (decoded with the voted side's
    model) and keeps its own score, texture and lighting; unmatched hands stay as they were, and so
    do hands in contact (keypoint-box IoU >= TOUCH_IOU with another found hand, or matching two
    mirrored hands): which mirrored hand is which is ambiguous there."""
    if not hands or not mirrored:
        return list(hands)
    boxes = keypoint_boxes(mirrored)
    own = keypoint_boxes(hands)
    pairs = sorted(((_iou(a, b), i, j) for i, a in enumerate(own) for j, b in enumerate(boxes)), reverse=True)
    out = list(hands)
    used_h = {i for i, a in enumerate(own)
              if any(_iou(a, b) >= TOUCH_IOU for k, b in enumerate(own) if k != i)
              or sum(_iou(a, b) >= MATCH_IOU for b in boxes) > 1}  # fmt: skip
    used_m: set[int] = set()
    for iou, i, j in pairs:
        if iou < MATCH_IOU:
            break
        if i in used_h or j in used_m:
            continue
        used_h.add(i)
        used_m.add(j)
        h = hands[i]
        voted = vote_copies([h, mirrored[j]], np.ones(2))  # (a tie keeps the direct view's side)
        # a changed side takes the mirrored geometry but keeps the direct view's appearance
        out[i] = voted if voted.side == h.side else replace(voted, texture=h.texture, light=h.light)
    return out
