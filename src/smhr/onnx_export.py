"""ONNX export of the peaks contract, for the torch-free runtime: `smhr.model.peaks.PeakNet` traced.

What is exported is exactly what the PyTorch backend runs (`PeakNet`: normalisation, network, NMS,
top-K, the heads of `smhr.runtime.contract.PEAK_HEADS` gathered at the peaks, the texture and
lighting heads included when the net has them), with a dynamic batch size, height and width
(multiples of 32 up to the trained R: the runtime feeds the band of the letterbox canvas that holds
the picture; files exported before take R x R only, and `OnnxPeaks` sees that from their input
shape) and K = max_hands fixed at export; the outputs are named as in the contract, and so is
the optional "threshold" input
(default -inf: all K slots; given, only the slots a hand can come from). The appearance heads'
last layer (256 -> 4,827 for the texture) is a memory-bound product of ~0.2-0.4 ms for one slot
on a CPU, ~0.6 ms for 16 (docs/benchmarks-cpu.md), and ~2.8 MB of float16 weights. BatchNorms stay
separate nodes (onnxruntime folds them when it loads the file), so the weights can be stored as
float16 exactly when they are float16 values (our packaged model.pt files are): `exact_float16`
halves the file without changing an output. `smhr_config`, `smhr_max_hands`, `smhr_format`
(`FORMAT`) and the weights' calibration (`smhr.runtime.calibration`: `smhr_score_threshold`,
`smhr_large_hand_threshold`, `smhr_large_side`, `smhr_min_hand_side`, those the model.pt stores) are
stored as metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smhr.geometry.hand_crop import CROP_MARGIN
from smhr.io.onnx_float16 import exact_float16
from smhr.model.net import SMHRNet
from smhr.model.peaks import PeakNet
from smhr.model.side_net import HandClassifier, SideClassifier
from smhr.runtime.calibration import Calibration
from smhr.runtime.contract import FORMAT, OUTPUT_NAMES
from smhr.runtime.crop_classifier import HAND_FORMAT, SIDE_FORMAT

__all__ = ["FORMAT", "HAND_FORMAT", "OUTPUT_NAMES", "SIDE_FORMAT", "compare_with_torch", "exact_float16",
           "export_hand_classifier", "export_onnx", "export_side_classifier"]


class _Outputs(nn.Module):
    """`PeakNet`'s dict as a tuple in `OUTPUT_NAMES` order (the tracer names outputs by position)."""

    def __init__(self, peaks: PeakNet) -> None:
        super().__init__()
        self.peaks = peaks

    @property
    def names(self) -> tuple[str, ...]:
        """The contract's output names this net answers (a net without appearance heads omits them)."""
        return ("scores", "cells", *self.peaks.heads)

    def forward(self, images: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.peaks(images, threshold)
        return tuple(out[name] for name in self.names)


def export_onnx(
    net: SMHRNet, path: str | Path, opset: int = 17, calibration: Calibration | None = None,
    max_hands: int = 16,
) -> Path:
    """Write `net` (folded BatchNorms, CPU, float32) as a peaks-v1 graph to `path`."""
    import warnings

    import onnx

    path = Path(path)
    net = net.cpu().float().eval()
    R = net.config.input_size
    dummy = torch.zeros(1, R, R, 3, dtype=torch.uint8)
    module = _Outputs(PeakNet(net, max_hands))
    dynamic = {"images": {0: "batch", 1: "height", 2: "width"},
               **{n: {0: "batch", 1: "slots"} for n in module.names}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation / tracer notes
        torch.onnx.export(
            module,
            (dummy, torch.tensor(0.0)),
            str(path),
            input_names=["images", "threshold"],
            output_names=list(module.names),
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=False,  # keep BatchNorms apart: their weights stay float16-exact
        )
    model = onnx.load(str(path))
    # the threshold input is optional: its default -inf keeps every slot (what a caller that feeds
    # only the images, as the first peaks-v1 graphs had, gets)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(-np.inf, np.float32), "threshold"))
    meta = {
        "smhr_config": json.dumps(net.config.to_dict()),
        "smhr_format": FORMAT,
        "smhr_max_hands": str(max_hands),
    }
    meta.update((calibration or Calibration()).to_onnx())
    _add_metadata(model, meta)
    onnx.save(exact_float16(model), str(path))
    return path


def _add_metadata(model: Any, meta: dict[str, str]) -> None:
    """Append `meta` to an ONNX ModelProto's metadata_props (what onnxruntime's
    `custom_metadata_map` reads back)."""
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v


def compare_with_torch(net: SMHRNet, onnx_path: str | Path, batch: int = 2, seed: int = 0,
                       hw: tuple[int, int] | None = None) -> dict[str, float]:
    """Largest |onnxruntime - PyTorch| per output on random images, over the peak slots where both
    chose the same cell, and "untied_cells": slots where they chose different cells although their
    scores differ by more than 1e-5 (cells of equal score may come out in either order; anything
    else is a real disagreement). hw: the input's (H, W) (default the square R x R)."""
    import onnxruntime as ort

    g = torch.Generator().manual_seed(seed)
    R = net.config.input_size
    H, W = hw or (R, R)
    x = torch.randint(0, 256, (batch, H, W, 3), generator=g, dtype=torch.uint8)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # not the note that the optional threshold input is not a constant
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    max_hands = int(session.get_modelmeta().custom_metadata_map["smhr_max_hands"])
    with torch.no_grad():
        ref = {k: v.numpy() for k, v in PeakNet(net.cpu().float().eval(), max_hands)(x).items()}
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, {"images": x.numpy()}), strict=True))
    same = ref["cells"] == got["cells"]
    out = {"scores": float(np.abs(got["scores"] - ref["scores"]).max())}
    for name in names[2:]:
        out[name] = float(np.abs(got[name] - ref[name])[same].max()) if same.any() else 0.0
    tied = np.abs(got["scores"] - ref["scores"]) <= 1e-5
    out["untied_cells"] = float((~same & ~tied).sum())
    return out


def export_side_classifier(classifier: SideClassifier, path: str | Path, opset: int = 17) -> Path:
    """Write the side classifier (`smhr.model.side_net.SideClassifier`, its mirror average inside
    the graph) to `path`: input "crops" [N,S,S,3] float32 0-255 RGB, output "logits" [N], dynamic N;
    the crop's size and margin (`smhr.geometry.hand_crop`) stored as metadata beside `SIDE_FORMAT`."""
    return _export_crop_classifier(classifier, path, SIDE_FORMAT, opset)


def export_hand_classifier(classifier: HandClassifier, path: str | Path, opset: int = 17) -> Path:
    """Write the hand check's classifier (`smhr.model.side_net.HandClassifier`) to `path`, laid out as
    `export_side_classifier`'s file with `HAND_FORMAT` metadata."""
    return _export_crop_classifier(classifier, path, HAND_FORMAT, opset)


def _export_crop_classifier(classifier: SideClassifier | HandClassifier, path: str | Path, kind: str,
                            opset: int) -> Path:  # fmt: skip
    import warnings

    import onnx

    path = Path(path)
    classifier = classifier.cpu().float().eval()
    size = classifier.net.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(classifier, (torch.zeros(2, size, size, 3),), str(path), input_names=["crops"],
                          output_names=["logits"], dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}},
                          opset_version=opset, dynamo=False)
    model = onnx.load(str(path))
    _add_metadata(model, {"smhr_format": kind, "smhr_crop_size": str(size),
                          "smhr_crop_margin": str(CROP_MARGIN)})
    onnx.save(model, str(path))
    return path
