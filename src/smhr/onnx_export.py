"""ONNX export of the network, and an onnxruntime-backed stand-in that the normal decode accepts.

What is exported: images [B,3,R,R] (ImageNet-normalised RGB) -> the dense maps
  center [B,1,R/4,R/4] logits, handedness [B,2,..] logits, params [B,122,..], kp_offsets [B,42,..]
with a dynamic batch size. The parameter and keypoint heads run densely in the graph (they are
small: 64-256 hidden channels), so the graph has no data-dependent gather and every runtime takes
it. Decoding (NMS, top-K, hand models, un-letterboxing) stays a separate step in Python:
`OnnxNetwork` behaves like `SMHRNet` for `smhr.model.decode`, so the ONNX model gives exactly the
same `Hand` records as PyTorch. The texture / lighting heads are not exported (no use at
inference; they would dominate the file size).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smhr.model.decode import gather_feat
from smhr.model.net import NUM_PARAMS, SMHRConfig, SMHRNet

OUTPUT_NAMES = ("center", "handedness", "params", "kp_offsets")


class DenseHeads(nn.Module):
    """SMHRNet -> its four dense inference maps (what the ONNX graph computes)."""

    def __init__(self, net: SMHRNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f = self.net.neck(self.net.backbone(images, stride4=self.net.neck.uses_stride4))
        return self.net.center(f), self.net.handedness(f), self.net.params(f), self.net.kp_offsets(f)


def export_onnx(
    net: SMHRNet, path: str | Path, opset: int = 17, score_threshold: float | None = None
) -> Path:
    """Write `net` (eval mode, CPU, float32) to `path`; the SMHR config is stored in the model's
    metadata ("smhr_config") so `OnnxNetwork` can rebuild the decode, and so is the weights'
    calibrated detection threshold ("smhr_score_threshold") when given."""
    import warnings

    import onnx

    path = Path(path)
    net = net.cpu().float().eval()
    R = net.config.input_size
    dummy = torch.zeros(1, 3, R, R)
    dynamic = {"images": {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
        torch.onnx.export(
            DenseHeads(net),
            dummy,
            str(path),
            input_names=["images"],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "smhr_config", json.dumps(net.config.to_dict())
    if score_threshold is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "smhr_score_threshold", repr(float(score_threshold))
    onnx.save(model, str(path))
    return path


class OnnxNetwork:
    """An onnxruntime session with the `SMHRNet` interface used by `smhr.model.decode`
    (`__call__(images) -> dict`, `gather(features, ind)`, `stride`, `config`)."""

    stride = 4

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if "smhr_config" not in meta:
            raise ValueError(f"{path}: not an smhr ONNX export (no smhr_config metadata); re-export it")
        self.config = SMHRConfig.from_dict(json.loads(meta["smhr_config"]))
        self.score_threshold: float | None = (
            float(meta["smhr_score_threshold"]) if "smhr_score_threshold" in meta else None
        )

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(list(OUTPUT_NAMES), {"images": np.ascontiguousarray(images, np.float32)})
        return dict(zip(OUTPUT_NAMES, outs, strict=True))

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        o = {k: torch.from_numpy(v) for k, v in self.run(images.cpu().numpy()).items()}
        # the "features" the decode gathers from: params and keypoint offsets, stacked
        return {
            "center": o["center"],
            "handedness": o["handedness"],
            "features": torch.cat([o["params"], o["kp_offsets"]], 1),
        }

    def gather(self, features: torch.Tensor, ind: torch.Tensor) -> dict[str, Any]:
        g = gather_feat(features, ind)
        B, K = ind.shape
        return {"params": g[..., :NUM_PARAMS], "kp_offsets": g[..., NUM_PARAMS:].reshape(B, K, 21, 2)}

    def parameters(self):  # decode helpers ask for the device through the parameters
        yield torch.zeros(())

    def eval(self) -> OnnxNetwork:
        return self


def compare_with_torch(
    net: SMHRNet, onnx_path: str | Path, batch: int = 2, seed: int = 0
) -> dict[str, float]:
    """Max absolute difference per output between PyTorch and onnxruntime on random inputs."""
    g = torch.Generator().manual_seed(seed)
    R = net.config.input_size
    x = torch.randn(batch, 3, R, R, generator=g)
    with torch.no_grad():
        ref = [t.numpy() for t in DenseHeads(net.cpu().float().eval())(x)]
    got = OnnxNetwork(onnx_path).run(x.numpy())
    return {n: float(np.abs(got[n] - r).max()) for n, r in zip(OUTPUT_NAMES, ref, strict=True)}
