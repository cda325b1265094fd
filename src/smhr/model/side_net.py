"""The side classifier: is a canonical hand crop (`smhr.geometry.hand_crop`) a right or a left hand?

Why a second network: the detector decides the side from features at the hand's centre and
joints on a 256-px view of the whole photo, and on photos from sources it never saw it gets about
one hand in five wrong (0.82 on the gloves, docs/evaluation.md), a share that did not move in 550k
samples of training. The teacher, MediaPipe, decides the side from a crop of the hand alone. This
net does the same on a 96-px canonical crop: the first 14 blocks of MobileNetV2 (ImageNet start,
stride 16: a 6x6 map), a 1x1 conv to 16 channels and one linear layer over the 6x6x16 map (the
map is flattened, not pooled: which side of the crop the thumb is on is part of the answer).

`SideClassifier` is what is exported and run: the logit (right vs left) is the mean of the crop's
and minus its mirror image's, so mirroring a hand negates its answer exactly (a mirrored right
hand is a left hand), whatever the training reached.

The same net, trained on the detector's own candidates (`smhr.train.hand_classifier`), answers
"is this a hand at all?" for the hand check (`smhr.runtime.hand_check`); `HandClassifier` exports
it with the mean of the crop's and its mirror image's logits, since a mirrored hand is still one.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from smhr.geometry.hand_crop import CROP_SIZE
from smhr.model.backbones import load_torchvision_state
from smhr.model.normalize import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["HandClassifier", "SideClassifier", "SideNet"]


class SideNet(nn.Module):
    """forward(crops [N,3,S,S] float RGB in [0, 1]) -> [N] logit of "right hand" (one view).

    imagenet: torchvision's ImageNet MobileNetV2 file (`find_mobilenet_v2_imagenet`), loaded whole
    and strictly (`load_torchvision_state`: a wrong file is refused in one line) before the first
    `blocks` blocks are kept; None: a random start."""

    def __init__(self, blocks: int = 14, size: int = CROP_SIZE, width: int = 16,
                 imagenet: str | Path | None = None) -> None:  # fmt: skip
        super().__init__()
        self.size = size
        mobilenet = torchvision.models.mobilenet_v2(weights=None)
        if imagenet is not None:
            load_torchvision_state(mobilenet, imagenet, "mobilenet_v2")
        self.features = mobilenet.features[:blocks]
        with torch.no_grad():  # the map's shape, in eval mode: a probe must not move BatchNorm statistics
            c, h, w = self.features.eval()(torch.zeros(1, 3, size, size)).shape[1:]
        self.features.train()
        self.reduce = nn.Sequential(nn.Conv2d(c, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Dropout(0.2), nn.Linear(width * h * w, 1))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        f = self.reduce(self.features((crops - self.mean) / self.std))
        return self.fc(f.flatten(1))[:, 0]


class SideClassifier(nn.Module):
    """forward(crops [N,S,S,3] uint8-valued float32 RGB, as `crop_hands` gives) -> [N] logit of
    "right hand", antisymmetric under mirroring (the exported and bundled graph)."""

    def __init__(self, net: SideNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = crops.permute(0, 3, 1, 2) / 255.0
        return 0.5 * (self.net(x) - self.net(x.flip(-1)))


class HandClassifier(nn.Module):
    """forward(crops [N,S,S,3] uint8-valued float32 RGB) -> [N] logit of "a hand", symmetric under
    mirroring (the exported hand-check graph)."""

    def __init__(self, net: SideNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = crops.permute(0, 3, 1, 2) / 255.0
        return 0.5 * (self.net(x) + self.net(x.flip(-1)))
