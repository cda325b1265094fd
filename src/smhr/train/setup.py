"""What a training run is built from, apart from the loop itself: the process's place in a
distributed run, its device, the hand models, and the network wrapper that DDP sees."""

from __future__ import annotations

import os

import torch
from torch import nn

from smhr.hands.assets import user_files
from smhr.hands.model import HandModel
from smhr.model.net import SMHRNet

__all__ = ["GatheringModel", "distributed", "load_hand_models", "select_device"]


class GatheringModel(nn.Module):
    """forward(images, ind) = dense maps + heads gathered at `ind`, in ONE forward call, so DDP sees
    every parameter used inside forward (gathering outside forward breaks its gradient hooks)."""

    def __init__(self, net: SMHRNet) -> None:
        super().__init__()
        self.net = net
        self.stride = net.stride

    def forward(self, images: torch.Tensor, ind: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(images)
        return {**out, **self.net.gather(out["features"], ind)}


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def select_device(spec: str, local_rank: int) -> torch.device:
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("config: device cuda asked for but CUDA is not available; use device: cpu")
        return torch.device("cuda", local_rank)
    return torch.device(spec)


def load_hand_models(kind: str, mano_dir: str | None, device: torch.device) -> list[HandModel]:
    """(left, right) hand models of `kind` on `device`."""
    return [HandModel.load(kind, side, path=user_files(kind, mano_dir)).to(device)
            for side in ("left", "right")]
