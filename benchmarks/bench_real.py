"""Real-photo quality of a model (and of the 2D teacher) on held-out data; prints one JSON object.

    python benchmarks/bench_real.py [--weights model.pt] [--teacher] \
        --labels labels/subhih-hands labels/ragadag-hands labels/dwivedi-gestures \
        --crops labels/ardamavi-digits --gt-root PATH/mmpose/tests/data --synth PATH/synth-r224

Sets (every number of the real-photos acceptance in docs/training.md comes from here):
- `real_heldout`: the held-out split of each labelled set (one image per augmented-copy group for
  the Roboflow export with 3 copies per photo), the teacher's labels as reference, ignore regions
  respected; and all of them pooled. `--sweep`: pooled recall / precision / F1 per threshold (how
  the shipped threshold is chosen).
- `composed_4hands`: `--n-composed` canvases of exactly 4 real hands cut from the held-out
  splits (of --labels and --crops), pasted on hand-free held-out backgrounds, 384 px, fixed seed.
- `gt_fixtures`: human/motion-capture 2D ground truth (mmpose's OneHand10K, CMU Panoptic and
  FreiHAND test fixtures; research licences, evaluation only), matched by visible keypoints.
- `synthetic_freihand`: PA-MPJPE etc. on a `smhr synth` evaluation split (3D ground truth).
Matching is one-to-one by keypoint-box IoU >= --iou (smhr.eval.matching); PCK@0.2 uses 0.2 x the
longer side of the labelled hand's keypoint box.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smhr.data.sample import Sample
from smhr.eval.real import Detection, RealScores

Predictor = Callable[[np.ndarray], list[Detection]]


def smhr_predictor(weights: str | None, input_size: int | None, threshold: float | None) -> Predictor:
    from smhr.app.api import Reconstructor

    rec = Reconstructor.from_pretrained(weights, device="cpu", input_size=input_size, threshold=threshold)

    def predict(image: np.ndarray) -> list[Detection]:
        return [Detection(h.keypoints2d, int(h.side), float(h.score)) for h in rec.predict(image)]

    return predict


def teacher_predictor() -> Predictor:
    from smhr.teacher import HandTeacher

    teacher = HandTeacher(max_hands=4)

    def predict(image: np.ndarray) -> list[Detection]:
        return [Detection(h.keypoints2d, h.side, h.palm_score * h.presence) for h in teacher(image)]

    return predict


def score(samples: Sequence[Sample] | Any, predict: Predictor, iou: float,
          match: str = "box") -> dict[str, Any]:
    s = RealScores(iou_threshold=iou, match=match)
    for i in range(len(samples)):
        sample = samples[i]
        s.add(sample, predict(sample.image), sample.meta.get("side_known"))
    return s.summary()


def sweep(samples_sets: Sequence[Any], predict: Predictor, iou: float,
          thresholds: Sequence[float]) -> list[dict[str, float]]:
    """Pooled recall / precision / F1 / duplicates at each score threshold (one network run per image;
    the predictor must be built with a threshold at or below the lowest one)."""
    runs = [(ds[i], predict(ds[i].image)) for ds in samples_sets for i in range(len(ds))]
    out = []
    for t in thresholds:
        s = RealScores(iou_threshold=iou)
        for sample, dets in runs:
            s.add(sample, [d for d in dets if d.score >= t])
        r = s.summary()
        f1 = 2 * r["recall"] * r["precision"] / max(r["recall"] + r["precision"], 1e-9)
        out.append({"threshold": t, "recall": r["recall"], "precision": r["precision"], "f1": f1,
                    "duplicates": r["duplicates"], "pck0.2_all": r["pck0.2_all"]})
    return out


def heldout_sets(labels: Sequence[str]) -> dict[str, Any]:
    from smhr.data.labelled import LabelledSet

    # one image per near-duplicate group where the groups are augmented copies of one photo (Roboflow
    # exports); video frames of one held-out group are different moments and all count
    return {Path(r).name: LabelledSet(r, "test", one_per_group="ragadag" in Path(r).name) for r in labels}


def composed_set(roots: Sequence[str], n: int, seed: int = 7) -> list[Sample]:
    from smhr.data.backgrounds import MixedBackgrounds, ProceduralBank
    from smhr.data.compose import ComposeConfig, ComposedHands
    from smhr.data.labelled import LabelledSet
    from smhr.data.real_crops import HandFreeBackgrounds, RealHandCrops

    sets = [LabelledSet(r, "test", max_side=512) for r in roots]
    crops = RealHandCrops(sets)
    bgs = MixedBackgrounds(
        [(HandFreeBackgrounds(sets[:-1] or sets, seed=seed), 0.6), (ProceduralBank(64, seed=seed), 0.4)]
    )
    cfg = ComposeConfig(out_size=384, min_hands=4, max_hands=4, size_range=(0.4, 0.8))
    ds = ComposedHands(crops, n, cfg, seed=seed, backgrounds=bgs)
    return [ds[i] for i in range(n)]


def gt_sets(root: str) -> dict[str, Any]:
    from bench_teacher import GT_FIXTURES

    from smhr.data.coco_hands import CocoHands

    return {name: CocoHands(Path(root) / rel, name=name, side=side)
            for name, (rel, side) in GT_FIXTURES.items() if (Path(root) / rel).is_file()}


def pooled(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pool per-set summaries by their counts (recall over all hands, precision over all scored
    detections, accuracies over their own denominators)."""
    hands = sum(p["hands"] for p in parts.values())
    tp = sum(round(p["recall"] * p["hands"]) for p in parts.values() if p["hands"])
    scored = sum(
        round(p["recall"] * p["hands"]) + p["duplicates"] + p["false_positives"] for p in parts.values()
    )
    return {
        "hands": hands,
        "recall": tp / hands if hands else float("nan"),
        "precision": tp / scored if scored else float("nan"),
        "duplicates": sum(p["duplicates"] for p in parts.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="model.pt / .onnx (default: the bundled weights)")
    ap.add_argument("--input-size", type=int, default=None)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--teacher", action="store_true", help="also score the 2D teacher on the same sets")
    ap.add_argument("--labels", nargs="*", default=[], help="labelled sets (held-out split scored)")
    ap.add_argument("--crops", nargs="*", default=[], help="extra labelled sets used only as hand crops")
    ap.add_argument("--gt-root", default=None, help="mmpose tests/data folder (real-GT fixtures)")
    ap.add_argument("--synth", default=None, help="`smhr synth` folder (evaluation split scored)")
    ap.add_argument("--n-composed", type=int, default=200)
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sweep", action="store_true",
                    help="also pooled recall / precision / F1 over thresholds 0.1..0.6 (held-out splits)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    predictors = {"smhr": smhr_predictor(args.weights, args.input_size, args.threshold)}
    if args.teacher:
        predictors["teacher"] = teacher_predictor()
    out: dict[str, Any] = {"weights": args.weights or "bundled", "iou": args.iou}
    held = heldout_sets(args.labels)
    composed = composed_set([*args.labels, *args.crops], args.n_composed) if args.labels else []
    gts = gt_sets(args.gt_root) if args.gt_root else {}
    for name, predict in predictors.items():
        res: dict[str, Any] = {}
        if held and name == "smhr":  # (the teacher made these labels)
            res["real_heldout"] = {k: score(ds, predict, args.iou) for k, ds in held.items()}
            res["real_heldout"]["pooled"] = pooled(res["real_heldout"])
        if composed and name == "smhr":
            res["composed_4hands"] = score(composed, predict, args.iou)
        if gts:  # human labels of partly occluded hands: matched by their visible keypoints
            res["gt_fixtures"] = {k: score(ds, predict, args.iou, "keypoints") for k, ds in gts.items()}
        out[name] = res
    if args.sweep and held:
        low = smhr_predictor(args.weights, args.input_size, 0.05)
        out["smhr"]["threshold_sweep"] = sweep(list(held.values()), low, args.iou,
                                              [round(0.05 * k, 2) for k in range(2, 13)])
    if args.synth:
        from smhr.app.api import Reconstructor
        from smhr.eval import freihand
        from smhr.eval.predict import predict_freihand

        xyz, verts = predict_freihand(Reconstructor.from_pretrained(args.weights, "cpu"), args.synth)
        gt_xyz, gt_verts = freihand.load_ground_truth(args.synth)
        s = freihand.evaluate(gt_xyz, gt_verts, xyz, verts)["summary"]
        out["smhr"]["synthetic_freihand"] = {
            k: s[k] for k in ("pa_mpjpe_mm", "pa_mpvpe_mm", "f@5mm", "f@15mm")
        }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
