"""CPU latency of network variants (the choice of the shipped one, docs/network.md); prints JSON.

    python benchmarks/bench_variants.py [--sizes 224 256 288 320] [--threads 2] [--repeats 40]
    python benchmarks/bench_variants.py --backbones mobilenet_v2 efficientnet_lite0 [--sizes 256]

Times the network forward (BatchNorms folded, channels-last) plus the per-hand heads gathered at one
centre, untrained weights (speed does not depend on them), median and p90 over `--repeats` calls
after 5 warm-up calls. With --backbones: the shipped variant (lite neck, separable centre head,
appearance heads) on each backbone, exported to ONNX exactly as `smhr export --onnx` does
(normalisation, NMS, top-16 gathered heads) and run in onnxruntime on one uint8 image; the
backbones take turns call by call so both see the same machine state; plus parameter count and
ONNX file size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from smhr.model.fuse import fuse_conv_bn
from smhr.model.net import SMHRNet

VARIANTS = {
    "preview: csp neck + conv centre head": {"neck": "csp", "center_head": "conv"},
    "lite neck + conv centre head": {"neck": "lite", "center_head": "conv"},
    "lite neck + separable centre head (shipped)": {"neck": "lite", "center_head": "separable",
                                                    "param_hidden": 256},
}


def time_variant(kw: dict, size: int, repeats: int) -> tuple[float, float]:
    net = SMHRNet(backbone="mobilenet_v2", neck_channels=64, head_hidden=64, appearance=False,
                  num_vertices=1609, input_size=max(size, 64), **kw)
    net, _ = fuse_conv_bn(net.eval(), inplace=True)
    net = net.to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    ind = torch.tensor([[((size // 4) // 2) * (size // 4) + (size // 8)]])
    ts = []
    with torch.no_grad():
        for i in range(repeats + 5):
            t = time.perf_counter()
            out = net(x, handedness=False)
            net.gather(out["features"], ind)
            if i >= 5:
                ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return round(statistics.median(ts), 2), round(ts[int(0.9 * len(ts))], 2)


SHIPPED = {"neck": "lite", "center_head": "separable", "neck_channels": 64, "head_hidden": 64,
           "param_hidden": 256, "appearance": True, "num_vertices": 1609, "hand_model": "anny"}


def onnx_backbones(backbones: list[str], size: int, threads: int, repeats: int) -> dict:
    """{backbone: {ms_median, ms_p90, params, onnx_mb}} of the shipped variant as an ONNX export."""
    import onnxruntime as ort

    from smhr.onnx_export import export_onnx

    sessions, out = {}, {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_variants_"))
    for name in backbones:
        net = SMHRNet(backbone=name, input_size=size, **SHIPPED).eval()
        path = export_onnx(net, tmp / f"{name}.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.log_severity_level = 3  # not the note on the optional threshold input
        sessions[name] = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        out[name] = {"params": sum(p.numel() for p in net.parameters()),
                     "backbone_params": sum(p.numel() for p in net.backbone.parameters()),
                     "onnx_mb": round(path.stat().st_size / 2**20, 2)}
    x = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    times: dict[str, list[float]] = {name: [] for name in backbones}
    for i in range(repeats + 5):
        for name, sess in sessions.items():  # alternating: both see the same machine state
            t = time.perf_counter()
            sess.run(None, {"images": x})
            if i >= 5:
                times[name].append((time.perf_counter() - t) * 1e3)
    for name, ts in times.items():
        ts.sort()
        out[name].update(ms_median=round(statistics.median(ts), 2), ms_p90=round(ts[int(0.9 * len(ts))], 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 256, 288, 320])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--backbones", nargs="+", default=None,
                    help="compare these backbones in the shipped variant, as ONNX in onnxruntime")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.backbones:
        res = {str(s): onnx_backbones(args.backbones, s, args.threads, args.repeats) for s in args.sizes}
        print(json.dumps({"threads": args.threads, "onnx_shipped_variant": res}, indent=1))
        return
    times = {name: {str(s): time_variant(kw, s, args.repeats) for s in args.sizes}
             for name, kw in VARIANTS.items()}
    out = {"threads": args.threads, "ms_median_p90": times}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
