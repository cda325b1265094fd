"""Which hand size (in network pixels) the weights find best: recall, PCK and size bias per target size.

    python benchmarks/bench_hand_size.py --labels labels/ardamavi-digits labels/subhih-hands ... \
        --image-base /work/data/real [--sizes 16 24 32 48 64 96 128 160 200] [--limit 150]

Why: photo mode (`smhr.runtime.tiling`) cuts a still photo into tiles so that small hands reach the
size the network finds well; that size is measured here, not guessed. Each single-hand photo of the
scored splits (the held-out split of a "train" set, every image of a test-only set) is warped by one
affine so that its hand's keypoint box has the target longer side and sits at a random spot of the
network's square input (the photo around it, edge pixels repeated outside), then scored with the
bench_real matcher (keypoint-box IoU >= 0.5). Only hands at least --min-hand px long in the photo are
used, so small targets are downscales as in a tiled photo. Prints one JSON object.

Size bias: for each found hand (the prediction nearest the label, as bench_real.py matches the 3D
fixture's hands: `nearest_prediction`), its keypoints' spread (mean distance from their centroid,
over the labelled keypoints) over the label's, as the median per size, for the fitted hand model
(`Hand.keypoints2d`) and the local keypoint head (`Hand.local_keypoints2d`). 1.0 = the right image
size; a fitted ratio that falls with the size means the network pulls every hand towards one size,
and its depth with it. `--fit-translation off` measures the network's own fitted size; on (the
library's default) the decode moves each hand to where its local keypoints see it
(`smhr.runtime.translation_fit`), which pulls the fitted ratio towards the local head's.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from smhr.data.stress import single_hands, warp_sample
from smhr.eval.real import Detection, RealScores


def views(samples: list, size: int, hand_px: float, seed: int) -> list:
    """One view per sample: the hand `hand_px` long on its box's longer side inside a size x size frame."""
    rng = np.random.default_rng(seed)
    out = []
    for s, h in single_hands(samples, 0.0):
        lo, hi = h.keypoints2d.min(0), h.keypoints2d.max(0)
        z = hand_px / float((hi - lo).max())
        margin = 0.5 * hand_px + 4
        centre = rng.uniform(margin, size - margin, 2) if size > 2 * margin else np.full(2, size / 2)
        A = np.array([[z, 0, centre[0] - z * 0.5 * (lo[0] + hi[0])],
                      [0, z, centre[1] - z * 0.5 * (lo[1] + hi[1])]])  # fmt: skip
        out.append(warp_sample(s, A, size, f"hand{hand_px:g}"))
    return out


def spread_ratio(pred: np.ndarray, label: np.ndarray, visible: np.ndarray) -> float:
    """How much larger `pred`'s keypoints spread than `label`'s (both [21, 2], over `visible`)."""
    def spread(k: np.ndarray) -> float:
        k = k[visible]
        return float(np.linalg.norm(k - k.mean(0), axis=1).mean())

    return spread(pred) / max(spread(label), 1e-6)


def size_bias(view: Any, hands: list) -> tuple[float, float] | None:
    """(fitted, local) spread ratios of the prediction nearest the view's one hand, None when no
    prediction is within half the label's box diagonal (mean keypoint distance)."""
    from bench_real import nearest_prediction

    g = view.hands[0]
    vis = np.asarray(g.visibility, bool)
    k = nearest_prediction(hands, g, range(len(hands))) if vis.sum() >= 3 else None
    if k is None:
        return None
    h = hands[k]
    return (spread_ratio(h.keypoints2d, g.keypoints2d, vis),
            spread_ratio(h.local_keypoints2d, g.keypoints2d, vis))


def main() -> None:
    from bench_real import source_sets

    from smhr.app.api import Reconstructor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", nargs="+", required=True)
    ap.add_argument("--image-base", default=None)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--sizes", nargs="+", type=float, default=[16, 24, 32, 48, 64, 96, 128, 160, 200])
    ap.add_argument("--min-hand", type=float, default=96.0, help="smallest source hand used (px)")
    ap.add_argument("--limit", type=int, default=150, help="single-hand photos per set")
    ap.add_argument("--fit-translation", choices=("on", "off"), default="on",
                    help="hands moved to where their local keypoints see them (runtime.translation_fit)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rec = Reconstructor.from_pretrained(args.weights, "cpu", fit_translation=args.fit_translation == "on")
    R = rec.input_size
    sets = source_sets(args.labels, args.image_base, set(), None)
    pool: dict[str, list] = {}
    for name, (ds, _) in sets.items():
        idx = [i for i in range(len(ds)) if len(ds.records[i]["hands"]) == 1]
        samples = [ds[i] for i in idx]
        pool[name] = [s for s, _ in single_hands(samples, args.min_hand)][: args.limit]
    out: dict = {"input_size": R, "fit_translation": rec.fit_translation,
                 "hands_per_set": {k: len(v) for k, v in pool.items()}, "by_size": {}}
    for hand_px in args.sizes:
        row: dict[str, Any] = {}
        ratios = []
        for name, samples in pool.items():
            sc = RealScores()
            for v in views(samples, R, hand_px, seed=int(hand_px)):
                hands = rec.predict(v.image)
                sc.add(v, [Detection.from_hand(h) for h in hands])
                ratios.append(size_bias(v, hands))
            r = sc.summary()
            row[name] = {k: r[k] for k in ("hands", "recall", "precision", "pck0.2_all")}
        hands_total = sum(r["hands"] for r in row.values())
        row["pooled_recall"] = sum(r["recall"] * r["hands"] for r in row.values()) / max(hands_total, 1)
        found = np.array([r for r in ratios if r is not None]).reshape(-1, 2)
        row["size_ratio"] = {"hands": len(found), **({
            "fitted": round(float(np.median(found[:, 0])), 3),
            "local_head": round(float(np.median(found[:, 1])), 3)} if len(found) else {})}  # fmt: skip
        out["by_size"][f"{hand_px:g}"] = row
        print(f"hand {hand_px:g} px: pooled recall {row['pooled_recall']:.3f}, "
              f"size ratio {row['size_ratio']}", flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
