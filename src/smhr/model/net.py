"""SMHRNet: backbone -> CSP neck (stride 4, 256 ch) -> dense centre/handedness maps + gathered heads.

forward(images) runs everything that is needed at every cell; `gather(features, ind)` evaluates the
per-hand heads (parameters, texture, lighting, local keypoint offsets) only at the K chosen cells
(GT centres in training, NMS peaks at test time). Checkpoints carry `SMHRConfig.to_dict()` so a
model can be rebuilt exactly (`SMHRNet.from_checkpoint`) and a mismatched file is refused instead
of loading partially (the official loader skipped mismatched tensors silently).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from smhr.hands.keypoint_definitions import check_definition
from smhr.hands.keypoints import NUM_KEYPOINTS
from smhr.hands.params import NUM_PARAMS
from smhr.model.backbones import BACKBONES, Backbone
from smhr.model.heads import CENTER_HEADS, Head
from smhr.model.neck import NECKS
from smhr.model.refine import KeypointRefiner

__all__ = ["NUM_KEYPOINTS", "SMHRConfig", "SMHRNet"]

NUM_LIGHT = 27  # 3 colours x 9 SH coefficients
_REFINE_KEYS = ("refine", "refine_hidden")


@dataclass
class SMHRConfig:
    """Architecture metadata (everything needed to rebuild the module; stored in checkpoints).

    backbone: a name of `BACKBONES` (resnet18 | resnet34 | resnet50 | mobilenet_v2 | mediapipe_palm).
    num_vertices: V of the hand model whose per-vertex albedo the texture head predicts (778 MANO,
    1609 Anny). hand_model: "mano" | "anny" (informational: which model the parameters are for).
    input_size: R the model was trained at.
    appearance: build the texture (V*3) and lighting (27) heads (needed for the photometric stage).
    neck: "csp" (the paper's deconvolution + 3x3 fusion) or "lite" (FPN sum + separable block,
    CPU-cheap; docs/network.md). center_head: "conv" (3x3 conv head) or "separable" (depthwise +
    pointwise: the one dense head made cheap). param_hidden: hidden width of the heads that run only
    at hand centres (parameters, keypoint offsets, appearance); None = head_hidden.
    refine: add the keypoint-aligned refinement (`smhr.model.refine`: features at the local
    keypoints -> residual on the parameters and the handedness logits); refine_hidden: its MLP width.
    Both are left out of `to_dict` while refine is off, so such a net's checkpoints and ONNX
    metadata are exactly what they were before the option existed.
    keypoints: the hand model's keypoint definition the net was trained with ("joints" | "labels",
    `smhr.hands.keypoint_definitions`); everything that runs the net builds its hand models with it.
    Left out of `to_dict` at "joints" (every net before the option: v1, v2).
    """

    backbone: str = "resnet50"
    num_vertices: int = 778
    hand_model: str = "mano"
    input_size: int = 384
    neck_channels: int = 256
    head_hidden: int = 256
    appearance: bool = True
    neck: str = "csp"
    center_head: str = "conv"
    param_hidden: int | None = None
    refine: bool = False
    refine_hidden: int = 256
    keypoints: str = "joints"

    def __post_init__(self) -> None:
        check_definition(self.keypoints)
        if self.neck not in NECKS:
            raise ValueError(f"SMHRConfig.neck {self.neck!r} unknown; choose one of {NECKS.choices()}")
        if self.center_head not in CENTER_HEADS:
            raise ValueError(
                f"SMHRConfig.center_head {self.center_head!r} unknown; choose one of {CENTER_HEADS.choices()}"
            )
        if self.backbone not in BACKBONES:
            raise ValueError(
                f"SMHRConfig.backbone {self.backbone!r} unknown; choose one of {BACKBONES.choices()}"
            )
        if self.input_size % 32:
            raise ValueError(f"SMHRConfig.input_size must be a multiple of 32, got {self.input_size}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.refine:
            for key in _REFINE_KEYS:
                d.pop(key)
        if self.keypoints == "joints":
            d.pop("keypoints")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SMHRConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"SMHRConfig: unknown keys {unknown} (checkpoint from a newer smhr?)")
        return cls(**d)


class SMHRNet(nn.Module):
    """Single-stage multi-hand network.

    forward(images [B,3,R,R], ImageNet-normalised RGB) -> dict:
      features [B,256,R/4,R/4], center [B,1,R/4,R/4] logits, handedness [B,2,R/4,R/4] logits
      (channel 0 left, 1 right).
    gather(features, ind [B,K] flat cells y*W+x) -> dict:
      params [B,K,122] (left set 0:61, right set 61:122), kp_offsets [B,K,21,2] (cells, relative to
      the cell's integer coordinates), and with `appearance`: texture [B,K,V,3] albedo residual,
      light [B,K,27]. With `config.refine` the params are the refined ones, "params_first" the
      first estimate, and "side_logits" [B,K,2] the refined handedness logits at the K cells.
    """

    stride = 4

    def __init__(self, config: SMHRConfig | None = None, *, backbone_weights: str | Path | None = None,
                 **overrides: Any) -> None:
        super().__init__()
        if config is None:
            config = SMHRConfig(**overrides)
        elif overrides:
            config = SMHRConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        self.backbone = Backbone(config.backbone, backbone_weights)
        c, h = config.neck_channels, config.head_hidden
        self.neck = NECKS[config.neck](self.backbone.channels4, c)
        center_cls = CENTER_HEADS[config.center_head]
        self.center = center_cls(c, 1, h, init="heatmap")
        self.handedness = Head(c, 2, h, init="heatmap")
        hp = config.param_hidden or h
        self.params = Head(c, NUM_PARAMS, hp)
        self.kp_offsets = Head(c, 2 * NUM_KEYPOINTS, hp)
        if config.appearance:
            self.texture = Head(c, 3 * config.num_vertices, hp)
            self.light = Head(c, NUM_LIGHT, hp)
        if config.refine:
            self.refine = KeypointRefiner(c, config.refine_hidden)

    def forward(self, images: torch.Tensor, handedness: bool = True) -> dict[str, torch.Tensor]:
        """handedness=False skips the dense handedness map (inference reads it only at the
        detected centres: `self.handedness.gather(features, ind)` gives the same numbers there)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"SMHRNet expects images [B,3,R,R], got {tuple(images.shape)}")
        features = self.neck(self.backbone(images, stride4=self.neck.uses_stride4))
        out = {"features": features, "center": self.center(features)}
        if handedness:
            out["handedness"] = self.handedness(features)
        return out

    def gather(self, features: torch.Tensor, ind: torch.Tensor) -> dict[str, torch.Tensor]:
        B, K = ind.shape
        out = {
            "params": self.params.gather(features, ind),
            "kp_offsets": self.kp_offsets.gather(features, ind).view(B, K, NUM_KEYPOINTS, 2),
        }
        if self.config.appearance:
            out["texture"] = self.texture.gather(features, ind).view(B, K, self.config.num_vertices, 3)
            out["light"] = self.light.gather(features, ind)
        if self.config.refine:
            first = out["params"]
            out["params"], out["side_logits"] = self.refine(
                features, ind, out["kp_offsets"], first, self.handedness.gather(features, ind))
            out["params_first"] = first
        return out

    def checkpoint(self) -> dict[str, Any]:
        """{'config': dict, 'model': state_dict}: what `from_checkpoint` needs (callers may add keys)."""
        return {"config": self.config.to_dict(), "model": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any] | str | Path, source: str = "checkpoint") -> SMHRNet:
        """Rebuild the architecture from ckpt['config'] and load ckpt['model'] strictly."""
        if not isinstance(ckpt, dict):
            source = str(ckpt)
            ckpt = torch.load(ckpt, map_location="cpu", weights_only=True)
        if "config" not in ckpt or "model" not in ckpt:
            raise ValueError(f"{source}: not an smhr checkpoint (needs 'config' and 'model' keys)")
        model = cls(SMHRConfig.from_dict(ckpt["config"]))
        result = model.load_state_dict(ckpt["model"], strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f"{source}: weights do not match its config: missing {result.missing_keys[:8]}, "
                f"unexpected {result.unexpected_keys[:8]}"
            )
        return model
