"""The peaks contract (`smhr.runtime.contract`) in PyTorch: `PeakNet`, and `TorchPeaks` to run it.

`PeakNet` is the one definition of what the network answers at inference: uint8 letterboxed images
-> ImageNet normalisation (as `normalize_images`) -> backbone -> neck -> centre heatmap -> 5x5
max-pool NMS -> top-K peaks -> each head of `PEAK_HEADS` evaluated only at those K cells (with a
threshold, only at the first cells up to the last one that reaches it; all heads' 3x3 layers in one
product, `smhr.model.heads.gather_heads`) -> with `SMHRConfig.refine`, the keypoint-aligned
refinement of those slots (`smhr.model.refine`), whose parameters and handedness logits are the
`params` and `handedness` outputs (the decode reads them unchanged). The ONNX export is this module traced
(`smhr.onnx_export`), and the PyTorch backend runs it as is (`TorchPeaks`), so both backends hand
the same named outputs to the one NumPy decode (`smhr.runtime.decode`). Why the heads are gathered
inside: evaluated densely, the parameter heads cost more than the backbone on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from smhr.model.decode import nms
from smhr.model.heads import Head, gather_heads
from smhr.model.net import SMHRNet
from smhr.model.normalize import IMAGENET_MEAN, IMAGENET_STD
from smhr.runtime.calibration import Calibration
from smhr.runtime.contract import NMS_KERNEL, PEAK_HEADS

__all__ = ["PeakNet", "TorchPeaks"]


class PeakNet(nn.Module):
    """forward(images [B,R,R,3] uint8 RGB) -> {"scores" [B,K], "cells" [B,K] int64, head [B,K,C]...}
    with K = max_hands and one entry per name of `heads` that the net has (module docstring)."""

    def __init__(self, net: SMHRNet, max_hands: int = 16, heads: Sequence[str] = PEAK_HEADS) -> None:
        super().__init__()
        self.net = net
        self.max_hands = int(max_hands)
        self.heads = tuple(h for h in heads if hasattr(net, h))  # a net built without a head omits it
        self.refine = bool(net.config.refine)
        if self.refine and not {"params", "kp_offsets", "handedness"} <= set(self.heads):
            raise ValueError("PeakNet: the refinement needs the params, kp_offsets and handedness heads")
        # `normalize_images`' arithmetic (x / 255 - mean) / std, bit for bit, with the statistics as
        # buffers: no host->device copy per call, so the module can be captured in a CUDA graph
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor,
                threshold: torch.Tensor | float | None = None) -> dict[str, torch.Tensor]:
        """threshold: None = every one of the K slots (static shapes, as a CUDA graph needs); a score
        = only the slots up to the last one that reaches it in some image (scores are sorted, so
        they are a prefix), for every output: the heads are not evaluated for slots the decode drops."""
        net = self.net
        x = (images.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
        if next(net.parameters()).is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        out = net(x, handedness=False)  # features and the dense centre map; heads below at the peaks
        f = out["features"]
        peaks = nms(torch.sigmoid(out["center"].float()), NMS_KERNEL).flatten(1)
        scores, cells = peaks.topk(min(self.max_hands, peaks.shape[1]), dim=1)
        if threshold is not None:
            live = (scores >= threshold).any(0)
            scores, cells = scores[:, live], cells[:, live]
        modules = [getattr(net, name) for name in self.heads]
        fused = [m for m in modules if isinstance(m, Head)]
        values = dict(zip(fused, gather_heads(fused, f, cells), strict=True)) if fused else {}
        out = {name: (values[m] if m in values else m.gather(f, cells)).float()
               for name, m in zip(self.heads, modules, strict=True)}
        if self.refine:  # the refined parameters and side replace the first estimate's, same names
            out["params"], out["handedness"] = net.refine(f, cells, out["kp_offsets"], out["params"],
                                                          out["handedness"])
        return {"scores": scores, "cells": cells, **out}


class TorchPeaks:
    """The PyTorch backend of `smhr.runtime.Reconstructor`: run(images uint8 [B,R,R,3] numpy) ->
    the contract's outputs as numpy arrays, computed on `device` (CPU or CUDA).

    input_size: the side the images are letterboxed to (None = the size the net was trained at;
    the network is fully convolutional). The net is put in eval mode for each run and back."""

    backend = "torch"

    def __init__(self, net: SMHRNet, max_hands: int = 10, *, input_size: int | None = None,
                 calibration: Calibration | None = None) -> None:
        self.module = PeakNet(net, max_hands)
        self.max_hands = int(max_hands)
        self.input_size = int(input_size or net.config.input_size)
        self.hand_model = str(net.config.hand_model)
        self.keypoints = str(net.config.keypoints)
        self.calibration = calibration or Calibration()
        self.takes_bands = True  # fully convolutional: any H, W that are multiples of 32

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @torch.no_grad()
    def run(self, images: np.ndarray, threshold: float | None = None) -> dict[str, np.ndarray]:
        net = self.module.net
        was_training = net.training
        net.eval()
        try:
            pixels = torch.from_numpy(np.ascontiguousarray(images, np.uint8)).to(self.device)
            out = self.module(pixels, threshold)
        finally:
            net.train(was_training)
        return {k: v.cpu().numpy() for k, v in out.items()}
