"""A classifier of canonical hand crops run in onnxruntime: what the side check and the hand check share.

Why one loader: both checks run a small exported net (`smhr.model.side_net`) on the crops of the
detector's candidates (`smhr.geometry.hand_crop`), bundled beside the main weights, and both must
refuse a file of the wrong kind in one line (the format is stored as `smhr_format` metadata, with
the crop's size and margin).
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import numpy as np

from smhr.geometry.hand_crop import crop_hands
from smhr.runtime.network import DEFAULT_THREADS

__all__ = ["HAND_FORMAT", "SIDE_FORMAT", "CropClassifier", "bundled_crop_classifier"]

SIDE_FORMAT = "side-v1"
HAND_FORMAT = "hand-v1"
FILES = {SIDE_FORMAT: "smhr_side.onnx", HAND_FORMAT: "smhr_hand.onnx"}
TOOLS = {SIDE_FORMAT: "tools/train_side.py", HAND_FORMAT: "tools/train_hand_check.py"}


def bundled_crop_classifier(kind: str) -> Path:
    """Path of the classifier of format `kind` that ships inside the package."""
    return Path(str(importlib.resources.files("smhr") / "assets" / "weights" / FILES[kind]))


class CropClassifier:
    """logits(image, keypoints) -> one logit per hand from an exported crop classifier of format
    `kind` (SIDE_FORMAT / HAND_FORMAT), run in onnxruntime on the CPU. `what` names the classifier
    and `option` the switch that turns its check off, for the errors a wrong or missing file gives."""

    kind = ""
    what = ""
    option = ""

    def __init__(self, path: str | Path | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else bundled_crop_classifier(self.kind)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.what} classifier {self.path} not found: reinstall "
                                    f"smhr, or pass {self.option}=False")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or os.environ.get("SMHR_THREADS") or DEFAULT_THREADS)
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("smhr_format") != self.kind:
            raise ValueError(f"{self.path} is not an smhr {self.what} classifier ({self.kind} "
                             f"metadata); export one with {TOOLS[self.kind]}")
        self.size = int(meta["smhr_crop_size"])
        self.margin = float(meta["smhr_crop_margin"])

    def logits(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """[n] float32 logits of the hands at keypoints [n,21,2] (image px) of an RGB uint8 image."""
        kps = np.asarray(keypoints, np.float64).reshape(-1, 21, 2)
        if not len(kps):
            return np.zeros(0, np.float32)
        crops = crop_hands(image, kps, self.size, self.margin).astype(np.float32)
        return self.session.run(None, {"crops": crops})[0].astype(np.float32)
