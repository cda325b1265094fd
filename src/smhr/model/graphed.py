"""`decode_network` captured in a CUDA graph: one replay instead of hundreds of kernel launches.

Why: at batch 1 a ResNet-50 forward plus decoding and two hand models is a few hundred small
kernels; launching them from Python costs more than running them on a modern GPU. The network-frame
decode has static shapes (max_hands slots), no host synchronisation and no host->device copy, so it
can be captured once per input shape and replayed. Un-letterboxing (`to_original`) stays outside:
it is a handful of tiny ops and takes per-image affines from the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from smhr.model.decode import decode_network

__all__ = ["GraphedDecoder"]


class GraphedDecoder:
    """Replay `decode_network(net, images, hand_models, **decode_kwargs)` for images of one shape.

    images_shape: (B, 3, R, R). bf16: run the network under bfloat16 autocast (geometry stays
    float32). Call with images of that shape on the net's CUDA device; the returned tensors are
    the graph's static outputs, overwritten by the next call (clone what you keep).
    """

    def __init__(
        self, net: nn.Module, hand_models: Sequence[nn.Module], images_shape: tuple[int, int, int, int], *,
        bf16: bool = False, channels_last: bool = True, warmup: int = 3, **decode_kwargs: Any,
    ) -> None:
        device = next(net.parameters()).device
        if device.type != "cuda":
            raise ValueError(f"GraphedDecoder needs a CUDA model, got {device}; use decode_network on CPU")
        self.net, self.hand_models, self.bf16, self.kwargs = net, hand_models, bf16, decode_kwargs
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.static_in = torch.zeros(images_shape, device=device).contiguous(memory_format=fmt)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):  # cuDNN autotuning and lazy allocations happen outside the capture
                self._run()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = self._run()

    def _run(self) -> dict[str, torch.Tensor]:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
            return decode_network(self.net, self.static_in, self.hand_models, **self.kwargs)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if tuple(images.shape) != tuple(self.static_in.shape):
            want, got = tuple(self.static_in.shape), tuple(images.shape)
            raise ValueError(f"GraphedDecoder was captured for images {want}, got {got}")
        self.static_in.copy_(images)
        self.graph.replay()
        return self.static_out
