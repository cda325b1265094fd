"""`PeakNet` captured in a CUDA graph: one replay instead of hundreds of kernel launches.

Why: at batch 1 a ResNet-50 forward plus NMS, top-K and the gathered heads is a few hundred small
kernels; launching them from Python costs more than running them on a modern GPU. The peaks module
has static shapes (max_hands slots), no host synchronisation and no host->device copy, so it can be
captured once per input shape and replayed; its outputs then go to the NumPy decode
(`smhr.runtime.decode`) like every backend's.
"""

from __future__ import annotations

import torch

from smhr.model.net import SMHRNet
from smhr.model.peaks import PeakNet

__all__ = ["GraphedPeaks"]


class GraphedPeaks:
    """Replay `PeakNet(net, max_hands)(images)` for uint8 images [B,R,R,3] of one shape.

    bf16: run the network under bfloat16 autocast. Call with images of that shape on the net's CUDA
    device; the returned tensors are the graph's static outputs, overwritten by the next call
    (clone what you keep).
    """

    def __init__(self, net: SMHRNet, images_shape: tuple[int, int, int, int], *, max_hands: int = 10,
                 bf16: bool = False, warmup: int = 3) -> None:
        device = next(net.parameters()).device
        if device.type != "cuda":
            raise ValueError(f"GraphedPeaks needs a CUDA model, got {device}; run PeakNet eagerly on the CPU")
        self.module, self.bf16 = PeakNet(net, max_hands).to(device), bf16
        self.static_in = torch.zeros(images_shape, dtype=torch.uint8, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):  # cuDNN autotuning and lazy allocations happen outside the capture
                self._run()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = self._run()

    @torch.no_grad()
    def _run(self) -> dict[str, torch.Tensor]:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
            return self.module(self.static_in)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if tuple(images.shape) != tuple(self.static_in.shape):
            want, got = tuple(self.static_in.shape), tuple(images.shape)
            raise ValueError(f"GraphedPeaks was captured for images {want}, got {got}")
        self.static_in.copy_(images)
        self.graph.replay()
        return self.static_out
