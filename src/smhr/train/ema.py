"""`WeightEMA`: an exponential moving average of the network's weights, kept beside training.

Why: on this project's long CPU runs the weights at any one step carry that step's noise; the mean
of two snapshots 2,000 steps apart scored better on never-trained-on photos than either snapshot
(docs/training.md "Weights v3": precision 0.79 -> 0.86, OneHand10K PCK 0.41 -> 0.56). An average
after every step is the smooth form of that (the detector-training habit of YOLOX / timm's
ModelEma). The average covers every floating-point tensor of the state dict, BatchNorm statistics
included, so it is a network that runs as is; integer buffers (BatchNorm's step count) are copied.

The decay ramps up with the number of updates n, min(decay, (1 + n) / (10 + n)) (TensorFlow's
ExponentialMovingAverage rule): an average started at step 0, or switched on in the middle of a
run, follows the weights closely at first instead of holding on to its starting copy.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["WeightEMA", "snapshot_average"]


class WeightEMA:
    """ema = d * ema + (1 - d) * weights after every applied step (`update`), d ramped (module
    docstring); `model` is a frozen copy of the network in eval mode holding the average."""

    def __init__(self, net: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"optim.ema_decay must be in (0, 1) (0 = off), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.model = copy.deepcopy(net).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        n = self.updates + 1
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        d = self.current_decay()
        target = net.state_dict()
        for name, avg in self.model.state_dict().items():
            new = target[name].detach()
            if avg.is_floating_point():
                avg.lerp_(new.to(avg.dtype), 1.0 - d)
            else:
                avg.copy_(new)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """What last.pt keeps: the average and the update count (the ramp continues on resume)."""
        return {"model": self.model.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


def snapshot_average(state: dict[str, Any]) -> dict[str, Any] | None:
    """The weight average a weights-only snapshot holds, as `WeightEMA.load_state_dict` takes it.
    A snapshot written while the average was on (`model.pt`, `step_*.pt`, a packaged copy carried
    to another machine) stores the average as its weights and the update count in its metadata, so
    the resumed average keeps its window (no second ramp); None when the run kept no average."""
    ema = state.get("meta", {}).get("ema")
    if not isinstance(ema, dict) or "updates" not in ema:
        return None
    return {"model": state["model"], "updates": int(ema["updates"])}
