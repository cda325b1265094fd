"""Keypoint orders, bones and conversions between the hand datasets' 21-joint layouts.

Everything in smhr uses the FreiHAND order (`FREIHAND_NAMES`); the other layouts exist only to
read datasets and models. A conversion table `X_TO_FREIHAND` reads: FreiHAND keypoint i is layout-X
keypoint `X_TO_FREIHAND[i]`, i.e. `freihand = x[..., X_TO_FREIHAND, :]`.

Layouts (per hand, 21 keypoints):
- "freihand": 0 wrist; 1-4 thumb MCP..tip; 5-8 index MCP..tip; 9-12 middle; 13-16 ring;
  17-20 little.
- "mano": the 16 MANO-native joints (0 wrist; 1-3 index MCP, PIP, DIP; 4-6 middle; 7-9 little;
  10-12 ring; 13-15 thumb CMC, MCP, IP) followed by the 5 fingertip vertices (16 thumb, 17 index,
  18 middle, 19 ring, 20 little) -- what `HandModel` computes before reordering.
- "rhd": 0 wrist; 1-4 thumb tip..MCP (tip first); 5-8 index tip..MCP; 9-12 middle; 13-16 ring;
  17-20 little (RHD README / view_samples.py; a full RHD array holds the LEFT hand in 0-20 and the
  RIGHT hand in 21-41).
- "interhand": 0-3 thumb tip..(thumb1); 4-7 index tip..; 8-11 middle; 12-15 ring; 16-19 pinky;
  20 wrist (InterHand2.6M skeleton; a full array holds the RIGHT hand in 0-20 and the LEFT in 21-41).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from smhr.records import SIDE_NAMES as SIDE_NAMES  # re-exported: keypoint and side constants in one place

FINGERS = ("thumb", "index", "middle", "ring", "little")

FREIHAND_NAMES: tuple[str, ...] = (
    "wrist",
    *(f"{finger}_{part}" for finger in FINGERS for part in ("mcp", "pip", "dip", "tip")),
)
"""21 FreiHAND keypoint names. For the thumb, "mcp", "pip", "dip" are the CMC, MCP and IP joints
(FreiHAND's naming follows the other fingers)."""

LEFT, RIGHT = 0, 1  # side ids: `HandLabel.side`, `Hand.side`, the handedness map's channels
# SIDE_NAMES[side id] is defined with the `Hand` record (layer 0), so exports need no hand model

NUM_KEYPOINTS = 21
ROOT_INDEX = 9  # middle MCP: root for root-relative metrics
WRIST_INDEX = 0
TIP_INDICES = (4, 8, 12, 16, 20)  # FreiHAND indices of the fingertips, thumb..little

FREIHAND_PARENTS: tuple[int, ...] = (-1, *(0 if k % 4 == 1 else k - 1 for k in range(1, NUM_KEYPOINTS)))
"""Parent of each FreiHAND keypoint (wrist for the finger bases)."""

BONES: tuple[tuple[int, int], ...] = tuple((FREIHAND_PARENTS[k], k) for k in range(1, NUM_KEYPOINTS))
"""The 20 bones as (parent, child) FreiHAND indices, thumb first, each finger base to tip."""

FINGER_OF_KEYPOINT: tuple[int, ...] = (0, *(1 + (k - 1) // 4 for k in range(1, NUM_KEYPOINTS)))
"""0 palm/wrist, 1 thumb .. 5 little: the `part_labels` code of each FreiHAND keypoint."""

NAIL_PART = 6
"""The `part_labels` code of nail vertices (after the finger codes 0-5; docs/hand-asset-format.md)."""

MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
"""Kinematic tree of the 16 MANO-native joints."""

MANO_JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index_mcp", "index_pip", "index_dip",
    "middle_mcp", "middle_pip", "middle_dip",
    "little_mcp", "little_pip", "little_dip",
    "ring_mcp", "ring_pip", "ring_dip",
    "thumb_mcp", "thumb_pip", "thumb_dip",
)  # fmt: skip
"""MANO-native joint names, using FreiHAND's part names (thumb CMC = "thumb_mcp")."""

MANO_FINGER_OF_JOINT: tuple[int, ...] = (0, 2, 2, 2, 3, 3, 3, 5, 5, 5, 4, 4, 4, 1, 1, 1)
"""Finger code (0 palm, 1 thumb, 2 index, 3 middle, 4 ring, 5 little) of each MANO-native joint."""

MANO21_TO_FREIHAND = np.array([0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20])
RHD_TO_FREIHAND = np.array([0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17])
INTERHAND_TO_FREIHAND = np.array([20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16])

_TO_FREIHAND: dict[str, np.ndarray] = {
    "freihand": np.arange(NUM_KEYPOINTS),
    "mano": MANO21_TO_FREIHAND,
    "rhd": RHD_TO_FREIHAND,
    "interhand": INTERHAND_TO_FREIHAND,
}
LAYOUTS = tuple(_TO_FREIHAND)

Array = TypeVar("Array")  # numpy array or torch tensor


def reorder_index(src: str, dst: str) -> np.ndarray:
    """Index array idx [21] with `x_dst = x_src[..., idx, :]`."""
    for name in (src, dst):
        if name not in _TO_FREIHAND:
            raise ValueError(f"unknown keypoint layout {name!r}; expected one of {LAYOUTS}")
    inv_dst = np.argsort(_TO_FREIHAND[dst])  # freihand index of each dst keypoint
    return _TO_FREIHAND[src][inv_dst]


def reorder(x: Array, src: str, dst: str) -> Array:
    """Convert keypoints x [..., 21, C] (numpy or torch) from layout `src` to layout `dst`."""
    if x.shape[-2] != NUM_KEYPOINTS:
        raise ValueError(f"keypoints must have shape [..., 21, C], got {tuple(x.shape)}")
    idx = reorder_index(src, dst)
    if isinstance(x, np.ndarray):
        return x[..., idx, :]
    import torch  # a tensor: index on its device

    return x[..., torch.as_tensor(idx, device=x.device), :]


def mano21_to_freihand(x: Array) -> Array:
    """MANO-native 16 joints + 5 tips [..., 21, C] -> FreiHAND order."""
    return reorder(x, "mano", "freihand")


INDEX_MCP_INDEX, LITTLE_MCP_INDEX = 5, 17


def palm_faces_camera(keypoints2d: np.ndarray, side: np.ndarray | int) -> np.ndarray:
    """Whether each hand shows the camera its palm (True) or its back, from its 2D keypoints
    [..., 21, 2] (FreiHAND order, image x right, y down) and side [...] (0 left, 1 right).

    Why: with the side known, the turn of the palm's triangle wrist -> index MCP -> little MCP in
    the image says which face is towards the camera: a right palm seen from the front turns it
    one way, the back of the same hand (or a left palm) the other. Mirroring swaps both the side and
    the turn, and a turn in the image plane changes neither, so the answer survives both
    augmentations. It needs no 3D; the teacher's world landmarks (the z of the same cross product)
    mostly agree: on hina-gloves' 191 hands matched by v4, 121 / 70 palms / backs from 2D against
    135 / 56 from 3D, the difference being hands seen nearly edge-on. Side errors hinge on it:
    the network must read palm from back to name the side (docs/evaluation.md "Where v4's wrong
    sides are")."""
    kp = np.asarray(keypoints2d, np.float64)
    a = kp[..., INDEX_MCP_INDEX, :] - kp[..., WRIST_INDEX, :]
    b = kp[..., LITTLE_MCP_INDEX, :] - kp[..., WRIST_INDEX, :]
    turn = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]  # < 0: anticlockwise on screen (y down)
    return (turn < 0) == (np.asarray(side) == RIGHT)
