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
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from smhr.geometry.hand_crop import CROP_SIZE

__all__ = ["SideClassifier", "SideNet"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SideNet(nn.Module):
    """forward(crops [N,3,S,S] float RGB in [0, 1]) -> [N] logit of "right hand" (one view)."""

    def __init__(self, blocks: int = 14, size: int = CROP_SIZE, width: int = 16) -> None:
        super().__init__()
        self.size = size
        self.features = torchvision.models.mobilenet_v2(weights=None).features[:blocks]
        with torch.no_grad():
            c, h, w = self.features(torch.zeros(1, 3, size, size)).shape[1:]
        self.reduce = nn.Sequential(nn.Conv2d(c, width, 1), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Dropout(0.2), nn.Linear(width * h * w, 1))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def load_imagenet(self, path: str) -> None:
        """Start the MobileNetV2 blocks from torchvision's ImageNet file (`find_mobilenet_v2_imagenet`)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = {k: v for k, v in state.items() if k.startswith("features.")
               and int(k.split(".")[1]) < len(self.features)}  # fmt: skip
        self.load_state_dict(own, strict=False)

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
