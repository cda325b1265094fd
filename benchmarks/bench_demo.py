"""Shipped-model check on the bundled sample images: detection recall / duplicates / 2D error, and
CPU end-to-end latency per image; prints one JSON object.

    python benchmarks/bench_demo.py [--weights model.pt] [--device cpu] [--threads 2] [--repeats 20]

Matching: a prediction matches a labelled hand when their 21 keypoints are on average closer than
half the labelled hand's keypoint-box diagonal; greedy by score. recall = matched / labelled hands;
duplicates = predictions whose best labelled hand was already taken by a higher-scoring one;
false_positives = other unmatched predictions. Latency: `Reconstructor.predict(path)` (read, decode,
letterbox, network, decode, hand models) on each 384x384 sample, median over repeats after warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch


def match(pred: list, labels: list[dict]) -> dict[str, float]:
    gt = [np.asarray(h["keypoints2d_px"], np.float64) for h in labels]
    taken = [False] * len(gt)
    out = {"matched": 0, "duplicates": 0, "false_positives": 0, "side_correct": 0, "errors_px": []}
    for p in sorted(pred, key=lambda h: -h.score):
        dists = [float(np.linalg.norm(p.keypoints2d - g, axis=1).mean()) for g in gt]
        if not dists:
            out["false_positives"] += 1
            continue
        j = int(np.argmin(dists))
        diag = float(np.linalg.norm(gt[j].max(0) - gt[j].min(0)))
        if dists[j] > 0.5 * diag:
            out["false_positives"] += 1
        elif taken[j]:
            out["duplicates"] += 1
        else:
            taken[j] = True
            out["matched"] += 1
            out["side_correct"] += int(("left", "right")[p.side] == labels[j]["side"])
            out["errors_px"].append(dists[j])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threshold", type=float, default=None, help="default: the weights' calibrated value")
    ap.add_argument("--input-size", type=int, default=None, help="default: the weights' training size")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from smhr.api import Reconstructor
    from smhr.demo import bundled_samples

    rec = Reconstructor.from_pretrained(args.weights, args.device, threshold=args.threshold,
                                        input_size=args.input_size)
    samples = bundled_samples()
    labels = json.loads((samples[0].parent / "labels.json").read_text())["images"]
    totals = {"labelled": 0, "predicted": 0, "matched": 0, "duplicates": 0, "false_positives": 0,
              "side_correct": 0}
    errors: list[float] = []
    multi_labelled = multi_matched = 0
    for path in samples:
        hands = rec.predict(path)
        m = match(hands, labels[path.name])
        if path.name.startswith("multi"):
            multi_labelled += len(labels[path.name])
            multi_matched += m["matched"]
        totals["labelled"] += len(labels[path.name])
        totals["predicted"] += len(hands)
        for k in ("matched", "duplicates", "false_positives", "side_correct"):
            totals[k] += m[k]
        errors += m["errors_px"]
    lat = []
    multi = [p for p in samples if p.name.startswith("multi")]
    for p in multi[:2]:
        rec.predict(p)  # warm-up
    for _ in range(args.repeats):
        for p in multi:
            t0 = time.perf_counter()
            rec.predict(p)
            lat.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({
        "device": args.device, "threads": args.threads, "torch": torch.__version__,
        "weights": str(args.weights or "bundled"), "input_size": rec.input_size, "threshold": rec.threshold,
        "images": len(samples), **totals,
        "recall": round(totals["matched"] / max(totals["labelled"], 1), 4),
        "recall_multi_hand_images": round(multi_matched / max(multi_labelled, 1), 4),
        "mean_kp2d_error_px": round(float(np.mean(errors)), 2) if errors else None,
        "handedness_accuracy_of_matched": round(totals["side_correct"] / max(totals["matched"], 1), 4),
        "latency_ms_384_median": round(statistics.median(lat), 2),
        "latency_ms_384_p90": round(float(np.percentile(lat, 90)), 2),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
