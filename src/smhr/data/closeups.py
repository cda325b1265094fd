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

import numpy as np

from smhr.data.augment import flip_horizontal
from smhr.data.labelled import silhouettes
from smhr.data.sample import Sample, SampleDataset
from smhr.data.stress import MIDDLE_MCP, WRIST, closeup_affine, warp_sample
from smhr.hands.keypoints import palm_faces_camera

__all__ = ["CloseupConfig", "CloseupViews"]


@dataclass
class CloseupConfig:
    """fill: the hand's extent / the view side, drawn uniformly; wrist_margin: where the bottom
    edge cuts, below the wrist, in hand heights (negative cuts into the palm); shift: sideways
    offset, in view sides; rotation_deg: the view's turn about its centre; flip_prob: mirrored
    (side swapped); min_hand_px: smallest keypoint box side used; length: views per epoch;
    back_prob: None draws every hand alike, p draws a hand showing the camera its back with
    probability p (`smhr.hands.keypoints.palm_faces_camera`; the biggest training source shows 1 %
    backs, hina-gloves 34 %, and the side is read worse there: docs/evaluation.md "Where v4's
    wrong sides are"), when the roots hold both kinds."""

    fill: tuple[float, float] = (0.6, 1.0)
    wrist_margin: tuple[float, float] = (-0.05, 0.15)
    shift: float = 0.1
    rotation_deg: float = 60.0
    flip_prob: float = 0.5
    min_hand_px: float = 48.0
    length: int = 20000
    back_prob: float | None = None


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
        palms: list[bool] = []  # each one's face towards the camera
        for k, ds in enumerate(self.sets):
            for i in range(len(ds)):
                s = ds.load(i)
                for j, h in enumerate(s.hands):
                    kp = h.keypoints2d
                    big = float((kp.max(0) - kp.min(0)).max()) >= self.cfg.min_hand_px
                    pointed = float(np.linalg.norm(kp[MIDDLE_MCP] - kp[WRIST])) >= 1.0
                    if h.visibility.all() and big and pointed:
                        self.hands.append((k, i, j))
                        palms.append(bool(palm_faces_camera(kp, h.side)))
        if not self.hands:
            raise ValueError("closeup_labelled: no hand with all 21 keypoints visible and a keypoint box of "
                             f">= {self.cfg.min_hand_px:g} px in the roots; lower closeup.min_hand_px")
        if self.cfg.back_prob is not None and not 0.0 <= self.cfg.back_prob <= 1.0:
            raise ValueError(f"closeup.back_prob must be in [0, 1] or null, got {self.cfg.back_prob!r}")
        self.by_face = ([h for h, p in zip(self.hands, palms, strict=True) if p],
                        [h for h, p in zip(self.hands, palms, strict=True) if not p])  # (palms, backs)

    def __len__(self) -> int:
        return int(self.cfg.length)

    def set_epoch(self, epoch: int) -> None:
        """Epoch `epoch`'s draws (new hands, cuts and turns), still a pure function of (seed, epoch, i)."""
        self.seed = self.base_seed * 1_000_003 + int(epoch)

    def _draw_hand(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """A hand of any face alike, or (back_prob set and both faces present) a back with
        probability back_prob. With back_prob None the draw is the one earlier runs made, so
        their views are unchanged."""
        palms, backs = self.by_face
        if self.cfg.back_prob is None or not palms or not backs:
            return self.hands[int(rng.integers(len(self.hands)))]
        face = backs if rng.random() < self.cfg.back_prob else palms
        return face[int(rng.integers(len(face)))]

    def load(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, index, 11])
        k, i, j = self._draw_hand(rng)
        s = self.sets[k].load(i)
        c = self.cfg
        A = closeup_affine(s.hands[j].keypoints2d, self.out_size, rng.uniform(*c.fill),
                           rng.uniform(*c.wrist_margin), rng.uniform(-c.shift, c.shift),
                           rng.uniform(-c.rotation_deg, c.rotation_deg))
        assert A is not None  # hands without a direction were left out at construction
        n = self.out_size
        out = warp_sample(s, A, n, "closeup")  # the stress sets' warp: image, hands, ignore regions
        out.mask = silhouettes(out.hands, (n, n))
        out.meta = {"mask_approx": True, "closeup": True}
        out.id = f"closeup/{s.source}:{s.id}#{j}"
        return flip_horizontal(out) if rng.random() < c.flip_prob else out
