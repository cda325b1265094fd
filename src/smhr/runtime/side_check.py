"""The side check: each hand found gets its side from a classifier of its own canonical crop.

Why: the detector's side comes from features of a 256-px view of the whole photo and, on photos
from sources it never saw, is wrong for about one hand in five; a classifier of the hand's crop
(`smhr.model.side_net`, the way the teacher decides) agrees with the teacher on 0.91 of the
never-trained-on gloves (crops at the teacher's keypoints; docs/evaluation.md "The side check").
It runs between the network and the decode (`smhr.runtime.crop_checks`): the crop is cut from the
photo at the slot's local keypoints (the keypoint head's, already computed at every peak), and the
slot's handedness logits become [0, NET_WEIGHT x the network's log-odds + the classifier's logit]
(`revised_handedness`), so the decode picks the other side's parameters (both sides' are at every
slot) wherever the sum says so. Hands under `MIN_CHECKED_PX` (the longer side of their keypoint box,
photo pixels) keep the network's side: on the trained-on sets' held-out splits the classifier
agrees with the teacher on 0.75 of hands under 32 px and 0.88 at 32-48 px, against 0.98-1.00 from
48 px up. Single-side decoding (`side` given) is never checked. A mirrored view's crops are cut
from the mirrored photo, the pixels its affine maps from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smhr.runtime.crop_classifier import SIDE_FORMAT, CropClassifier, bundled_crop_classifier

__all__ = ["MIN_CHECKED_PX", "NET_WEIGHT", "SIDE_FORMAT", "SideChecker", "bundled_side_classifier",
           "revised_handedness"]

NET_WEIGHT = 1.0  # the network's log-odds' weight in the sum (chosen on trained-on held-out splits)
MIN_CHECKED_PX = 48.0  # smaller hands (keypoint box, photo px) keep the network's side


def bundled_side_classifier() -> Path:
    """Path of the side classifier that ships inside the package."""
    return bundled_crop_classifier(SIDE_FORMAT)


class SideChecker(CropClassifier):
    """logits(image, keypoints) -> right-vs-left logits of hands (`smhr.runtime.crop_classifier`)."""

    kind, what, option = SIDE_FORMAT, "side", "side_check"


def revised_handedness(handedness: np.ndarray, crop_logit: np.ndarray) -> np.ndarray:
    """[n,2] handedness logits (left, right) of checked slots -> [0, NET_WEIGHT * (right - left) +
    the side classifier's logit]."""
    net = handedness[:, 1] - handedness[:, 0]
    return np.stack([np.zeros_like(net), NET_WEIGHT * net + crop_logit], -1).astype(np.float32)
