"""Dense distillation of MediaPipe's palm detector: its per-anchor palm scores as soft targets.

Why distil at all: the palm detector was trained by Google on far more varied hand photos than we
have labels for; its "palm here" scores exist for every image, labelled or not (photos, hand-free
backgrounds, composites), so they are a supervision signal on the whole training mixture.

Why its scores and not its features (FitNets): the scores are what the detector was trained to get
right and are bounded probabilities (a soft BCE / KL needs no scale choice); its feature maps (128 /
256 channels of unknown scale) are an internal code that a 64-channel neck would be forced to
reproduce through an adaptor, with a normalisation to choose. The scores are also the question
SMHR's centre head answers ("is a hand here"), at 8 numbers per cell instead of 384.

The layout read from the palm graph (`smhr.model.palm_net`): at S px input (192 for the shipped
file) 2 anchors per stride-8 cell ([B, 2, S/8, S/8]) and 6 per stride-16 cell ([B, 6, S/16, S/16]).
MediaPipe's anchors are fixed-size (all anchors of a cell share centre and size); what tells them
apart is the palm scale each was matched to in training, so the anchor channels are kept (a scale
histogram per cell) rather than maxed into one map.

Training-only: `PalmScoreHead` sits beside `SMHRNet` (in `smhr.train.setup.GatheringModel`), never
inside it, so `SMHRNet.state_dict()`, `model.pt`, the ONNX export and inference are unchanged; the
training loop keeps its tensors under their own checkpoint key ("palm_head" of last.pt).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from smhr.model.palm_net import PalmDetector, palm_onnx_file
from smhr.model.palm_onnx import load_palm_onnx

__all__ = ["PALM_ANCHORS", "PalmScoreHead", "PalmTeacher", "palm_grids"]

PALM_ANCHORS = (2, 6)  # anchors per cell at strides 8 and 16
_STRIDES = (8, 16)
_PRIOR = 0.01  # initial student probability (most anchors of most images hold no palm)


def palm_grids(size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The teacher's two score grids at input side `size` (a multiple of 32): ((S/8,)*2, (S/16,)*2)."""
    if size % 32:
        raise ValueError(f"palm_distill_size must be a multiple of 32 (the palm net's stride), got {size}")
    return tuple((size // s, size // s) for s in _STRIDES)  # type: ignore[return-value]


class PalmTeacher(nn.Module):
    """The frozen palm detector seen as a target maker.

    forward(images [B,3,R,R] RGB float in [0, 1], square: SMHR's training input) ->
    (p8 [B,2,S/8,S/8], p16 [B,6,S/16,S/16]) sigmoid palm scores, S = `size`. The square input is
    resized to S x S (a uniform scale: no letterbox is needed); no gradient, eval mode always, so
    `model.train()` of the student never touches it and it has nothing to optimise.
    """

    def __init__(self, detector: PalmDetector, size: int = 192) -> None:
        super().__init__()
        palm_grids(size)
        self.detector = detector.eval().requires_grad_(False)
        self.size = size

    @classmethod
    def bundled(cls, size: int = 192) -> PalmTeacher:
        """The teacher's own palm_detection_full.onnx, loaded strictly (`load_palm_onnx`)."""
        det = PalmDetector()
        load_palm_onnx(det, palm_onnx_file())
        return cls(det, size)

    def train(self, mode: bool = True) -> PalmTeacher:
        """Always eval: the student's `train()` must not switch the teacher (`mode` is ignored)."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-1] != images.shape[-2]:
            raise ValueError(f"PalmTeacher expects square [B,3,R,R] images, got {tuple(images.shape)}")
        x = images.float()
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.size)
        l8, l16 = self.detector.score_maps(x)
        return torch.sigmoid(l8.float()), torch.sigmoid(l16.float())


class PalmScoreHead(nn.Module):
    """The student's palm logits from SMHR's neck features: each teacher cell's region of the
    stride-4 map is averaged (adaptive pooling to the teacher's grid, so any input size R maps onto
    the teacher's S) and one 1x1 conv per stride gives its anchors' logits.

    forward(features [B,C,R/4,R/4]) -> (l8 [B,2,S/8,S/8], l16 [B,6,S/16,S/16]) logits.
    Pooling before the 1x1 conv equals pooling its output (both linear), and is cheaper."""

    def __init__(self, channels: int, size: int = 192) -> None:
        super().__init__()
        self.grids = palm_grids(size)
        self.conv8 = nn.Conv2d(channels, PALM_ANCHORS[0], 1)
        self.conv16 = nn.Conv2d(channels, PALM_ANCHORS[1], 1)
        for conv in (self.conv8, self.conv16):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.constant_(conv.bias, math.log(_PRIOR / (1 - _PRIOR)))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g8, g16 = self.grids
        return (self.conv8(F.adaptive_avg_pool2d(features, g8)),
                self.conv16(F.adaptive_avg_pool2d(features, g16)))
