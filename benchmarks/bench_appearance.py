"""Does the predicted appearance look like the hand in the photo? Prints one JSON object.

    python benchmarks/bench_appearance.py [--weights X.onnx] [--overlays DIR] \
        --source onehand10k=/work/data/mmpose/tests/data/onehand10k ... [--limit 40]

For every hand the model finds in photos of sources it was never trained on, the photo is
compared with renderings of that hand, inside the hand region: the pixels where this hand's mesh
is the front surface, intersected with the convex hull of the 2D keypoints that an independent
model (the MediaPipe teacher, `smhr.teacher`) finds for the same hand, grown by 15 % of the hull's
size. A detection the teacher does not confirm (keypoint-box IoU < 0.3) is left out: a false
detection has no hand to compare with. The hull keeps the mesh's forearm stub and any background
the mesh covers beyond the hand out of the comparison.

- `textured`: predicted per-vertex albedo x predicted SH irradiance (what the product draws);
- `flat_lit`: baseline, one flat skin colour (the official mean albedo) x predicted SH irradiance;
- `albedo_unlit`: baseline, predicted albedo without lighting (irradiance 1);
- `mean_albedo_lit` (reference): the hand's own mean predicted albedo, flat, x predicted lighting
  (does the per-vertex variation add anything over the predicted skin tone?);
- `photo_mean` (reference, an oracle): every region pixel set to the photo's mean colour there.

Metrics per hand, over the region (colours 0-1): L1 (mean |difference| over pixels and channels),
PSNR (10 log10(1 / MSE)), SSIM (Wang et al. 2004: Gaussian window sigma 1.5, per channel, on the
rendering composited over the photo, averaged over the region). Reported: the mean per source and
overall, and how often `textured` beats each baseline per hand (lower L1). Photos are shrunk to at
most --max-side px first. `--overlays DIR` writes the textured overlays (photo | rendering) to look
at. `cost` times the network with and without the appearance outputs (the same ONNX file, its
texture / light outputs pruned) and the textured rendering per hand.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from smhr.app.api import Reconstructor
from smhr.io.images import IMAGE_EXTENSIONS, read_rgb
from smhr.records import ALBEDO_MEAN
from smhr.render.textured import overlay_textured_hands, render_textured, textured_overlay, vertex_colours

METHODS = ("textured", "flat_lit", "albedo_unlit", "mean_albedo_lit", "photo_mean")
HULL_GROWTH = 0.15
MIN_IOU = 0.3


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM [H,W] of two float images [H,W,3] in 0-1 (mean over channels)."""
    c1, c2 = 0.01**2, 0.03**2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    va, vb, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
    return s.mean(-1)


def hull_mask(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Convex hull of 2D keypoints [21,2], grown by HULL_GROWTH of its size, as a bool mask."""
    hull = cv2.convexHull(keypoints.astype(np.float32)).reshape(-1, 2)
    c = hull.mean(0)
    grow = 1.0 + HULL_GROWTH * 2
    pts = np.round((hull - c) * grow + c).astype(np.int32)
    mask = np.zeros(size, np.uint8)
    cv2.fillConvexPoly(mask, pts, 1)
    return mask.astype(bool)


def scores(photo: np.ndarray, rendered: np.ndarray, region: np.ndarray) -> dict[str, float]:
    comp = photo.copy()
    comp[region] = rendered[region]
    d = comp[region] - photo[region]
    mse = float((d**2).mean())
    return {"l1": float(np.abs(d).mean()), "psnr": 10 * np.log10(1.0 / max(mse, 1e-12)),
            "ssim": float(ssim_map(comp, photo)[region].mean())}  # fmt: skip


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    H, W = image.shape[:2]
    s = max_side / max(H, W)
    if s >= 1:
        return image
    return cv2.resize(image, (round(W * s), round(H * s)), interpolation=cv2.INTER_AREA)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the boxes around two keypoint sets [21,2]."""
    lo, hi = np.maximum(a.min(0), b.min(0)), np.minimum(a.max(0), b.max(0))
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    area = float(np.prod(a.max(0) - a.min(0)) + np.prod(b.max(0) - b.min(0)))
    return inter / max(area - inter, 1e-9)


def match(hands: list, reference: list[np.ndarray]) -> list[np.ndarray | None]:
    """Greedy one-to-one match (best IoU first) of hands to reference keypoints; None = unmatched."""
    pairs = sorted(((box_iou(h.keypoints2d, r), i, j) for i, h in enumerate(hands)
                    for j, r in enumerate(reference)), reverse=True)  # fmt: skip
    out: list[np.ndarray | None] = [None] * len(hands)
    used: set[int] = set()
    for iou, i, j in pairs:
        if iou >= MIN_IOU and out[i] is None and j not in used:
            out[i] = reference[j]
            used.add(j)
    return out


def evaluate_image(rec, teacher, image: np.ndarray, faces: dict) -> tuple[list[dict], int]:
    """(per-hand metrics of every method, number of detections the teacher did not confirm) on one
    photo (uint8 RGB)."""
    hands = rec.predict(image)
    hands = [h for h in hands if h.albedo is not None]
    if not hands:
        return [], 0
    refs = match(hands, [t.keypoints2d for t in teacher(image)])
    H, W = image.shape[:2]
    photo = image.astype(np.float64) / 255.0
    verts, fs = [h.vertices for h in hands], [faces[h.side] for h in hands]
    K = hands[0].K
    lit = [vertex_colours(h.vertices, faces[h.side], h.albedo, h.sh) for h in hands]
    renders = {
        "textured": lit,
        "flat_lit": [vertex_colours(h.vertices, faces[h.side], ALBEDO_MEAN, h.sh) for h in hands],
        "albedo_unlit": [np.asarray(h.albedo, np.float64) for h in hands],
        "mean_albedo_lit": [vertex_colours(h.vertices, faces[h.side], h.albedo.mean(0), h.sh) for h in hands],
    }
    images = {k: render_textured(verts, fs, K, (H, W), c)[0] for k, c in renders.items()}
    from smhr.render.raster_numpy import rasterize_numpy

    owner = rasterize_numpy(verts, fs, K, (H, W)).mesh
    out = []
    for i, ref in enumerate(refs):
        if ref is None:
            continue
        region = (owner == i) & hull_mask(ref, (H, W))
        if region.sum() < 50:
            continue
        oracle = np.zeros_like(photo)
        oracle[region] = photo[region].mean(0)
        res = {"pixels": int(region.sum()), "score": float(hands[i].score)}
        for k in METHODS:
            res[k] = scores(photo, oracle if k == "photo_mean" else images[k], region)
        out.append(res)
    return out, sum(r is None for r in refs)


def summarise(rows: list[dict], images: int, unconfirmed: int) -> dict:
    s: dict = {"images": images, "hands": len(rows), "unconfirmed_detections": unconfirmed}
    if not rows:
        return s
    s["median_region_px"] = int(np.median([r["pixels"] for r in rows]))
    for k in METHODS:
        s[k] = {m: round(float(np.mean([r[k][m] for r in rows])), 4) for m in ("l1", "psnr", "ssim")}
    for k in ("flat_lit", "albedo_unlit", "mean_albedo_lit"):
        wins = [r["textured"]["l1"] < r[k]["l1"] for r in rows]
        s[f"textured_beats_{k}_l1"] = round(float(np.mean(wins)), 3)
    return s


def list_images(root: Path, limit: int) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if limit and len(files) > limit:  # evenly spread over the sorted list
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)]
    return files


def cost(weights: str | None, image: np.ndarray, rounds: int) -> dict:
    """Network ms per image with / without the appearance outputs, and textured render ms per hand."""
    import onnx
    import onnxruntime as ort

    from smhr.app.api import bundled_weights
    from smhr.geometry.letterbox import network_inputs

    path = Path(weights) if weights else bundled_weights(onnx=True)
    model = onnx.load(str(path))
    slots = int({p.key: p.value for p in model.metadata_props}["smhr_max_hands"])
    keep = [o for o in model.graph.output if o.name not in ("texture", "light")]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    full = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    pruned = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    R = int(json.loads(full.get_modelmeta().custom_metadata_map["smhr_config"])["input_size"])
    x = network_inputs([image], R)[0]
    t_full, t_pruned = [], []
    for _ in range(rounds):  # interleaved, so load on the machine hits both alike
        for sess, acc in ((full, t_full), (pruned, t_pruned)):
            t = time.perf_counter()
            sess.run(None, {"images": x})
            acc.append(time.perf_counter() - t)
    ms_full, ms_pruned = 1e3 * float(np.median(t_full[1:])), 1e3 * float(np.median(t_pruned[1:]))
    rec = Reconstructor.from_pretrained(path)
    hands = rec.predict(image)
    faces = rec.faces
    t = time.perf_counter()
    for _ in range(3):
        textured_overlay(image, [h.vertices for h in hands], [faces[h.side] for h in hands], hands[0].K,
                         [h.albedo for h in hands], [h.sh for h in hands])  # fmt: skip
    render_ms = 1e3 * (time.perf_counter() - t) / 3 / max(1, len(hands))
    return {"network_ms_with_appearance": round(ms_full, 2), "network_ms_without": round(ms_pruned, 2),
            "peak_slots": slots, "appearance_ms_per_slot": round((ms_full - ms_pruned) / slots, 3),
            "textured_overlay_ms_per_hand": round(render_ms, 1), "overlay_image_hw": list(image.shape[:2]),
            "threads": 1}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=None, help="an .onnx or model.pt (default: bundled)")
    ap.add_argument("--source", action="append", default=[],
                    help="NAME=FOLDER or NAME=FOLDER@LIMIT (never trained on)")
    ap.add_argument("--limit", type=int, default=40, help="images per source (evenly spread)")
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--overlays", type=Path, default=None, help="write textured overlays here")
    ap.add_argument("--cost-rounds", type=int, default=40, help="0 skips the cost timing")
    args = ap.parse_args()
    from smhr.teacher import HandTeacher

    rec = Reconstructor.from_pretrained(args.weights)
    teacher = HandTeacher(max_hands=4)
    faces = rec.faces
    report: dict = {"weights": str(args.weights or "bundled"), "backend": rec.backend,
                    "region": f"mesh silhouette & teacher-keypoint hull grown {HULL_GROWTH:.0%}",
                    "sources": {}}  # fmt: skip
    pooled: list[dict] = []
    n_images = n_unconfirmed = 0
    first = None
    for spec in args.source:
        name, folder = spec.split("=", 1)
        folder, _, limit = folder.partition("@")
        rows: list[dict] = []
        files = list_images(Path(folder), int(limit) if limit else args.limit)
        unconfirmed = 0
        for path in files:
            image = shrink(read_rgb(path), args.max_side)
            first = image if first is None else first
            got, missed = evaluate_image(rec, teacher, image, faces)
            rows += got
            unconfirmed += missed
            if args.overlays is not None and got:
                hands = [h for h in rec.predict(image) if h.albedo is not None]
                pic = overlay_textured_hands(image, hands, faces)
                args.overlays.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(args.overlays / f"{name}_{path.stem}.png"), pic[..., ::-1])
        report["sources"][name] = summarise(rows, len(files), unconfirmed)
        pooled += rows
        n_images, n_unconfirmed = n_images + len(files), n_unconfirmed + unconfirmed
    report["all"] = summarise(pooled, n_images, n_unconfirmed)
    if args.cost_rounds and first is not None:
        report["cost"] = cost(args.weights, first, args.cost_rounds)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
