"""Contact sheets of dataset samples with their keypoint labels drawn: the quickest check by eye
that images, masks and labels agree (used by `smhr synth --sheet` and the docs)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smhr.data.sample import Sample
from smhr.render.overlay import draw_skeleton


def sample_sheet(samples: Sequence[Sample], cols: int = 4, tile: int | None = None,
                 mask_outline: bool = True) -> np.ndarray:  # fmt: skip
    """HxWx3 uint8 RGB grid of the samples' images (resized to `tile` px, default the first
    image's height) with every hand's 21 keypoints and bones drawn (a box-level hand, with no visible
    keypoint, as its box), and the mask's outline in white."""
    import cv2

    if not samples:
        raise ValueError("sample_sheet: no samples")
    tile = tile or int(samples[0].image.shape[0])
    rows = -(-len(samples) // cols)
    sheet = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    for k, s in enumerate(samples):
        img = np.ascontiguousarray(s.image)
        scale = tile / img.shape[0]
        img = cv2.resize(img, (round(img.shape[1] * scale), tile), interpolation=cv2.INTER_AREA)[:, :tile]
        if mask_outline and s.mask is not None:
            m = cv2.resize((np.asarray(s.mask) > 0).astype(np.uint8), (img.shape[1], tile),
                           interpolation=cv2.INTER_NEAREST)  # fmt: skip
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            img = cv2.drawContours(img.copy(), contours, -1, (255, 255, 255), 1)
        for h in s.hands:
            if not h.visibility.any() and h.bbox is not None:  # a box-level hand: its box, no keypoints
                x1, y1, x2, y2 = (np.asarray(h.bbox) * scale).round().astype(int)
                img = cv2.rectangle(img.copy(), (x1, y1), (x2, y2), (255, 200, 0), 1)
                continue
            img = draw_skeleton(img, np.asarray(h.keypoints2d) * scale, radius=max(1, tile // 110))
        r, c = divmod(k, cols)
        sheet[r * tile : (r + 1) * tile, c * tile : c * tile + img.shape[1]] = img
    return sheet
