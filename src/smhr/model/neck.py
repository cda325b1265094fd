"""Necks: the backbone's multi-scale maps -> one stride-4 map, and their registry `NECKS`.

The contract every neck keeps (so a new one is one class plus one `NECKS.register` line): it is
built as `Neck(channels4, out_channels)` from the backbone's channel counts at strides 4/8/16/32,
declares `uses_stride4` (whether forward receives the stride-4 map too) and `out_stride = 4`, and
`forward(maps) -> [B, out_channels, H/4, W/4]`.

`CSPNeck` is the paper's CSP-style fusion (docs/network.md):

Each of the stride-8/16/32 maps is upsampled to stride 4 by a transposed convolution, L2-normalised
over channels with a learnable per-channel scale (init 10, as CSP / the official code: it keeps the
three scales at comparable magnitude before concatenation), concatenated and fused by a 3x3
conv + BN + ReLU.
"""

from __future__ import annotations

import torch
from torch import nn

from smhr.registry import Registry

__all__ = ["NECKS", "CSPNeck", "L2Norm", "LiteNeck"]

# upsampling factor -> (kernel, stride, padding) of the official transposed convolutions
_DECONV = {2: (4, 2, 1), 4: (4, 4, 0), 8: (8, 8, 0)}


class L2Norm(nn.Module):
    """x / ||x||_2 (over channels) * scale[c]; scale initialised to `init`. [B,C,H,W] -> same."""

    def __init__(self, channels: int, init: float = 10.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(init)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight.view(1, -1, 1, 1)


class CSPNeck(nn.Module):
    """Fuse the backbone maps at strides 8/16/32 into [B, out_channels, H/4, W/4] (the stride-4
    channel count of `channels4` is unused; the upsampled maps have out_channels channels each)."""

    out_stride = 4
    uses_stride4 = False

    def __init__(self, channels4: tuple[int, ...], out_channels: int = 256) -> None:
        super().__init__()
        in_channels, in_strides, mid_channels = tuple(channels4[1:]), (8, 16, 32), out_channels
        ups = []
        for c, s in zip(in_channels, in_strides, strict=True):
            factor = s // self.out_stride
            if factor not in _DECONV:
                raise ValueError(f"CSPNeck: stride {s} is not 8, 16 or 32")
            k, st, p = _DECONV[factor]
            deconv = nn.ConvTranspose2d(c, mid_channels, k, st, p)
            nn.init.xavier_normal_(deconv.weight)
            nn.init.zeros_(deconv.bias)
            ups.append(nn.Sequential(deconv, L2Norm(mid_channels, 10.0)))
        self.ups = nn.ModuleList(ups)
        self.fuse = nn.Sequential(
            nn.Conv2d(mid_channels * len(in_channels), out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=0.01),
            nn.ReLU(inplace=True),
        )
        self.out_channels = out_channels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.fuse(torch.cat([up(f) for up, f in zip(self.ups, feats, strict=True)], dim=1))


def _conv_bn_relu(cin: int, cout: int, kernel: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class LiteNeck(nn.Module):
    """A CPU-cheap fusion to one stride-4 map: FPN-style top-down sum of 1x1 projections of the
    stride-4/8/16/32 maps (nearest 2x upsampling), then a depthwise-separable 3x3 block.

    Why: the CSP neck's 3x3 fusion convolution over 3 x 64 channels at stride 4 alone cost ~8 ms of
    a 42 ms CPU inference at 320 px (docs/network.md); here the stride-4 work is one depthwise and
    one pointwise convolution (~20x fewer multiply-adds), and the backbone's own stride-4 map
    (unused by the CSP neck) supplies the fine detail that the deconvolutions had to invent.
    forward([c4, c8, c16, c32]) -> [B, out_channels, H/4, W/4].
    """

    out_stride = 4
    uses_stride4 = True

    def __init__(self, channels4: tuple[int, ...], out_channels: int = 64) -> None:
        super().__init__()
        in_channels = tuple(channels4)
        if len(in_channels) != 4:
            raise ValueError(f"LiteNeck needs channels at strides 4/8/16/32, got {in_channels}")
        self.laterals = nn.ModuleList([_conv_bn_relu(c, out_channels) for c in in_channels])
        self.smooth = nn.Sequential(
            _conv_bn_relu(out_channels, out_channels, 3, groups=out_channels),
            _conv_bn_relu(out_channels, out_channels),
        )
        self.out_channels = out_channels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = self.laterals[-1](feats[-1])
        for lateral, f in zip(reversed(self.laterals[:-1]), reversed(feats[:-1]), strict=True):
            x = lateral(f) + nn.functional.interpolate(x, size=f.shape[-2:], mode="nearest")
        return self.smooth(x)


NECKS: Registry[type[nn.Module]] = Registry("neck")
"""Neck name (`SMHRConfig.neck`) -> class keeping the contract of the module docstring. A neck in
a file of its own registers here by address: `NECKS.register("my_neck", ref="smhr.model.my_neck:MyNeck")`."""
NECKS.register("csp", CSPNeck)
NECKS.register("lite", LiteNeck)
