"""Shipped-model check on the bundled sample images: detection recall / precision / duplicates,
PCK@0.2 of the hand box, handedness, and end-to-end latency per image; prints one JSON object.

    python benchmarks/bench_demo.py [--weights W] [--backend auto|onnxruntime|torch] [--repeats 20]

The samples are our synthetic renders (`multi_*`, `single_*`: exact labels) and real photos
(`real_*`: held-out, labelled by the 2D teacher; ATTRIBUTION.md); each group is scored apart with
the one matcher of `smhr.eval` (keypoint-box IoU >= 0.5, one-to-one, best score first).
Latency: `predict(path)` (read, letterbox, network, decode, hand models), median over repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from smhr.data.sample import HandLabel, Sample
from smhr.eval.real import Detection, RealScores
from smhr.hands.keypoints import SIDE_NAMES
from smhr.io.images import read_rgb


def labelled_sample(image_shape: tuple[int, ...], labels: list[dict]) -> Sample:
    hands = [HandLabel(side=SIDE_NAMES.index(h["side"]), keypoints2d=h["keypoints2d_px"],
                       visibility=np.ones(21, bool)) for h in labels]
    return Sample(image=np.zeros(image_shape, np.uint8), K=None, hands=hands)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threshold", type=float, default=None, help="default: the weights' calibrated value")
    ap.add_argument("--mode", choices=("fast", "photo"), default="fast", help="inference mode (docs/usage)")
    args = ap.parse_args()
    from smhr.app.api import Reconstructor
    from smhr.app.demo import bundled_samples

    rec = Reconstructor.from_pretrained(args.weights, "cpu", threshold=args.threshold, backend=args.backend,
                                        threads=args.threads, mode=args.mode)
    samples = bundled_samples()
    labels = json.loads((samples[0].parent / "labels.json").read_text())["images"]
    groups = {"synthetic": RealScores(), "real": RealScores()}
    for path in samples:
        image = read_rgb(path)
        hands = rec.predict(image)
        group = "real" if path.name.startswith("real") else "synthetic"
        groups[group].add(labelled_sample(image.shape, labels[path.name]),
                          [Detection.from_hand(h) for h in hands])
    lat = []
    for p in samples[:2]:
        rec.predict(p)  # warm-up
    for _ in range(args.repeats):
        for p in samples:
            t0 = time.perf_counter()
            rec.predict(p)
            lat.append((time.perf_counter() - t0) * 1e3)
    out = {"weights": str(args.weights or "bundled"), "mode": args.mode, "backend": rec.backend,
           "input_size": rec.input_size,
           "threshold": rec.threshold, **{g: s.summary() for g, s in groups.items()},
           "latency_ms_median": round(statistics.median(lat), 2),
           "latency_ms_p90": round(float(np.percentile(lat, 90)), 2)}
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
