"""CPU cost and file size of the keypoint-aligned refinement (`SMHRConfig.refine`); prints one JSON object.

    python benchmarks/bench_refine.py [--weights src/smhr/assets/weights/smhr_mobilenetv2_anny.pt]
        [--hands 1 9] [--rounds 300] [--threads 1]

What it measures (docs/network.md "Keypoint-aligned refinement" keeps the latest numbers):
- "refiner_ms": the refinement alone, exported as its own ONNX graph (inputs: the neck's map of
  the weights' input size, K cells, their keypoint offsets, parameters and handedness logits), in
  onnxruntime: median and p10 per call for K = each --hands count, and per hand;
- "graph_ms": the whole peaks graph of the weights without and with a refiner, alternating call by
  call on one image, the threshold set so that exactly K slots are evaluated: medians, p10s and
  the difference (noisier than the refiner alone: the backbone dominates);
- "onnx_bytes": both exports' sizes (the refiner's weights rounded to float16 values, as a packaged
  model.pt stores them, so the export keeps them float16: `exact_float16`), and the refiner's
  parameter count.
The refiner's last layer is drawn at random (a zero one would cost the same; it is done so that the
outputs differ and the check that both graphs agree on the slots is meaningful).
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
from torch import nn

from smhr.io.torchfiles import load_smhr_checkpoint
from smhr.model.loading import network_from_checkpoint
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.onnx_export import export_onnx

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "src/smhr/assets/weights/smhr_mobilenetv2_anny.pt"


class _RefinerOnly(nn.Module):
    def __init__(self, net: SMHRNet) -> None:
        super().__init__()
        self.refine = net.refine

    def forward(self, features, cells, kp_offsets, params, handedness):
        return self.refine(features, cells, kp_offsets, params, handedness)


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _stats(times: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * t for t in times)
    return {"median": round(statistics.median(ms), 4), "p10": round(ms[len(ms) // 10], 4)}


def refiner_alone(net: SMHRNet, hands: list[int], rounds: int, threads: int, tmp: Path) -> dict:
    S = net.config.input_size // net.stride
    C = net.config.neck_channels
    K = max(hands)
    g = torch.Generator().manual_seed(0)
    args = (torch.rand(1, C, S, S, generator=g), torch.randint(0, S * S, (1, K), generator=g),
            torch.randn(1, K, 42, generator=g) * 3, torch.randn(1, K, 122, generator=g) * 0.1,
            torch.randn(1, K, 2, generator=g))
    path = tmp / "refiner.onnx"
    names = ["features", "cells", "kp_offsets", "params", "handedness"]
    torch.onnx.export(_RefinerOnly(net).eval(), args, str(path), input_names=names, output_names=["p", "h"],
                      dynamic_axes={n: {1: "K"} for n in names[1:]}, opset_version=17, dynamo=False)
    sess = _session(path, threads)
    out = {}
    for k in hands:
        feed = {n: (a[:, :k] if i else a).numpy() for i, (n, a) in enumerate(zip(names, args, strict=True))}
        for _ in range(20):
            sess.run(None, feed)
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            sess.run(None, feed)
            times.append(time.perf_counter() - t)
        s = _stats(times)
        out[str(k)] = {**s, "per_hand_median": round(s["median"] / k, 4)}
    return out


def whole_graphs(paths: dict[str, Path], hands: list[int], rounds: int, threads: int, size: int) -> dict:
    sessions = {name: _session(p, threads) for name, p in paths.items()}
    image = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    scores = sessions["off"].run(["scores"], {"images": image})[0][0]
    out = {}
    for k in hands:
        thr = np.array((scores[k - 1] + scores[k]) / 2, np.float32)  # exactly k slots evaluated
        feed = {"images": image, "threshold": thr}
        got = {n: s.run(["cells"], feed)[0] for n, s in sessions.items()}
        assert got["off"].shape == got["on"].shape == (1, k) and (got["off"] == got["on"]).all()
        times: dict[str, list[float]] = {n: [] for n in sessions}
        for r in range(rounds + 5):
            for n, s in sessions.items():
                t = time.perf_counter()
                s.run(None, feed)
                if r >= 5:
                    times[n].append(time.perf_counter() - t)
        res = {n: _stats(v) for n, v in times.items()}
        res["added_median"] = round(res["on"]["median"] - res["off"]["median"], 4)
        res["added_p10"] = round(res["on"]["p10"] - res["off"]["p10"], 4)
        out[str(k)] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--hands", type=int, nargs="+", default=[1, 9])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(0)
    off = network_from_checkpoint(load_smhr_checkpoint(a.weights), a.weights).float().eval()
    on = SMHRNet(SMHRConfig.from_dict({**off.config.to_dict(), "refine": True})).eval()
    missing = on.load_state_dict(off.state_dict(), strict=False).missing_keys
    assert all(k.startswith("refine.") for k in missing)
    with torch.no_grad():
        nn.init.normal_(on.refine.mlp[-1].weight, std=0.01)
        for p in on.refine.parameters():  # float16 values, as in a packaged model.pt (`package_weights`)
            p.copy_(p.half().float())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        paths = {"off": export_onnx(off, tmp / "off.onnx"), "on": export_onnx(on, tmp / "on.onnx")}
        result = {
            "weights": a.weights, "threads": a.threads, "rounds": a.rounds,
            "refiner_params": sum(p.numel() for p in on.refine.parameters()),
            "onnx_bytes": {n: p.stat().st_size for n, p in paths.items()},
            "refiner_ms": refiner_alone(on, a.hands, a.rounds, a.threads, tmp),
            "graph_ms": whole_graphs(paths, a.hands, a.rounds, a.threads, off.config.input_size),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
