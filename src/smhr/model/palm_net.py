"""MediaPipe's palm detector ("BlazePalm", `palm_detection_full`) rebuilt in PyTorch: an SMHR backbone.

Why: the palm detector was trained by Google on far more varied hand photos than we can collect,
so its features may transfer to photos from anywhere better than ImageNet's. The architecture is
written out here (small blocks), so a checkpoint rebuilds it from `SMHRConfig` alone; the bundled
ONNX file (`smhr/assets/teacher/palm_detection_full.onnx`, Apache-2.0) is only read to initialise
it (`smhr.model.palm_onnx.load_palm_onnx`, strict: every tensor used, every shape checked).

The graph (read from the ONNX file, 192x192 input in [0, 1] RGB):
  stem     conv 5x5 stride 2 (TF "SAME": pad 1 before, 2 after) + PReLU        32 ch, stride 2
  stages   4 residual blocks at stride 2; at strides 4 / 8 / 16 / 32 one downsampling block (max-pool
           + zero channels on the shortcut) then 4 blocks                     32 / 64 / 128 / 256 / 256
  top-down s32 -> bilinear 2x -> 1x1 conv + PReLU, added to the stride-16 map, 2 blocks -> p16 (256)
           p16 -> bilinear 2x -> 1x1 conv + PReLU, added to the stride-8 map,  2 blocks -> p8 (128)
  heads    1x1 convs on p8 (2 anchors/cell) and p16 (6 anchors/cell): 18 regressors + 1 logit each
Every residual block is PReLU(x' + pw1x1(dw5x5(x))), x' = x (or its pooled, channel-padded copy).

Taps for SMHR (why these): c8 = p8 and c16 = p16, the maps the palm classifiers read: they have seen
the whole top-down path (context from stride 32) and were trained to say "hand here", the richest
maps the detector has at those strides; c32 = the end of the deepest stage (nothing deeper exists);
c4 = the end of the stride-4 stage (for necks that read stride 4, e.g. `lite`). Channels 64 / 128 /
256 / 256. Any input side that is a multiple of 32 works (the "SAME" padding is the one of even
sides), not only 192.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from smhr.model.backbones import BackboneSpec
from smhr.model.normalize import IMAGENET_MEAN, IMAGENET_STD
from smhr.model.palm_onnx import load_palm_onnx

__all__ = [
    "PALM_CHANNELS", "SPEC", "PalmBackbone", "PalmBlock", "PalmDetector", "PalmPReLU", "PalmTrunk",
    "palm_onnx_file",
]

PALM_CHANNELS = (64, 128, 256, 256)  # c4, c8, c16, c32
_BLOCKS = 4  # residual blocks per stage (after the downsampling block from stride 4 on)
_REFINE = 2  # blocks after each top-down addition
_SAME_S2 = (1, 2, 1, 2)  # TF "SAME" padding of a 5x5 stride-2 conv on an even side: 1 before, 2 after


class PalmPReLU(nn.PReLU):
    """PReLU with one slope per channel; exported to ONNX as a*x + (1-a)*relu(x), the same function.

    Why: onnxruntime's PRelu op is slow and breaks its blocked (NCHWc) layout, so every PRelu is
    wrapped in layout reorders: on the trunk alone at 256 px (2 threads) PRelu was ~1/3 of the
    time and the decomposed form ran in 19 ms vs 62 ms (median; bench_variants.py --backbones for
    the whole network). PyTorch keeps its own fused PReLU (training speed)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        a = self.weight.view(1, -1, 1, 1)
        return a * x + (1 - a) * F.relu(x)


class PalmBlock(nn.Module):
    """PReLU(shortcut + pointwise(depthwise5x5(x))); stride 2 halves the side, the shortcut is then
    2x2 max-pooled and zero-padded to the new channel count (as the palm graph's Pad node)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 5, stride, padding=2 if stride == 1 else 0, groups=cin)
        self.pw = nn.Conv2d(cin, cout, 1)
        self.act = PalmPReLU(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.stride == 2:
            y = F.pad(x, _SAME_S2)
            x = F.max_pool2d(x, 2)
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return self.act(x + self.pw(self.dw(y)))


class PalmLateral(nn.Module):
    """Top-down step: skip + PReLU(conv1x1(bilinear 2x upsample of x)) (half-pixel centres, as the
    graph's Resize)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.act = PalmPReLU(cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return skip + self.act(self.conv(up))


def _stage(cin: int, cout: int, n: int, down: bool) -> nn.Sequential:
    first = [PalmBlock(cin, cout, 2)] if down else []
    return nn.Sequential(*first, *[PalmBlock(cout, cout) for _ in range(n)])


class PalmTrunk(nn.Module):
    """The palm detector without its output convolutions.

    forward(x [B,3,H,W] RGB in [0, 1], H and W multiples of 32) -> [c4, c8, c16, c32] with
    PALM_CHANNELS channels at strides 4 / 8 / 16 / 32 (see the module docstring for which maps)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 5, 2)
        self.stem_act = PalmPReLU(32)
        self.stage2 = _stage(32, 32, _BLOCKS, down=False)
        self.stage4 = _stage(32, 64, _BLOCKS, down=True)
        self.stage8 = _stage(64, 128, _BLOCKS, down=True)
        self.stage16 = _stage(128, 256, _BLOCKS, down=True)
        self.stage32 = _stage(256, 256, _BLOCKS, down=True)
        self.lateral16 = PalmLateral(256, 256)
        self.refine16 = nn.Sequential(*[PalmBlock(256, 256) for _ in range(_REFINE)])
        self.lateral8 = PalmLateral(256, 128)
        self.refine8 = nn.Sequential(*[PalmBlock(128, 128) for _ in range(_REFINE)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem_act(self.stem(F.pad(x, _SAME_S2)))
        c4 = self.stage4(self.stage2(x))
        s8 = self.stage8(c4)
        s16 = self.stage16(s8)
        c32 = self.stage32(s16)
        p16 = self.refine16(self.lateral16(c32, s16))
        p8 = self.refine8(self.lateral8(p16, s8))
        return [c4, p8, p16, c32]


class PalmDetector(nn.Module):
    """The whole palm detector: trunk + its SSD output convolutions (what the ONNX file holds).

    forward(x [B,3,H,W] in [0, 1]) -> (regressors [B, N, 18], logits [B, N, 1]) in the ONNX
    outputs' order (stride-8 cells x 2 anchors, then stride-16 cells x 6 anchors; N = 2016 at
    192 px). SMHR uses only the trunk; the heads exist so the ONNX file loads strictly and the
    rebuild can be checked output for output against onnxruntime (tests/test_palm_backbone.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = PalmTrunk()
        self.reg16, self.cls16 = nn.Conv2d(256, 6 * 18, 1), nn.Conv2d(256, 6, 1)
        self.reg8, self.cls8 = nn.Conv2d(128, 2 * 18, 1), nn.Conv2d(128, 2, 1)

    def layers(self) -> list[nn.Module]:
        """Every Conv2d / PReLU in the order the ONNX graph runs them (what the loader pairs up)."""
        t = self.trunk

        def weighted(*mods: nn.Module) -> list[nn.Module]:
            return [m for mod in mods for m in mod.modules() if isinstance(m, (nn.Conv2d, nn.PReLU))]

        return [
            *weighted(t.stem, t.stem_act, t.stage2, t.stage4, t.stage8, t.stage16, t.stage32),
            *weighted(t.lateral16, t.refine16, self.reg16, self.cls16),
            *weighted(t.lateral8, t.refine8, self.reg8, self.cls8),
        ]

    def score_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The palm logits as maps: ([B, 2, H/8, W/8], [B, 6, H/16, W/16]), channel a = anchor a of
        each cell (what `forward` flattens cell-major, anchor-minor). Why: dense distillation
        (`smhr.model.palm_distill`) compares them cell by cell with a student's maps."""
        _, p8, p16, _ = self.trunk(x)
        return self.cls8(p8), self.cls16(p16)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, p8, p16, _ = self.trunk(x)
        B = x.shape[0]

        def flat(t: torch.Tensor, width: int) -> torch.Tensor:  # NCHW -> [B, cells*anchors, width]
            return t.permute(0, 2, 3, 1).reshape(B, -1, width)

        reg = torch.cat([flat(self.reg8(p8), 18), flat(self.reg16(p16), 18)], 1)
        cls = torch.cat([flat(self.cls8(p8), 1), flat(self.cls16(p16), 1)], 1)
        return reg, cls


class PalmBackbone(nn.Module):
    """The trunk fed SMHR's ImageNet-normalised RGB: it undoes that normalisation (x * std + mean =
    the palm's own [0, 1] input) before the trunk, so nothing upstream changes per backbone.

    forward(images, stride4=False) -> [c8, c16, c32] (or [c4, c8, c16, c32])."""

    def __init__(self, trunk: PalmTrunk) -> None:
        super().__init__()
        self.trunk = trunk
        # constants, not weights: non-persistent, so checkpoints hold the trunk's tensors only
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor, stride4: bool = False) -> list[torch.Tensor]:
        maps = self.trunk(images * self.std + self.mean)
        return maps if stride4 else maps[1:]


def palm_onnx_file() -> Path:
    """The bundled palm detector ONNX (the teacher's own file): this backbone's pretrained weights."""
    from smhr.teacher.model import teacher_files

    return teacher_files()[0]


SPEC = BackboneSpec(
    build=PalmDetector,
    stages=None,
    split_stride4=0,
    channels=PALM_CHANNELS,
    load=load_palm_onnx,
    features=lambda det: PalmBackbone(det.trunk),
    default_weights=palm_onnx_file,
)
"""`register_backbone("mediapipe_palm", "smhr.model.palm_net:SPEC")` in backbones.py."""
