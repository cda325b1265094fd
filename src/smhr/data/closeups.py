"""Training close-ups: one real hand filling the view, cut near the wrist, at random turns and sides.

Why (issue 21 item 3, "handedness from the hand's own appearance"): on photos from sources never
trained on, the network gets the side of close-ups wrong far more often than of hands with their
arm, and finds fewer of them; even on the trained sources' own close-ups (`smhr.data.stress`
`closeup_no_arm`) its side is right for only ~90 %. Whole-scene crops and composites rarely show a
hand this large with nothing of the arm, so the side had to come from the arm's direction. These
views make the hand itself the only cue: the view is cut just below the wrist in the hand's upright
frame, then turned by a random angle (real close-ups are not all upright), and mirrored half the
time with the side swapped (`flip_horizontal`), so left and right hands are seen as mirrored pairs.

Item i of epoch e is a pure function of (seed, e, i), as every training set here (resumable).
Other hands of the same photo are warped along (their visibility clipped to the view), and the
photo's ignore regions follow, so nothing labelled is trained as background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from smhr.data.augment import flip_horizontal
from smhr.data.labelled import silhouettes
from smhr.data.sample import HandLabel, Sample, SampleDataset

__all__ = ["CloseupConfig", "CloseupViews", "closeup_affine"]

WRIST, MIDDLE_MCP = 0, 9


@dataclass
class CloseupConfig:
    """fill: the hand's extent / the view side, drawn uniformly; wrist_margin: where the bottom
    edge cuts, below the wrist, in hand heights (negative cuts into the palm); shift: sideways
    offset, in view sides; rotation_deg: the view's turn about its centre; flip_prob: mirrored
    (side swapped); min_hand_px: smallest keypoint box side used; length: views per epoch."""

    fill: tuple[float, float] = (0.6, 1.0)
    wrist_margin: tuple[float, float] = (-0.05, 0.15)
    shift: float = 0.1
    rotation_deg: float = 60.0
    flip_prob: float = 0.5
    min_hand_px: float = 48.0
    length: int = 20000


def closeup_affine(keypoints2d: np.ndarray, size: int, fill: float, wrist_margin: float, shift: float,
                   rotation_deg: float) -> np.ndarray | None:
    """2x3 affine (source px -> view px) of a size x size close-up of the hand whose 21 keypoints
    are given; None when the hand has no direction (wrist on its middle knuckle)."""
    kp = np.asarray(keypoints2d, np.float64).reshape(21, 2)
    up = kp[MIDDLE_MCP] - kp[WRIST]
    if np.linalg.norm(up) < 1e-6:
        return None
    a = np.arctan2(up[0], -up[1])  # turning by -a points `up` to -y
    R = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    q = kp @ R.T
    top, wrist = q[:, 1].min(), q[WRIST, 1]
    bottom = wrist + wrist_margin * max(wrist - top, 1e-6)
    side = max(bottom - top, q[:, 0].max() - q[:, 0].min()) / fill
    x0 = 0.5 * (q[:, 0].max() + q[:, 0].min()) - (0.5 + shift) * side
    z = size / side
    A = np.vstack([np.hstack([z * R, -z * np.array([[x0], [bottom - side]])]), [0, 0, 1]])
    c = 0.5 * (size - 1)
    t = np.deg2rad(rotation_deg)
    turn = np.array([[np.cos(t), -np.sin(t), c - c * np.cos(t) + c * np.sin(t)],
                     [np.sin(t), np.cos(t), c - c * np.sin(t) - c * np.cos(t)], [0, 0, 1]])
    return (turn @ A)[:2]


class CloseupViews(SampleDataset):
    """Close-ups (see module docstring) of every hand of `sets` with all 21 keypoints inside its
    photo and a keypoint box of at least cfg.min_hand_px, `out_size` px square, with the
    labelled photos' kind of mask (`smhr.data.labelled.silhouettes`, drawn from the keypoints)."""

    def __init__(self, sets: Sequence[SampleDataset], out_size: int, cfg: CloseupConfig | None = None,
                 seed: int = 0) -> None:
        self.sets = list(sets)
        self.cfg = cfg or CloseupConfig()
        self.out_size = int(out_size)
        self.base_seed = self.seed = int(seed)
        self.hands: list[tuple[int, int, int]] = []  # (set, sample, hand)
        for k, ds in enumerate(self.sets):
            for i in range(len(ds)):
                s = ds.load(i)
                for j, h in enumerate(s.hands):
                    kp = h.keypoints2d
                    big = float((kp.max(0) - kp.min(0)).max()) >= self.cfg.min_hand_px
                    pointed = float(np.linalg.norm(kp[MIDDLE_MCP] - kp[WRIST])) >= 1.0
                    if h.visibility.all() and big and pointed:
                        self.hands.append((k, i, j))
        if not self.hands:
            raise ValueError("closeup_labelled: no hand with all 21 keypoints visible and a keypoint box of "
                             f">= {self.cfg.min_hand_px:g} px in the roots; lower closeup.min_hand_px")

    def __len__(self) -> int:
        return int(self.cfg.length)

    def set_epoch(self, epoch: int) -> None:
        """Epoch `epoch`'s draws (new hands, cuts and turns), still a pure function of (seed, epoch, i)."""
        self.seed = self.base_seed * 1_000_003 + int(epoch)

    def load(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, index, 11])
        k, i, j = self.hands[int(rng.integers(len(self.hands)))]
        s = self.sets[k].load(i)
        c = self.cfg
        A = closeup_affine(s.hands[j].keypoints2d, self.out_size, rng.uniform(*c.fill),
                           rng.uniform(*c.wrist_margin), rng.uniform(-c.shift, c.shift),
                           rng.uniform(-c.rotation_deg, c.rotation_deg))
        assert A is not None  # hands without a direction were left out at construction
        out = self._warp(s, A)
        out.id = f"closeup/{s.source}:{s.id}#{j}"
        return flip_horizontal(out) if rng.random() < c.flip_prob else out

    def _warp(self, s: Sample, A: np.ndarray) -> Sample:
        n = self.out_size
        zoom = float(np.sqrt(abs(np.linalg.det(A[:, :2]))))
        image = cv2.warpAffine(s.image, A, (n, n), flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        hands = []
        for h in s.hands:
            kp = (h.keypoints2d.astype(np.float64) @ A[:, :2].T + A[:, 2]).astype(np.float32)
            inside = (kp >= 0).all(1) & (kp <= n - 1).all(1)
            hands.append(HandLabel(side=h.side, keypoints2d=kp, visibility=h.visibility & inside))
        ignore = []
        for x1, y1, x2, y2 in np.asarray(s.ignore, np.float64).reshape(-1, 4):
            corners = np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) @ A[:, :2].T + A[:, 2]
            b = np.clip(np.r_[corners.min(0), corners.max(0)], 0, n - 1)
            if b[2] > b[0] and b[3] > b[1]:
                ignore.append(b)
        return Sample(image=image, K=None, hands=hands, ignore=np.asarray(ignore, np.float32).reshape(-1, 4),
                      mask=silhouettes(hands, (n, n)), image_path=s.image_path, source=s.source,
                      meta={"mask_approx": True, "closeup": True})
