"""CPU cost of the whole SMHR network per backbone, as users run it; prints JSON (docs/network.md).

    PYTHONPATH=src python benchmarks/bench_backbones.py [--backbones mobilenet_v2 mediapipe_palm]
        [--size 256] [--threads 2] [--rounds 60]

Each backbone gets the shipped architecture around it (configs/real-cpu.yaml: lite neck, separable
centre head, 64-channel neck and heads, 256-wide parameter heads, appearance heads, the bundled Anny
hand), is exported with `smhr export`'s own function (peaks-v1 graph) and timed in the product's
onnxruntime backend (`smhr.runtime.network.OnnxPeaks`, batch 1, `--threads` intra-op threads, a
random uint8 image). The backbones take turns call by call (after 5 warm-up calls each), so a busy
shared machine slows them alike. Weights are untrained (speed does not depend on them). Reported:
median / p10 / p90 ms per call, parameters (all, backbone), exported ONNX size in MiB.
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

from smhr.model.net import SMHRConfig, SMHRNet
from smhr.onnx_export import export_onnx
from smhr.runtime.network import OnnxPeaks

SHIPPED = {"neck": "lite", "center_head": "separable", "neck_channels": 64, "head_hidden": 64,
           "param_hidden": 256, "appearance": True, "num_vertices": 1609, "hand_model": "anny"}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", nargs="+", default=["mobilenet_v2", "mediapipe_palm"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args()
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        nets = {}
        for name in args.backbones:
            torch.manual_seed(0)
            net = SMHRNet(SMHRConfig(backbone=name, input_size=args.size, **SHIPPED)).eval()
            path = export_onnx(net, Path(tmp) / f"{name}.onnx")
            nets[name] = OnnxPeaks(path, threads=args.threads)
            out[name] = {
                "params_total": sum(p.numel() for p in net.parameters()),
                "params_backbone": sum(p.numel() for p in net.backbone.parameters()),
                "onnx_mib": round(path.stat().st_size / 2**20, 2),
            }
        image = np.random.default_rng(0).integers(0, 255, (1, args.size, args.size, 3), dtype=np.uint8)
        times: dict[str, list[float]] = {n: [] for n in nets}
        for r in range(args.rounds + 5):
            for name, peaks in nets.items():
                t = time.perf_counter()
                peaks.run(image)
                if r >= 5:
                    times[name].append((time.perf_counter() - t) * 1e3)
    for name, ts in times.items():
        ts.sort()
        out[name].update(ms_median=round(statistics.median(ts), 2), ms_p10=round(ts[len(ts) // 10], 2),
                         ms_p90=round(ts[int(0.9 * len(ts))], 2))
    print(json.dumps({"size": args.size, "threads": args.threads, "rounds": args.rounds, "backbones": out},
                     indent=1))


if __name__ == "__main__":
    main()
