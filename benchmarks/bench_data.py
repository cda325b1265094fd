"""Data-generation throughput; prints one JSON object.

    PYTHONPATH=src python benchmarks/bench_data.py [--device auto|cpu|cuda] [--no-synth]

- synth_<dev>_images_per_s: `smhr synth` end to end (sample, render, composite, encode, write) at
  224 px into a temporary folder, per device (CPU always, CUDA when present).
- compose_per_sample_cpu_samples_per_s: `ComposedHands` items (384 px, up to 6 hands, procedural
  backgrounds, OpenCV warps), one process. compose_bank_<switch>_cpu_samples_per_s: the composer
  alone (backgrounds from a `ProceduralBank`, best of 3 interleaved rounds) with no switch (off),
  one context switch at probability 1 (frame_fill, border_cut, occluder, low_light, motion_blur),
  or the `mix` of docs/synthetic-data.md (skip with --no-context).
Source crops for the composer benchmarks are torch-drawn ellipse "hands" (speed does not depend
on their content), so the composer numbers need torch alone (no numpy/OpenCV on the GPU host).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time

import torch


def blob_sources(n: int, size: int = 224, device: str = "cpu", seed: int = 0) -> dict[str, torch.Tensor]:
    """n source crops: an ellipse mask with a random colour texture, 21 keypoints inside it."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    c = size / 2 + (torch.rand(n, 2, generator=g) - 0.5) * size * 0.2
    ax = size * (0.2 + 0.15 * torch.rand(n, 2, generator=g))
    mask = ((xx - c[:, 0, None, None]) / ax[:, 0, None, None]) ** 2 + (
        (yy - c[:, 1, None, None]) / ax[:, 1, None, None]
    ) ** 2 <= 1
    img = (torch.rand(n, 3, 1, 1, generator=g) * 200 + torch.rand(n, 3, size, size, generator=g) * 55).to(
        torch.uint8
    )
    ang = torch.rand(n, 21, generator=g) * 2 * math.pi
    rad = torch.rand(n, 21, generator=g).sqrt() * 0.9
    kp = c[:, None] + torch.stack([ang.cos(), ang.sin()], -1) * rad[..., None] * ax[:, None]
    K = torch.tensor([[500.0, 0, size / 2], [0, 500.0, size / 2], [0, 0, 1]]).expand(n, 3, 3).clone()
    depth = 0.5 + 0.05 * torch.rand(n, 21, 1, generator=g)
    xyz = torch.cat([(kp - size / 2) / 500.0 * depth, depth], -1)
    out = {
        "images": img,
        "masks": mask.to(torch.uint8) * 255,
        "keypoints2d": kp,
        "visibility": torch.ones(n, 21, dtype=torch.bool),
        "K": K,
        "side": torch.ones(n, dtype=torch.long),
        "joints3d": xyz,
    }
    return {k: v.to(device) for k, v in out.items()}


CONTEXT = {  # the composer's context switches (docs/synthetic-data.md), timed one by one and mixed
    "frame_fill": {"frame_fill_prob": 1.0},
    "border_cut": {"border_cut_prob": 1.0},
    "occluder": {"occluder_prob": 1.0},
    "low_light": {"low_light_prob": 1.0},
    "motion_blur": {"motion_blur_prob": 1.0},
    "mix": {"frame_fill_prob": 0.3, "border_cut_prob": 0.2, "occluder_prob": 0.5, "low_light_prob": 0.25,
            "motion_blur_prob": 0.25},
}


def bench_compose_per_sample(n: int, backgrounds: object = None, **switches: float) -> float:
    import numpy as np

    from smhr.data.compose import ComposeConfig, ComposedHands
    from smhr.data.sample import HandLabel, Sample

    src = blob_sources(32)
    samples = [
        Sample(
            image=src["images"][i].permute(1, 2, 0).numpy().copy(),
            K=src["K"][i].numpy(),
            hands=[
                HandLabel(
                    1, src["keypoints2d"][i].numpy(), np.ones(21, bool), joints3d=src["joints3d"][i].numpy()
                )
            ],
            mask=(src["masks"][i].numpy() > 0).astype(np.uint8),
        )
        for i in range(32)
    ]
    cfg = ComposeConfig(out_size=384, max_hands=6, **switches)
    ds = ComposedHands(samples, n, cfg=cfg, backgrounds=backgrounds)
    ds[0]
    t = time.perf_counter()
    for i in range(n):
        ds[i]
    return n / (time.perf_counter() - t)


def bench_synth(device: str, n: int) -> float | None:
    try:
        import cv2  # noqa: F401 - synth writes JPEGs with OpenCV

        from smhr.data.synth import SynthConfig, write_synth
    except ImportError:  # no OpenCV on this host, or renderer / hand model missing from this tree
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(res=224, device=device)
        write_synth(tmp + "/warm", n=4, n_eval=0, cfg=cfg, progress=False)
        t = time.perf_counter()
        write_synth(tmp + "/run", n=n, n_eval=0, cfg=cfg, progress=False)
        return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--synth-n", type=int, default=32, help="images per synth timing")
    ap.add_argument("--per-sample-n", type=int, default=40, help="items per per-sample compose timing")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--no-context", action="store_true", help="skip the composer's context-switch timings")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU timings (GPU host)")
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and args.device != "cpu"
    res: dict[str, object] = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "cpu_threads": torch.get_num_threads(),
        "compose_res": 384,
        "compose_max_hands": 6,
    }
    if not args.no_cpu:
        res["compose_per_sample_cpu_samples_per_s"] = round(bench_compose_per_sample(args.per_sample_n), 1)
        if not args.no_context:  # composer cost alone: bank backgrounds (as training with real
            # background roots), rounds interleaved and the best of 3 kept (shared cores are noisy)
            from smhr.data.backgrounds import ProceduralBank

            bank = ProceduralBank(n=32, size=320)
            best: dict[str, float] = {}
            for _ in range(3):
                for name, switches in {"off": {}, **CONTEXT}.items():
                    rate = bench_compose_per_sample(args.per_sample_n, bank, **switches)
                    best[name] = max(best.get(name, 0.0), rate)
            for name, rate in best.items():
                res[f"compose_bank_{name}_cpu_samples_per_s"] = round(rate, 1)
        if not args.no_synth:
            res["synth_cpu_images_per_s"] = bench_synth("cpu", args.synth_n)
    if cuda:
        res["cuda_peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if not args.no_synth:
            res["synth_cuda_images_per_s"] = bench_synth("cuda", args.synth_n * 8)
    for k, v in list(res.items()):
        if isinstance(v, float):
            res[k] = round(v, 1)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
