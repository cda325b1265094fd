"""Prediction heads: conv3x3(256->256) -> ReLU -> conv1x1(256->C), run densely or only at chosen cells.

Why two paths: the centre and handedness maps are needed everywhere (dense), but the parameter,
texture, lighting and keypoint-offset outputs are only ever read at a hand's centre cell. The
official code computed them densely (the 2334-channel texture head alone costs as much as the
backbone at 384 px) and then gathered. `Head.gather` computes exactly the same numbers at K cells:
it extracts each cell's 3x3 neighbourhood (zero-padded like the conv) and applies the conv weights
as matrices, so the cost no longer depends on the map size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from smhr.registry import Registry

__all__ = ["CENTER_HEADS", "HEATMAP_BIAS", "Head", "SeparableHead", "gather_heads", "neighbourhoods",
           "padded_neighbourhoods"]

HEATMAP_BIAS = -4.59  # sigmoid(-4.59) ~ 0.01: CenterNet's prior for rare positives


def neighbourhoods(features: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """3x3 neighbourhoods of `features` [B,C,H,W] at flat cells `ind` [B,K] (y*W + x), zero outside.

    Returns [B, K, 9*C] ordered (ky, kx, c) -- the order of a conv weight permuted to [O,3,3,C].
    Only the 9*K needed vectors are read (no padded copy of the map): a channels-last map is read
    through its free NHWC view, a contiguous one column-wise.
    """
    B, C, H, W = features.shape
    K = ind.shape[1]
    y = torch.div(ind, W, rounding_mode="floor")
    x = ind - y * W
    d = torch.arange(-1, 2, device=ind.device)
    yy = (y[..., None, None] + d.view(3, 1)).expand(B, K, 3, 3)
    xx = (x[..., None, None] + d.view(1, 3)).expand(B, K, 3, 3)
    inside = ((yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)).reshape(B, K * 9, 1)
    flat = (yy.clamp(0, H - 1) * W + xx.clamp(0, W - 1)).reshape(B, K * 9)
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        nhwc = features.permute(0, 2, 3, 1).reshape(B, H * W, C)  # a view
        out = torch.gather(nhwc, 1, flat[..., None].expand(-1, -1, C))  # [B, K*9, C]
    else:
        out = torch.gather(features.reshape(B, C, H * W), 2, flat[:, None].expand(-1, C, -1)).transpose(1, 2)
    out = out * inside.to(out.dtype)
    return out.reshape(B, K, 9 * C)


def init_head(convs: tuple[nn.Conv2d, ...], init: str) -> None:
    """Initialise a head's convolutions (the last one is the output): "heatmap" keeps PyTorch's
    default and sets the output bias to HEATMAP_BIAS; "regression" draws every weight from
    N(0, 0.001) with zero biases, so every output is ~0 at initialisation (official
    `fill_fc_weights`)."""
    if init == "heatmap":
        nn.init.constant_(convs[-1].bias, HEATMAP_BIAS)
    elif init == "regression":
        for m in convs:
            nn.init.normal_(m.weight, std=0.001)
            nn.init.zeros_(m.bias)
    else:
        raise ValueError(f"head init must be 'heatmap' or 'regression', got {init!r}")


class Head(nn.Module):
    """One head. forward(features [B,Cin,H,W]) -> [B,C,H,W]; gather(features, ind [B,K]) -> [B,K,C].

    init: "heatmap" (default PyTorch init, final bias -4.59) or "regression" (all weights
    N(0, 0.001), biases 0, so every output is ~0 at initialisation), as the official `fill_fc_weights`.
    """

    def __init__(
        self, in_channels: int, out_channels: int, hidden: int = 256, init: str = "regression"
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, hidden, 3, padding=1, bias=True)
        self.out = nn.Conv2d(hidden, out_channels, 1, bias=True)
        init_head((self.conv, self.out), init)
        self.out_channels = out_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.conv(features)))

    def gather(self, features: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
        """Same numbers as forward(features) read at `ind`, computed only there: [B,K,C]."""
        patches = neighbourhoods(features, ind)
        w3 = self.conv.weight.permute(0, 2, 3, 1).reshape(self.conv.out_channels, -1)
        hidden = F.relu(F.linear(patches, w3, self.conv.bias))
        return F.linear(hidden, self.out.weight.flatten(1), self.out.bias)


def padded_neighbourhoods(features: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """`neighbourhoods(features, ind)`, the same values, read from a zero-padded copy of the map.

    Why a second reading: exported to ONNX, `neighbourhoods`' bounds tests and clamps are ~40 small
    nodes, ~7 us each in onnxruntime on a CPU, more than the padded copy of a 64x64 map costs;
    here the 9 neighbours are fixed offsets in the padded grid (~12 nodes). Training keeps
    `neighbourhoods` (no copy of the map in the backward pass)."""
    B, C, H, W = features.shape
    padded = F.pad(features, (1, 1, 1, 1)).reshape(B, C, (H + 2) * (W + 2))
    y = torch.div(ind, W, rounding_mode="trunc")  # = floor for cells >= 0, and one ONNX node, not five
    d = torch.arange(-1, 2, device=ind.device)  # offsets from the traced W, not a constant: band inputs
    offsets = (d[:, None] * (W + 2) + d[None, :]).flatten()  # of any width export with this graph
    # (ky, kx) order; flatten / expand / -1, not sizes: an ONNX Reshape reads a size 0 (no slot
    # reaches the threshold) as "keep this dimension"
    flat = ((ind + 2 * y + (W + 3))[..., None] + offsets).flatten(1)[:, None]  # [B, 1, K*9]
    out = torch.gather(padded, 2, flat.expand(-1, C, -1)).transpose(1, 2)  # [B, K*9, C]
    return out.reshape(B, -1, 9 * C)


def gather_heads(heads: list[Head], features: torch.Tensor, ind: torch.Tensor) -> list[torch.Tensor]:
    """`[h.gather(features, ind) for h in heads]` with one neighbourhood read and one hidden-layer
    product for all of them (their 3x3 convolutions stacked). Why: at inference the per-head
    gathers were a few dozen small operations each, and every one costs a thread hand-off on a
    CPU; the numbers are the same dot products (up to float summation order)."""
    patches = padded_neighbourhoods(features, ind)
    w3 = torch.cat([h.conv.weight.permute(0, 2, 3, 1).reshape(h.conv.out_channels, -1) for h in heads])
    hidden = F.relu(F.linear(patches, w3, torch.cat([h.conv.bias for h in heads])))
    out, start = [], 0
    for h in heads:
        end = start + h.conv.out_channels
        out.append(F.linear(hidden[..., start:end], h.out.weight.flatten(1), h.out.bias))
        start = end
    return out


class SeparableHead(nn.Module):
    """A dense head for CPU inference: depthwise 3x3 -> pointwise (Cin->hidden) -> ReLU -> 1x1 (->C).

    Why: the centre heatmap is the one head that must run at every output cell; as a full 3x3
    convolution it costs 9x more multiply-adds than this (~150 M vs ~19 M at a 64x64 map of 64
    channels). Same interface and initialisation rules as `Head` (gather included).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 64, init: str = "heatmap") -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=True)
        self.pointwise = nn.Conv2d(in_channels, hidden, 1, bias=True)
        self.out = nn.Conv2d(hidden, out_channels, 1, bias=True)
        init_head((self.depthwise, self.pointwise, self.out), init)
        self.out_channels = out_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.pointwise(self.depthwise(features))))

    def gather(self, features: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
        """Same numbers as forward(features) read at `ind`: [B,K,C]."""
        B, K = ind.shape
        C = features.shape[1]
        patches = neighbourhoods(features, ind).view(B, K, 9, C)  # (ky, kx) major, channel minor
        w = self.depthwise.weight.view(C, 9).t()  # [9, C]
        dw = (patches * w).sum(2) + self.depthwise.bias
        hidden = F.relu(F.linear(dw, self.pointwise.weight.flatten(1), self.pointwise.bias))
        return F.linear(hidden, self.out.weight.flatten(1), self.out.bias)


CENTER_HEADS: Registry[type[nn.Module]] = Registry("centre head")
"""`SMHRConfig.center_head` -> the class of the dense centre head, built as
`Cls(in_channels, 1, hidden, init="heatmap")` with `forward` and `gather` like `Head`."""
CENTER_HEADS.register("conv", Head)
CENTER_HEADS.register("separable", SeparableHead)
