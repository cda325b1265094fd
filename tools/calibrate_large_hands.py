"""Choose the large-hand threshold and size (`smhr.runtime.large_hands`) and the smallest hand
(`smhr.runtime.small_hands`) for a weights file, on the held-out splits of the sets it trained on
(or on calibration-only sets, `--calibration-sets`, and scenes, `--scene-sets`), their stress
views and composites; prints one JSON object.

    python tools/calibrate_large_hands.py [--weights model.pt] --labels labels/* [--threads 1]

For every (large-hand threshold, LARGE_SIDE) of the grid and for the rule off, one fast-mode run
of the Reconstructor at those values and the threshold, and the sources (teacher labels, box
matching) and the stress views (frame-filling, bordered, close-ups without the arm; keypoint
matching) are scored as benchmarks/bench_real.py scores them. Why a run per point, not one run at
a low score cut afterwards: the peaks are decoded from the lower of the two thresholds and the hand
check revises scores knowing the threshold and which hands are large, so a cut run keeps hands that
inference at those values never reports (the same fault made bench_real's threshold sweep choose
0.6 for v2b, docs/training.md "Weights v2b"). ~29 runs: minutes on the calibration-only set.
Chosen: the largest stress-view F1 among the grid points whose sources' precision is at most
MAX_PRECISION_LOSS below the rule-off value and whose handedness accuracy (sources and stress views,
each) is at most MAX_SIDE_LOSS below it (ties: the larger F1 sum); the rule off when no point
passes. Also printed: the point of the largest F1 sum, the grid and the rule-off baseline. Why the
constraints: the sources are hand-centred photos, so their F1 barely charges the false large hands
the rule adds on scenes; and the hands it adds score low, where the side is weakest: at v3's step
20,000 the point chosen on F1 alone (0.15, side 0.3) found 0.88 of the never-trained-on
frame-filling hands but named the side of 0.73 of them, against 0.77 for v2 (docs/evaluation.md
"Large hands").

With `--scene-sets` (never-trained-on sets of whole scenes, e.g. vest-scenes, cctv-scenes; only
their false hands per photo are counted) the choice is instead the point, the rule off included,
of the largest right-side F1 sum: over the sources and over the stress views, the F1 of the hands
found with the label's side (`correct_side_recall`) and the precision, among the points that add at
most MAX_SCENE_FALSE false hands per scene photo over the rule off. Why: the shares above (precision,
side of what is found) fall whenever a rule finds more hands, since the hands it adds are the hard
ones, so on the calibration-only close-ups they chose the rule off for v2 (stress views found 0.47
against 0.86 with v2's stored rule, and found with the right side 0.42 against 0.72:
docs/evaluation.md "Run as inference runs"); the false hands the shares were guarding against are
those on scenes (the F1-sum point added 151 on capston2-scenes), which the scene sets count directly.

The smallest hand: the detections of a run at the threshold (the rule off) on the sources and on
`--n-composed` composites of their held-out hand crops (bench_real's `composed_set`), binned by
keypoint-box side / input side (fast mode: / the image's long side) in steps of SIZE_STEP;
scanning up from the smallest bin, min_hand_side is the lower edge of the first bin holding
detections of which at least half are true (matched) hands: below it, what the network reports at
that size is mostly false.
None (no limit) when that is the first bin with detections. With `--scene-sets`, that limit is then
checked on the scenes (`checked_on_scenes`): kept only if their F1 is no lower with it than without.
Sets the weights never trained on are not loaded at all, unless named by `--calibration-sets`:
then those sets alone are used, every image of them, and they must be sets the weights never
trained on that no benchmark judges them by. Why: a network reads its trained-on photos too well to
show what a rule costs on photos it never saw (v3b's rule chosen on them added ~380 false hands on
the never-trained-on scenes, docs/training.md), and choosing on the judged sets would tune to them.
The calibration sets are listed in docs/evaluation.md "Calibration-only sets".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_real import (  # the benchmark's own set builders and predictor
    TRAINED,
    check_never_trained,
    composed_set,
    smhr_reconstructor,
    source_sets,
    stress_sets,
    trained_sources,
    values_of,
)

from smhr.data.labelled import read_meta
from smhr.eval.real import Detection, RealScores
from smhr.records import pick_threshold

THRESHOLDS = (0.1, 0.15, 0.2, 0.25)  # those under the detection threshold are tried
SIDES = (0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)
MAX_PRECISION_LOSS = 0.01
MAX_SIDE_LOSS = 0.01  # handedness accuracy the rule may cost, sources and stress views each
MAX_SCENE_FALSE = 0.02  # false hands per scene photo the rule may add (with --scene-sets)
SIZE_STEP = 0.02  # bins of keypoint-box side / input side for the smallest hand
MIN_TRUE_SHARE = 0.5  # a size bin whose detections are at least this share true hands is kept


def f1(recall: float, precision: float) -> float:
    return 2 * recall * precision / max(recall + precision, 1e-9)


def run_at(rec: Any, samples: list[Any], threshold: float, large: float | None,
           side: float) -> list[tuple[Any, list[Any]]]:  # fmt: skip
    """[(sample, hands)]: `rec` run on every sample with these values, as inference runs (its own
    values restored after: bench_real's `values_of`)."""
    with values_of(rec, threshold=threshold, large_hand_threshold=large, large_side=side):
        return [(s, rec.predict(s.image)) for s in samples]


def pooled(runs: list[tuple[Any, list[Any]]], match: str) -> dict[str, float]:
    """Recall, precision, handedness accuracy of the matched hands, hands found with the label's
    side (over the labelled hands) and false hands per photo, over runs of (sample, hands)."""
    scores = RealScores(match=match)
    for sample, hands in runs:
        scores.add(sample, [Detection.from_hand(h) for h in hands])
    r = scores.summary()
    return {"recall": r["recall"], "precision": r["precision"], "side": r["handedness_acc"],
            "right_side": r["correct_side_recall"],
            "false_per_photo": r["false_positives"] / max(len(runs), 1)}


def size_bins(runs: list[tuple[Any, list[Any]]], threshold: float) -> list[dict[str, Any]]:
    """Per SIZE_STEP bin of keypoint-box side / the image's long side (= / input side in fast
    mode): the detections >= threshold that are true (matched) and false hands (ignored ones left
    out), pooled over runs of (sample, hands)."""
    counts: dict[int, list[int]] = {}
    for sample, hands in runs:
        dets = [Detection.from_hand(h) for h in hands if h.score >= threshold]
        res = RealScores().add(sample, dets)
        true = {i for i, _ in res.pairs}
        long_side = float(max(sample.image.shape[:2]))
        for i, d in enumerate(dets):
            if i in res.ignored:
                continue
            box = d.hand_box()
            k = int(max(box[2:] - box[:2]) / long_side / SIZE_STEP)
            counts.setdefault(k, [0, 0])[0 if i in true else 1] += 1
    return [{"side_from": round(k * SIZE_STEP, 4), "true": t, "false": f}
            for k, (t, f) in sorted(counts.items())]  # fmt: skip


def smallest_hand(bins: list[dict[str, Any]]) -> float | None:
    """The lower edge of the first bin (smallest first) whose detections are >= MIN_TRUE_SHARE true;
    None when that is the first bin: nothing the network reports is mostly false."""
    for k, b in enumerate(bins):
        if b["true"] >= MIN_TRUE_SHARE * (b["true"] + b["false"]):
            return None if k == 0 else b["side_from"]
    return None


def checked_on_scenes(rec: Any, scenes: list[Any], threshold: float,
                      candidate: float | None) -> tuple[float | None, dict[str, Any]]:
    """(the smallest-hand limit kept, the scenes' numbers without and with `candidate`): the limit
    chosen on the held-out splits is kept only if the calibration-only scenes' F1 (box matching, the
    rule off) is at least as high with it as without. Why: the held-out splits hold almost no small
    true hands (v4s: none under 0.12 of the input side), so any false hand there sets a limit; on the
    scenes, whose hands are small, v4s's 0.14 halved the hands found (0.027 -> 0.012) while their
    precision fell too (0.112 -> 0.062): the detections it dropped were the scenes' better ones."""
    if candidate is None or not scenes:
        return candidate, {}
    found = {}
    for name, limit in (("without", None), ("with", candidate)):
        with values_of(rec, min_hand_side=limit):
            found[name] = pooled(run_at(rec, scenes, threshold, 1.0, 1.0), "box")
        found[name]["f1"] = f1(found[name]["recall"], found[name]["precision"])
    kept = candidate if found["with"]["f1"] >= found["without"]["f1"] else None
    return kept, found


def right_side_f1(point: dict[str, Any], part: str) -> float:
    """F1 of the hands found with the label's side (as recall) and the precision of `part`."""
    return f1(point[f"{part}_right_side"], point[f"{part}_precision"])


def choose(grid: list[dict[str, Any]], off: dict[str, Any]) -> dict[str, Any]:
    """With scene sets measured (`scenes_false_per_photo`): the point, `off` included, of the largest
    right-side F1 sum (sources and stress views) among those adding at most MAX_SCENE_FALSE false
    hands per scene photo over the rule off. Without: the grid point of the largest stress-view F1
    (ties: F1 sum) among those within MAX_PRECISION_LOSS of the rule-off sources' precision and
    MAX_SIDE_LOSS of its handedness on the sources and on the stress views; `off` when none is."""
    if "scenes_false_per_photo" in off:
        allowed = [off, *[g for g in grid if g["scenes_false_per_photo"]
                          <= off["scenes_false_per_photo"] + MAX_SCENE_FALSE + 1e-9]]
        return max(allowed, key=lambda g: (round(right_side_f1(g, "sources") + right_side_f1(g, "stress"), 9),
                                           g["large_hand_threshold"], g["large_side"]))  # ties: narrower
    allowed = [g for g in grid if g["sources_precision"] >= off["sources_precision"] - MAX_PRECISION_LOSS
               and all(g[k] >= off[k] - MAX_SIDE_LOSS for k in ("sources_side", "stress_side"))]  # fmt: skip
    if not allowed:
        return off
    return max(allowed, key=lambda g: (f1(g["stress_recall"], g["stress_precision"]), g["f1_sum"]))


def calibration_sources(labels: list[str], trained: set[str], names: list[str] | None,
                        option: str = "--calibration-sets") -> dict[str, Any]:  # fmt: skip
    """{name: (LabelledSet, header)}: the trained-on sets' held-out splits, or with `names` those
    never-trained-on sets whole; exits with a one-line message on a name that does not fit."""
    if names is None:
        sources = {k: v for k, v in source_sets(labels, None, trained).items() if v[1]["status"] == TRAINED}
        if not sources:
            sys.exit(f"none of --labels {' '.join(labels)} is a set these weights trained on")
        return sources
    by_name = {read_meta(root)["source"]["name"]: root for root in labels}
    check_never_trained(names, by_name, trained, option)
    return source_sets([by_name[n] for n in names], None, trained, whole=True)


def scene_sets(labels: list[str], trained: set[str], names: list[str] | None) -> dict[str, Any]:
    """{name: (LabelledSet, header)} of the --scene-sets (never trained on, every image); {} without."""
    if not names:
        return {}
    return calibration_sources(labels, trained, names, option="--scene-sets")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="model.pt / .onnx (default: the bundled weights)")
    ap.add_argument("--labels", nargs="+", required=True,
                    help="labelled sets: trained-on ones, unless named by --calibration-sets/--scene-sets")
    ap.add_argument("--calibration-sets", nargs="+", default=None, metavar="NAME",
                    help="calibrate on these never-trained-on sets of --labels (every image) instead "
                    "of the trained-on held-out splits")
    ap.add_argument("--scene-sets", nargs="+", default=None, metavar="NAME",
                    help="never-trained-on sets of --labels with whole scenes (every image): only their "
                    "false hands per photo are counted, and the choice becomes the right-side F1 rule")
    ap.add_argument("--threshold", type=float, default=None, help="default: the weights' calibrated one")
    ap.add_argument("--n-stress", type=int, default=300)
    ap.add_argument("--n-composed", type=int, default=200, help="composites for the smallest hand")
    ap.add_argument("--smallest-only", action="store_true",
                    help="only the smallest hand (no large-hand grid: two runs, sources and composites, "
                    "not ~60)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    trained = trained_sources(args.weights)
    if trained is None:
        sys.exit(f"--weights {args.weights}: records no training config (an .onnx): pass the model.pt")
    rec = smhr_reconstructor(args.weights, None, None, "fast", {"large_hand_threshold": None})
    threshold = pick_threshold(args.threshold, rec.network.calibration.score_threshold)  # (the weights' own)
    sources = calibration_sources(args.labels, trained, args.calibration_sets)
    stress = {} if args.smallest_only else stress_sets(sources, args.n_stress)
    src = [ds[i] for ds, _ in sources.values() for i in range(len(ds))]
    scenes = [ds[i] for ds, _ in scene_sets(args.labels, trained, args.scene_sets).values()
              for i in range(len(ds))]
    views = [s for by in stress.values() for samples in by.values() for s in samples]

    def point(large: float | None, side: float, src_runs: list[Any] | None = None) -> dict[str, Any]:
        """The sources' (box matching) and stress views' (keypoint matching) numbers at these values,
        and the scene sets' false hands per photo."""
        a = pooled(src_runs or run_at(rec, src, threshold, large, side), "box")
        b = pooled(run_at(rec, views, threshold, large, side), "keypoints")
        out = {"large_hand_threshold": 1.0 if large is None else large, "large_side": side,
               **{f"sources_{k}": v for k, v in a.items()}, **{f"stress_{k}": v for k, v in b.items()},
               "f1_sum": f1(a["recall"], a["precision"]) + f1(b["recall"], b["precision"])}
        if scenes:
            scene = pooled(run_at(rec, scenes, threshold, large, side), "box")
            out["scenes_false_per_photo"] = scene["false_per_photo"]
        return out

    src_off = run_at(rec, src, threshold, 1.0, 1.0)  # the rule off as stored: also the smallest hand's run
    off = best = best_sum = None
    grid: list[dict[str, Any]] = []
    if not args.smallest_only:
        off = point(1.0, 1.0, src_off)  # (stored as threshold 1: under no score threshold: the rule off)
        grid = [point(large, side) for large in THRESHOLDS if large < threshold
                for side in SIDES]  # (a large threshold >= the threshold is the rule off)
        best_sum = max(grid, key=lambda g: g["f1_sum"], default=off)
        best = choose(grid, off)
    composed = composed_set([ds for ds, _ in sources.values()], args.n_composed)
    bins = size_bins(src_off + run_at(rec, composed, threshold, 1.0, 1.0), threshold)
    held_out_choice = smallest_hand(bins)
    smallest, on_scenes = checked_on_scenes(rec, scenes, threshold, held_out_choice)
    print(json.dumps({"weights": args.weights or "bundled", "threshold": threshold,
                      "sets": sorted(sources), "calibration_sets": args.calibration_sets,
                      "images": len(src), "stress_views": len(views), "scene_photos": len(scenes),
                      "scene_sets": args.scene_sets,
                      "off": off,
                      "chosen": best, "best_f1_sum": best_sum, "grid": grid,
                      "min_hand_side": {"chosen": smallest, "held_out_choice": held_out_choice,
                                        "scenes": on_scenes, "composites": len(composed), "bins": bins}},
                     indent=1, default=float))
    if best is None or off is None:
        print(f"smallest hand: {smallest} (--min-hand-side; None: no limit)", file=sys.stderr)
        return
    print(f"chosen: large_hand_threshold {best['large_hand_threshold']}, large side {best['large_side']} "
          f"(F1 sum {best['f1_sum']:.3f} vs {off['f1_sum']:.3f} off); store them with the weights: "
          f"smhr package {args.weights or 'MODEL.pt'} OUT.pt --threshold {threshold:g} "
          f"--large-hand-threshold {best['large_hand_threshold']:g} --large-side {best['large_side']:g}"
          + ("" if smallest is None else f" --min-hand-side {smallest:g}"), file=sys.stderr)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
