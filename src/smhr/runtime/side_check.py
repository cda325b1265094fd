"""The side check: each hand found gets its side from a classifier of its own canonical crop.

Why: the detector's side comes from features of a 256-px view of the whole photo and, on photos
from sources it never saw, is wrong for about one hand in five; a classifier of the hand's crop
(`smhr.model.side_net`, the way the teacher decides) agrees with the teacher on 0.91 of the
never-trained-on gloves (crops at the teacher's keypoints; docs/evaluation.md "The side check"); the
bundled file is the mean of two such classifiers, one also trained on the detector's own crops
(`smhr.onnx_average`; docs/network.md "The bundled classifier since 2026-12-07").
It runs between the network and the decode (`revise_handedness`): the crop is cut from the
photo at the slot's local keypoints (the keypoint head's, already computed at every peak), and the
slot's handedness logits become [0, NET_WEIGHT x the network's log-odds + the classifier's logit]
so the decode picks the other side's parameters (both sides' are at every
slot) wherever the sum says so. Hands under `MIN_CHECKED_PX` (the longer side of their keypoint box,
photo pixels) keep the network's side: on the trained-on sets' held-out splits the classifier
agrees with the teacher on 0.75 of hands under 32 px and 0.88 at 32-48 px, against 0.98-1.00 from
48 px up. Single-side decoding (`side` given) is never checked. A mirrored view's crops are cut
from the mirrored photo, the pixels its affine maps from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smhr.runtime.contract import STRIDE
from smhr.runtime.crop_classifier import SIDE_FORMAT, CropClassifier, bundled_crop_classifier
from smhr.runtime.decode import peak_keypoints

__all__ = ["MIN_CHECKED_PX", "NET_WEIGHT", "SIDE_FORMAT", "SideChecker", "bundled_side_classifier",
           "revise_handedness"]

NET_WEIGHT = 1.0  # the network's log-odds' weight in the sum (chosen on trained-on held-out splits)
MIN_CHECKED_PX = 48.0  # smaller hands (keypoint box, photo px) keep the network's side


def bundled_side_classifier() -> Path:
    """Path of the side classifier that ships inside the package."""
    return bundled_crop_classifier(SIDE_FORMAT)


class SideChecker(CropClassifier):
    """logits(image, keypoints) -> right-vs-left logits of hands (`smhr.runtime.crop_classifier`)."""

    kind, what, option = SIDE_FORMAT, "side", "side_check"


def revise_handedness(outputs: dict[str, np.ndarray], sources: Sequence[np.ndarray], affines: np.ndarray,
                      threshold: float, grid_width: int, checker: CropClassifier,
                      stride: int = STRIDE) -> dict[str, np.ndarray]:  # fmt: skip
    """`outputs` with "handedness" [B,S,2] replaced at the slots whose score reaches `threshold` and
    whose keypoint box spans >= MIN_CHECKED_PX by [0, NET_WEIGHT * (right - left) + the checker's
    logit] (others unchanged). sources[b]: the image (RGB uint8) that affines[b] [3,3] maps to the
    network's pixels. Why here: every such slot already has the keypoint head's points
    (`smhr.runtime.decode.peak_keypoints`), so a crop costs no decode, and the decode then draws
    the hand with the chosen side's parameters."""
    keep = outputs["scores"] >= threshold
    if not keep.any():
        return outputs
    handedness = outputs["handedness"].astype(np.float32, copy=True)
    A_inv = np.linalg.inv(np.asarray(affines, np.float64).reshape(-1, 3, 3))
    for b in np.flatnonzero(keep.any(1)):
        slots = np.flatnonzero(keep[b])
        _, local = peak_keypoints(outputs, np.full(len(slots), b), slots, grid_width, stride)
        in_image = local @ A_inv[b, :2, :2].T + A_inv[b, :2, 2]
        large = np.ptp(in_image, axis=1).max(-1) >= MIN_CHECKED_PX
        slots, in_image = slots[large], in_image[large]
        if not len(slots):
            continue
        crop_logit = checker.logits(sources[b], in_image)
        net = handedness[b, slots, 1] - handedness[b, slots, 0]
        handedness[b, slots] = np.stack([np.zeros_like(net), NET_WEIGHT * net + crop_logit], -1)
    return {**outputs, "handedness": handedness}
