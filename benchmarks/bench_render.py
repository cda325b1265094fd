"""Renderer throughput (images/s), printed as JSON.

Cases (issue #3): (a) 224x224, one hand per image, B=32; (b) 384x384, four hands per image, B=16;
each as the differentiable path (RGB + soft silhouette, forward + backward to vertices, albedo and
lighting) and the hard no-grad path. Hands: the bundled Anny hand when built, else the synthetic
MANO-format test hand subdivided once (~1.9k faces, about MANO's 1538), randomly posed, filling
~40 % of the image side in (a) and ~20 % in (b).

    python benchmarks/bench_render.py --device cpu --repeats 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

from smhr.hands.model import HandModel
from smhr.render import render, render_hard


def hand_meshes(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, str]:
    """n posed hands [n,V,3] (centred at the origin) and their faces."""
    try:
        model, name = HandModel.load("anny", "right"), "anny"
        subdivide = False
    except Exception:
        from smhr.hands.testing import write_synthetic_mano_pickle

        path = Path(tempfile.mkdtemp()) / "MANO_RIGHT.pkl"
        write_synthetic_mano_pickle(path, "right", 0)
        model, name, subdivide = HandModel.load("mano", "right", path=path), "synthetic-mano-subdivided", True
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = model(torch.randn(n, 3, generator=g) * 0.5, torch.randn(n, 45, generator=g) * 0.2,
                    torch.zeros(n, 10), torch.zeros(n, 3))
    verts = out.vertices - out.joints.mean(1, keepdim=True)
    faces = model.faces.numpy()
    if subdivide:
        subs = [trimesh.remesh.subdivide(v.numpy(), faces) for v in verts]
        verts = torch.tensor(np.stack([s[0] for s in subs]), dtype=torch.float32)
        faces = subs[0][1]
    return verts, torch.as_tensor(faces), name


def case(B: int, M: int, R: int, fill: float, device: torch.device) -> dict:
    verts, faces, name = hand_meshes(B * M)
    extent = float((verts[..., :2].amax(1) - verts[..., :2].amin(1)).amax(-1).mean())
    depth = 0.6
    f = fill * R * depth / extent
    grid = int(np.ceil(np.sqrt(M)))
    offs = [((i % grid + 0.5) / grid - 0.5, (i // grid + 0.5) / grid - 0.5) for i in range(M)]
    shift = torch.tensor([[o[0] * R * depth / f, o[1] * R * depth / f, depth] for o in offs])
    v = (verts.view(B, M, -1, 3) + shift[None, :, None]).to(device)
    K = torch.tensor([[f, 0, R / 2 - 0.5], [0, f, R / 2 - 0.5], [0, 0, 1.0]]).expand(B, 3, 3).to(device)
    faces = faces.to(device)
    albedo = torch.full((B, M, v.shape[2], 3), 0.5, device=device, requires_grad=True)
    sh = torch.zeros(B, M, 27, device=device)
    sh[..., 0] = 1.0
    sh.requires_grad_(True)
    return {"v": v, "K": K, "faces": faces, "albedo": albedo, "sh": sh, "R": R, "mesh": name,
            "faces_per_hand": int(faces.shape[0])}


def timeit(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device)
    results = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
               "threads": torch.get_num_threads(), "torch": torch.__version__, "cases": []}
    for label, B, M, R, fill in (("a_224_1hand_B32", 32, 1, 224, 0.4), ("b_384_4hands_B16", 16, 4, 384, 0.2)):
        c = case(B, M, R, fill, device)
        v = c["v"].clone().requires_grad_(True)

        def diff(v: torch.Tensor = v, c: dict = c, R: int = R) -> None:
            out = render(v, c["faces"], c["K"], (R, R), albedo=c["albedo"], sh=c["sh"])
            (out.rgb.mean() + out.silhouette.mean()).backward()

        def hard(c: dict = c, R: int = R) -> None:
            render_hard(c["v"], c["faces"], c["K"], (R, R), albedo=c["albedo"].detach(), sh=c["sh"].detach())

        t_diff, t_hard = timeit(diff, device, args.repeats), timeit(hard, device, args.repeats)
        with torch.no_grad():
            cover = float(render_hard(c["v"], c["faces"], c["K"], (R, R)).mask.mean())
        results["cases"].append({
            "case": label, "batch": B, "hands_per_image": M, "size": R, "mesh": c["mesh"],
            "faces_per_hand": c["faces_per_hand"], "coverage": round(cover, 4),
            "diff_fwd_bwd_images_per_s": round(B / t_diff, 1),
            "diff_ms_per_image": round(1000 * t_diff / B, 2),
            "hard_images_per_s": round(B / t_hard, 1), "hard_ms_per_image": round(1000 * t_hard / B, 2),
        })
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
