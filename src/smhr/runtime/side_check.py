"""The side check: each hand found gets its side from a classifier of its own canonical crop.

Why: the detector's side comes from features of a 256-px view of the whole photo and, on photos
from sources it never saw, is wrong for about one hand in five; a classifier of the hand's crop
(`smhr.model.side_net`, the way the teacher decides) agrees with the teacher on 0.91 of the
never-trained-on gloves (crops at the teacher's keypoints; docs/evaluation.md "The side check").
It runs between the network and the decode: the crop is cut from the photo at the slot's local
keypoints (the keypoint head's, already computed at every peak), and the slot's handedness logits
become [0, NET_WEIGHT x the network's log-odds + the classifier's logit], so the
decode picks the other side's parameters (both sides' are at every slot) wherever the sum says
so. Hands under `MIN_CHECKED_PX` (the longer side of their keypoint box, photo pixels) keep the
network's side: on the trained-on sets' held-out splits the classifier agrees with the teacher on
0.75 of hands under 32 px and 0.88 at 32-48 px, against 0.98-1.00 from 48 px up. Single-side
decoding (`side` given) is never checked. A mirrored view's crops are cut from the mirrored photo,
the pixels its affine maps from.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smhr.geometry.hand_crop import crop_hands
from smhr.runtime.contract import STRIDE
from smhr.runtime.decode import peak_keypoints
from smhr.runtime.network import DEFAULT_THREADS

__all__ = ["MIN_CHECKED_PX", "NET_WEIGHT", "SIDE_FORMAT", "SideChecker", "bundled_side_classifier",
           "revise_handedness"]

SIDE_FORMAT = "side-v1"
SIDE_WEIGHTS_FILE = "smhr_side.onnx"
NET_WEIGHT = 1.0  # the network's log-odds' weight in the sum (chosen on trained-on held-out splits)
MIN_CHECKED_PX = 48.0  # smaller hands (keypoint box, photo px) keep the network's side


def bundled_side_classifier() -> Path:
    """Path of the side classifier that ships inside the package."""
    return Path(str(importlib.resources.files("smhr") / "assets" / "weights" / SIDE_WEIGHTS_FILE))


class SideChecker:
    """logits(image, keypoints) -> right-vs-left logits of hands, from an exported side classifier
    (`smhr.onnx_export.export_side_classifier`) run in onnxruntime on the CPU."""

    def __init__(self, path: str | Path | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else bundled_side_classifier()
        if not self.path.is_file():
            raise FileNotFoundError(f"side classifier {self.path} not found: reinstall smhr, or pass "
                                    "side_check=False")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or os.environ.get("SMHR_THREADS") or DEFAULT_THREADS)
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("smhr_format") != SIDE_FORMAT:
            raise ValueError(f"{self.path} is not an smhr side classifier ({SIDE_FORMAT} metadata); export "
                             "one with tools/train_side.py")
        self.size = int(meta["smhr_crop_size"])
        self.margin = float(meta["smhr_crop_margin"])

    def logits(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """[n] float32 logits ("right" > 0) of the hands at keypoints [n,21,2] (image px) of an RGB
        uint8 image."""
        kps = np.asarray(keypoints, np.float64).reshape(-1, 21, 2)
        if not len(kps):
            return np.zeros(0, np.float32)
        crops = crop_hands(image, kps, self.size, self.margin).astype(np.float32)
        return self.session.run(None, {"crops": crops})[0].astype(np.float32)


def revise_handedness(outputs: dict[str, np.ndarray], sources: Sequence[np.ndarray], affines: np.ndarray,
                      threshold: float, grid_width: int, checker: SideChecker,
                      stride: int = STRIDE) -> dict[str, np.ndarray]:  # fmt: skip
    """`outputs` with "handedness" [B,S,2] replaced at the slots whose score reaches `threshold` and
    whose keypoint box spans >= MIN_CHECKED_PX by [0, NET_WEIGHT * (right - left) + the checker's
    logit] (others unchanged). sources[b]: the image (RGB uint8) that affines[b] [3,3] maps to the
    network's pixels."""
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
