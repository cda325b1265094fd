"""ONNX export of the whole network up to the per-hand parameters, for the torch-free runtime.

What is exported (`PeakHeads`): letterboxed images [B,R,R,3] uint8 RGB -> ImageNet normalisation
-> backbone -> neck -> centre heatmap -> 5x5 max-pool NMS -> top-K peaks -> the per-hand heads
evaluated only at those K cells:
  scores [B,K] (sigmoid peak), cells [B,K] (flat index y*W + x), params [B,K,122],
  kp_offsets [B,K,42], handedness [B,K,2] (logits),
and, for a network with appearance heads, texture [B,K,3V] (per-vertex albedo residual, vertex-major
RGB) and light [B,K,27] (SH-9 lighting head, colour-major); with a dynamic batch size and
K = max_hands fixed at export. Why the heads are gathered inside the graph: evaluated densely
(the previous export) the parameter heads cost more than the backbone on a CPU, and the decode
then had to gather in Python; here one onnxruntime call returns everything the hand models need
(`smhr.runtime`). BatchNorms stay separate nodes (onnxruntime folds them when
it loads the file), so the weights can be stored as float16 exactly when they are float16 values
(our packaged model.pt files are): `exact_float16` halves the file without changing an output.
The appearance outputs are optional in the contract (a reader checks the output names): they cost
~0.06 ms per peak slot on a CPU (docs/network.md) and add ~2.8 MB of float16 weights. `smhr_config`,
`smhr_max_hands`, `smhr_score_threshold` and `smhr_format` ("peaks-v1") are stored as metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from smhr.io.onnx_float16 import exact_float16
from smhr.model.decode import nms
from smhr.model.net import SMHRNet
from smhr.model.normalize import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["APPEARANCE_NAMES", "FORMAT", "OUTPUT_NAMES", "PeakHeads", "compare_with_torch", "exact_float16",
           "export_onnx"]

FORMAT = "peaks-v1"
OUTPUT_NAMES = ("scores", "cells", "params", "kp_offsets", "handedness")
APPEARANCE_NAMES = ("texture", "light")  # exported when the network has appearance heads
NMS_KERNEL = 5


class PeakHeads(nn.Module):
    """uint8 images -> top-K peaks and the heads gathered there (see the module docstring)."""

    def __init__(self, net: SMHRNet, max_hands: int = 16, appearance: bool | None = None) -> None:
        super().__init__()
        self.net = net
        self.max_hands = max_hands
        self.appearance = net.config.appearance if appearance is None else appearance
        if self.appearance and not net.config.appearance:
            raise ValueError("PeakHeads: appearance=True but the network has no texture / light heads")
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("inv_std", 1.0 / (torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (images.permute(0, 3, 1, 2).float() - self.mean) * self.inv_std
        net = self.net
        f = net.neck(net.backbone(x, stride4=net.neck.uses_stride4))
        heat = torch.sigmoid(net.center(f))
        peaks = nms(heat, NMS_KERNEL)
        scores, cells = peaks.flatten(1).topk(self.max_hands, dim=1)
        out = (
            scores,
            cells,
            net.params.gather(f, cells),
            net.kp_offsets.gather(f, cells),
            net.handedness.gather(f, cells),
        )
        if self.appearance:
            out += (net.texture.gather(f, cells), net.light.gather(f, cells))
        return out

    @property
    def output_names(self) -> tuple[str, ...]:
        return OUTPUT_NAMES + (APPEARANCE_NAMES if self.appearance else ())


def export_onnx(
    net: SMHRNet, path: str | Path, opset: int = 17, score_threshold: float | None = None,
    max_hands: int = 16, appearance: bool | None = None,
) -> Path:
    """Write `net` (CPU, float32) as a peaks-v1 graph to `path`; appearance: export the texture /
    light outputs (None: when the network has those heads)."""
    import warnings

    import onnx

    path = Path(path)
    net = net.cpu().float().eval()
    R = net.config.input_size
    dummy = torch.zeros(1, R, R, 3, dtype=torch.uint8)
    module = PeakHeads(net, max_hands, appearance)
    names = module.output_names
    dynamic = {"images": {0: "batch"}, **{n: {0: "batch"} for n in names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation / tracer notes
        torch.onnx.export(
            module,
            dummy,
            str(path),
            input_names=["images"],
            output_names=list(names),
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=False,  # keep BatchNorms apart: their weights stay float16-exact
        )
    model = onnx.load(str(path))
    meta = {
        "smhr_config": json.dumps(net.config.to_dict()),
        "smhr_format": FORMAT,
        "smhr_max_hands": str(max_hands),
    }
    if score_threshold is not None:
        meta["smhr_score_threshold"] = repr(float(score_threshold))
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(exact_float16(model), str(path))
    return path


def compare_with_torch(net: SMHRNet, onnx_path: str | Path, batch: int = 2,
                       seed: int = 0) -> dict[str, float]:
    """Largest |onnxruntime - PyTorch| per output on random images, over the peak slots where both
    chose the same cell, and "untied_cells": slots where they chose different cells although their
    scores differ by more than 1e-5 (cells of equal score may come out in either order; anything
    else is a real disagreement)."""
    import onnxruntime as ort

    g = torch.Generator().manual_seed(seed)
    R = net.config.input_size
    x = torch.randint(0, 256, (batch, R, R, 3), generator=g, dtype=torch.uint8)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    max_hands = int(session.get_modelmeta().custom_metadata_map["smhr_max_hands"])
    names = [o.name for o in session.get_outputs()]
    module = PeakHeads(net.cpu().float().eval(), max_hands, appearance="texture" in names)
    with torch.no_grad():
        ref = dict(zip(module.output_names, [t.numpy() for t in module(x)], strict=True))
    got = dict(zip(names, session.run(names, {"images": x.numpy()}), strict=True))
    same = ref["cells"] == got["cells"]
    out = {"scores": float(np.abs(got["scores"] - ref["scores"]).max())}
    for name in names[2:]:
        out[name] = float(np.abs(got[name] - ref[name])[same].max()) if same.any() else 0.0
    tied = np.abs(got["scores"] - ref["scores"]) <= 1e-5
    out["untied_cells"] = float((~same & ~tied).sum())
    return out
