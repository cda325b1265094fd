"""Real hands cut out of teacher-labelled photos, and hand-free real backgrounds, for composing.

Why: SMHR's multi-hand training set is composed from single hands pasted onto backgrounds (spec
§8.6). Our real photos have 2D keypoints but no masks, so the paste mask is drawn from the
keypoints (`hand_silhouette`: the palm polygon plus one capsule per finger bone, widths in
proportion to the palm length); it is a little generous, which keeps fingertips whole at the cost
of a thin rim of the photo's own background. Backgrounds come from the same photos, away from
every hand (`HandFreeBackgrounds`): real rooms, faces and arms, so the detector also meets the
hard negatives of real scenes in the composites.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from smhr.data.sample import HandLabel, Sample, SampleDataset

__all__ = ["HandFreeBackgrounds", "RealHandCrops", "hand_silhouette"]

PALM = (0, 1, 2, 5, 9, 13, 17)
FINGER_BONES = [
    (1, 2),
    (2, 3),
    (3, 4),
    (5, 6),
    (6, 7),
    (7, 8),
    (9, 10),
    (10, 11),
    (11, 12),
    (13, 14),
    (14, 15),
    (15, 16),
    (17, 18),
    (18, 19),
    (19, 20),
    (0, 1),
    (0, 17),
]


def hand_silhouette(keypoints2d: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """HxW uint8 mask (1 = hand) drawn from 21 FreiHAND-order keypoints (px)."""
    kp = np.asarray(keypoints2d, np.float64).reshape(21, 2)
    mask = np.zeros(hw, np.uint8)
    palm_len = float(np.linalg.norm(kp[0] - kp[9]))
    width = max(2, round(0.24 * palm_len))
    hull = cv2.convexHull(np.round(kp[list(PALM)]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    for a, b in FINGER_BONES:
        cv2.line(
            mask, tuple(np.round(kp[a]).astype(int)), tuple(np.round(kp[b]).astype(int)), 1, width, cv2.LINE_8
        )
    for p in kp:
        cv2.circle(mask, tuple(np.round(p).astype(int)), width // 2, 1, -1)
    return mask


class RealHandCrops(SampleDataset):
    """Single-hand samples cut from labelled sets: a square of `context` x the hand's keypoint box
    around each well-visible hand (>= `min_visible` of 21 keypoints inside the image, box side >=
    `min_side` px), resized to `side` px, with the silhouette mask (1 = the hand) and K None.
    Crops are prepared once at construction and kept in memory."""

    def __init__(
        self,
        sets: Sequence[SampleDataset],
        side: int = 160,
        context: float = 1.4,
        min_visible: int = 19,
        min_side: float = 24.0,
    ) -> None:
        self.side = side
        self.crops: list[Sample] = []
        for ds in sets:
            for i in range(len(ds)):
                s = ds.load(i)
                for k, h in enumerate(s.hands):
                    crop = self._crop(s, h, context, min_visible, min_side)
                    if crop is not None:
                        crop.id = f"{s.source}:{s.id}#{k}"
                        self.crops.append(crop)
        if not self.crops:
            raise ValueError("RealHandCrops: no usable hand in the labelled sets")

    def _crop(
        self, s: Sample, h: HandLabel, context: float, min_visible: int, min_side: float
    ) -> Sample | None:
        if int(h.visibility.sum()) < min_visible:
            return None
        lo, hi = h.keypoints2d.min(0), h.keypoints2d.max(0)
        box_side = float(max(hi - lo))
        if box_side < min_side:
            return None
        centre = (lo + hi) / 2
        size = box_side * context
        scale = self.side / size
        A = np.array(
            [[scale, 0.0, self.side / 2 - scale * centre[0]], [0.0, scale, self.side / 2 - scale * centre[1]]]
        )
        image = cv2.warpAffine(
            s.image,
            A,
            (self.side, self.side),
            flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        kp = h.keypoints2d.astype(np.float64) @ A[:, :2].T + A[:, 2]
        mask = hand_silhouette(kp, (self.side, self.side))
        inside = (kp >= 0).all(1) & (kp <= self.side - 1).all(1)
        label = HandLabel(side=h.side, keypoints2d=kp.astype(np.float32), visibility=h.visibility & inside)
        return Sample(image=image, K=None, hands=[label], mask=mask, source=s.source,
                      meta={"mask_approx": True})

    def __len__(self) -> int:
        return len(self.crops)

    def load(self, index: int) -> Sample:
        return self.crops[index].copy()


class HandFreeBackgrounds:
    """Random square crops of labelled photos that overlap no hand: neither a teacher hand's
    keypoint box grown by `margin` x its side nor an ignore region. `.sample(rng, size)` -> a
    size x size x 3 uint8 RGB crop (the `BackgroundFolder` interface)."""

    def __init__(
        self,
        sets: Sequence[SampleDataset],
        margin: float = 0.6,
        min_side: int = 64,
        tries: int = 30,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.images: list[np.ndarray] = []
        self.squares: list[tuple[int, int, int, int]] = []  # (image index, x0, y0, side)
        for ds in sets:
            for i in range(len(ds)):
                s = ds.load(i)
                blocked = [self._grown(h.keypoints2d.min(0), h.keypoints2d.max(0), margin) for h in s.hands]
                blocked += [self._grown(b[:2], b[2:], 0.1) for b in s.ignore]
                found = self._free_squares(s.hw, blocked, rng, min_side, tries)
                if found:
                    self.images.append(s.image)
                    self.squares += [(len(self.images) - 1, *q) for q in found]
        if not self.squares:
            raise ValueError("HandFreeBackgrounds: no hand-free region found in the labelled sets")

    @staticmethod
    def _grown(lo: np.ndarray, hi: np.ndarray, margin: float) -> np.ndarray:
        side = float(max(hi - lo))
        return np.concatenate([lo - margin * side, hi + margin * side])

    @staticmethod
    def _free_squares(
        hw: tuple[int, int], blocked: list[np.ndarray], rng: np.random.Generator, min_side: int, tries: int
    ) -> list[tuple[int, int, int]]:
        H, W = hw
        if min(H, W) < min_side:
            return []
        out = []
        for _ in range(tries):
            side = int(rng.integers(min_side, min(H, W) + 1))
            x0, y0 = int(rng.integers(0, W - side + 1)), int(rng.integers(0, H - side + 1))
            if all(x0 + side <= b[0] or b[2] <= x0 or y0 + side <= b[1] or b[3] <= y0 for b in blocked):
                out.append((x0, y0, side))
                if len(out) >= 3:
                    break
        return out

    def __len__(self) -> int:
        return len(self.squares)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        i, x0, y0, side = self.squares[int(rng.integers(len(self.squares)))]
        crop = self.images[i][y0 : y0 + side, x0 : x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)
