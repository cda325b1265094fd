"""The side check between the network and the decode: each candidate's crop cut at the slot's keypoint
head points and its handedness logits revised (`smhr.runtime.side_check`).

Why here: every slot the decode may keep (score >= the decode threshold) already has the keypoint
head's points (`smhr.runtime.decode.peak_keypoints`), so a crop costs no decode, and revising the
slot's handedness before the decode makes the decode draw the hand with the chosen side's
parameters. The crops are cut at the slot's points mapped to the image each view was made from
(`sources[b]`: a mirrored view's is the mirrored photo). The hand check, which needs the decoded
hand's size, runs after the decode (`smhr.runtime.hand_check.check_hands`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smhr.geometry.hand_crop import crop_hands
from smhr.runtime.contract import STRIDE
from smhr.runtime.crop_classifier import CropClassifier
from smhr.runtime.decode import peak_keypoints
from smhr.runtime.side_check import MIN_CHECKED_PX, revised_handedness

__all__ = ["check_candidates"]


def check_candidates(outputs: dict[str, np.ndarray], sources: Sequence[np.ndarray], affines: np.ndarray,
                     threshold: float, grid_width: int, side: CropClassifier | None = None,
                     stride: int = STRIDE) -> dict[str, np.ndarray]:  # fmt: skip
    """`outputs` with "handedness" [B,S,2] revised by the side checker at the slots whose score
    reaches `threshold` and whose keypoint box spans >= MIN_CHECKED_PX (others unchanged; None:
    `outputs` as they are). sources[b]: the image (RGB uint8) that affines[b] [3,3] maps to the
    network's pixels."""
    keep = outputs["scores"] >= threshold
    if not keep.any() or side is None:
        return outputs
    handedness = outputs["handedness"].astype(np.float32, copy=True)
    A_inv = np.linalg.inv(np.asarray(affines, np.float64).reshape(-1, 3, 3))
    for b in np.flatnonzero(keep.any(1)):
        slots = np.flatnonzero(keep[b])
        _, local = peak_keypoints(outputs, np.full(len(slots), b), slots, grid_width, stride)
        in_image = local @ A_inv[b, :2, :2].T + A_inv[b, :2, 2]
        large = np.ptp(in_image, axis=1).max(-1) >= MIN_CHECKED_PX
        if large.any():
            crops = crop_hands(sources[b], in_image[large], side.size, side.margin)
            logit = side.crop_logits(crops)
            handedness[b, slots[large]] = revised_handedness(handedness[b, slots[large]], logit)
    return {**outputs, "handedness": handedness}
