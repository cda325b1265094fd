"""The network contract both inference backends serve: the gathered-peaks outputs ("peaks-v1").

One contract, two servers: the exported ONNX graph in onnxruntime (`smhr.runtime.network`, the CPU
default, no PyTorch) and the same module in PyTorch (`smhr.model.peaks`, on a GPU or on request).
Both take letterboxed images [B,R,R,3] uint8 RGB, or a window [B,H,W,3] of such canvases (H, W
multiples of 32 up to R: the band that holds the picture, `smhr.geometry.letterbox.content_band`;
backends with `takes_bands`), and, optionally, a score threshold, and return a dict of named arrays:
  scores [B,K]    sigmoid centre score of the K best 5x5-NMS peaks, best first
  cells  [B,K]    their flat stride-4 cell index y*(W/4) + x (int64) in the map of the input given
and one entry per head of `PEAK_HEADS`, evaluated only at those cells:
  params [B,K,122], kp_offsets [B,K,42], handedness [B,K,2] (logits), and, for weights with
  appearance heads, texture [B,K,3V] (per-vertex albedo residual, vertex-major RGB) and
  light [B,K,27] (SH-9 lighting, colour-major; conventions in docs/rendering.md).
For weights with the keypoint-aligned refinement (`SMHRConfig.refine`), params and handedness are
the refined ones (same names and shapes: the decode does not know the difference).
With a threshold every output keeps only its first K' <= K slots: up to the last one whose score
reaches the threshold in some image of the batch (none: K' = 0; scores are sorted, so these are
all the slots the decode keeps). Why: the heads, the 4,827-wide texture head above all, are then
not evaluated for peaks that are dropped anyway. In the ONNX graph "threshold" is an optional float
input (an overridable initializer) whose default, -inf, keeps all K: what graphs exported before it
and callers that feed only the images get.
Everything after the network (decode, hand model, un-letterbox) is one NumPy path
(`smhr.runtime.decode`). A new per-peak output is one more name in `PEAK_HEADS` (a head of
`SMHRNet` with a `gather(features, cells)`); the decode reads the heads it knows by name.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from smhr.runtime.calibration import Calibration

__all__ = ["APPEARANCE_HEADS", "FORMAT", "NMS_KERNEL", "OUTPUT_NAMES", "PEAK_HEADS", "STRIDE", "PeakBackend"]

FORMAT = "peaks-v1"
PEAK_HEADS: tuple[str, ...] = ("params", "kp_offsets", "handedness", "texture", "light")
APPEARANCE_HEADS: tuple[str, ...] = ("texture", "light")  # optional: only nets built with appearance
OUTPUT_NAMES: tuple[str, ...] = ("scores", "cells", *PEAK_HEADS)
NMS_KERNEL = 5  # px of the stride-4 map: peaks closer than 2 cells merge
STRIDE = 4  # network pixels per output cell


class PeakBackend(Protocol):
    """What `smhr.runtime.Reconstructor` needs of a network: the contract above and a few facts."""

    backend: str  # "onnxruntime" | "torch"
    input_size: int  # side R of the square network input
    hand_model: str  # kind of hand model the parameters drive ("anny" | "mano")
    keypoints: str  # the hand model's keypoint definition the net was trained with (joints | labels)
    max_hands: int  # K, the number of peak slots one run returns
    calibration: Calibration  # the decision values stored with the weights (smhr.runtime.calibration)
    takes_bands: bool  # whether run() takes [B,H,W,3] windows of the canvas (H, W multiples of 32 <= R)

    def run(self, images: np.ndarray, threshold: float | None = None) -> dict[str, np.ndarray]:
        """images [B,R,R,3] uint8 RGB -> the named outputs of the module docstring; with a
        threshold, only the first slots up to the last one that reaches it in some image."""
        ...
