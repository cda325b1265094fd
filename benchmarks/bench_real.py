"""Real-photo quality of a model (and of the 2D teacher), per source "trained on" / "never trained on";
prints one JSON object (stdout) and a Markdown table of its rows (stderr).

    python benchmarks/bench_real.py [--weights model.pt] [--teacher] --labels labels/* \
        --image-base /work/data/real --crops labels/ardamavi-digits \
        --gt-root /work/data/mmpose/tests/data [--synth PATH/synth-r224]

Sets (the data: docs/evaluation.md "Transfer to photos never trained on"; rebuild the photos with
tools/rebuild_real.py, the fixtures with tools/rebuild_fixtures.sh):
- `sources`: one row per labelled set, marked "trained on" when the weights' own training config
  (checkpoint meta) names it, else "never trained on" (`--trained-on` overrides, e.g. for .onnx).
  Scored split: the held-out split of a set whose role is "train", every image of a test-only set
  (meta.json role "test": never in any training mixture). One image per augmented-copy group of a
  Roboflow export; the teacher's labels as reference, ignore regions respected. `pooled`: per status.
- `stress`: frame-filling views (hand scaled to 60-130 % of the frame, cut by the border), the same
  views inside a black border (half their side on every side), and upright close-ups cut below the
  wrist (no arm: handedness from the hand alone) of the single-hand photos of the scored splits
  (`smhr.data.stress`), per status; matched by visible keypoints.
- `gt_fixtures`: human/motion-capture 2D ground truth (mmpose's OneHand10K, CMU Panoptic, FreiHAND).
- `fixtures_3d`: InterHand2.6M frames with 3D joints and cameras (mmpose's fixture), predicted in
  the true K: PCK@0.2, MPJPE (camera frame), PA-MPJPE, root-relative MPJPE, wrist depth error.
- `composed_4hands`, `synthetic_freihand`: as before (`--n-composed`, `--synth`); the synthetic block
  also has the camera-frame numbers PA-MPJPE removes (`smhr.eval.placement`: root-relative MPJPE,
  the whole hand's rotation error, root depth error and depth ratio, all at the true K).
Matching is one-to-one by keypoint-box IoU >= --iou (smhr.eval.real); PCK@0.2 uses 0.2 x the longer
side of the labelled hand's (visible) keypoint box. `--ap 0.05` adds each row's AP (COCO 101-point, same
matching) from a second run at that low threshold: a threshold-free ranking score, for comparing
weights whose scores are scaled differently (a lower threshold on one may only trade precision).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smhr.data.sample import Sample
from smhr.eval.real import Detection, RealScores

Predictor = Callable[[np.ndarray], list[Detection]]
TRAINED, NEVER = "trained on", "never trained on"  # (the words of smhr.train.validate)


def smhr_reconstructor(weights: str | None, input_size: int | None, threshold: float | None,
                       mode: str = "fast", views: dict[str, Any] | None = None) -> Any:  # fmt: skip
    """views: photo mode's zoom_out / mirror options (absent: the Reconstructor's defaults)."""
    from smhr.app.api import Reconstructor

    return Reconstructor.from_pretrained(weights, device="cpu", input_size=input_size, threshold=threshold,
                                         mode=mode, **(views or {}))


def smhr_predictor(rec: Any) -> Predictor:
    def predict(image: np.ndarray) -> list[Detection]:
        return [Detection.from_hand(h) for h in rec.predict(image)]

    return predict


def teacher_predictor() -> Predictor:
    from smhr.teacher import HandTeacher

    teacher = HandTeacher(max_hands=4)

    def predict(image: np.ndarray) -> list[Detection]:
        return [Detection(h.keypoints2d, h.side, h.palm_score * h.presence) for h in teacher(image)]

    return predict


def score(samples: Sequence[Sample] | Any, predict: Predictor, iou: float,
          match: str = "box", with_ap: bool = False) -> dict[str, Any]:
    """The set's real-photo scores; with_ap keeps "ap" (meaningful from a low-threshold run only:
    the AP of thresholded detections is a cut curve, so it is left out otherwise)."""
    s = RealScores(iou_threshold=iou, match=match)
    seconds = []
    for i in range(len(samples)):
        sample = samples[i]
        t = time.perf_counter()
        found = predict(sample.image)
        seconds.append(time.perf_counter() - t)
        s.add(sample, found, sample.meta.get("side_known"))
    r = s.summary()
    if not with_ap:
        r.pop("ap")
    return {**r, "ms_per_image": round(1e3 * float(np.median(seconds)), 1) if seconds else None}


@contextmanager
def values_of(rec: Any, **values: Any) -> Iterator[Any]:
    """`rec` (a Reconstructor) with these attributes (threshold, large_hand_threshold, ...) set for
    the block, its own restored after: a run at those values is what inference at them does."""
    saved = {k: getattr(rec, k) for k in values}
    try:
        for k, v in values.items():
            setattr(rec, k, v)
        yield rec
    finally:
        for k, v in saved.items():
            setattr(rec, k, v)


def sweep(samples_sets: Sequence[Any], rec: Any, iou: float,
          thresholds: Sequence[float]) -> list[dict[str, float]]:
    """Pooled recall / precision / F1 / duplicates at each score threshold, from one run of the
    Reconstructor `rec` per threshold (`values_of`). Why not one low-threshold run cut at each
    threshold: the network's peaks are decoded from the threshold, and the hand check then lifts or
    lowers their scores, so a cut of a run decoded from 0.05 keeps lifted hands that a run at the
    threshold never decodes (v2b's sweep claimed recall 0.82 at 0.6 where runs at 0.6 found
    0.01-0.08 of the same hands). The other values are `rec`'s own (the weights' stored large-hand
    rule and smallest hand, else the library's)."""
    images = [ds[i] for ds in samples_sets for i in range(len(ds))]
    predict, out = smhr_predictor(rec), []
    for t in thresholds:
        s = RealScores(iou_threshold=iou)
        with values_of(rec, threshold=t):
            for sample in images:
                s.add(sample, predict(sample.image))
        r = s.summary()
        f1 = 2 * r["recall"] * r["precision"] / max(r["recall"] + r["precision"], 1e-9)
        f1 = 0.0 if np.isnan(f1) else f1  # (no detection: precision NaN)
        out.append({"threshold": t, "recall": r["recall"], "precision": r["precision"], "f1": f1,
                    "duplicates": r["duplicates"], "pck0.2_all": r["pck0.2_all"]})
    return out


def check_never_trained(names: Sequence[str], available: Iterable[str], trained: set[str],
                        option: str) -> None:  # fmt: skip
    """Exits in one line on a name of `option` that is not among --labels (`available`) or that names
    a set these weights trained on: calibration-only sets must be sets they never saw."""
    available = sorted(available)
    for name in names:
        if name not in available:
            sys.exit(f"{option} {name}: not among --labels ({', '.join(available)}); "
                     "add its labels folder to --labels")
        if name in trained:
            sys.exit(f"{option} {name}: these weights trained on it; name sets they never saw")


def calibration_sets(sources: dict[str, Any], names: Sequence[str], trained: set[str]) -> list[Any]:
    """The scored sets named by --sweep-calibration (`check_never_trained`: their held-out split
    would be in the trained-on sweep already)."""
    check_never_trained(names, sources, trained, "--sweep-calibration")
    return [sources[name][0] for name in names]


def trained_sources(weights: str | None) -> set[str] | None:
    """Names of the labelled sets the weights' training config used (any mixture part, composer or
    background), from the checkpoint's meta; None when the file records none (.onnx)."""
    from smhr.runtime.loading import bundled_weights

    path = Path(weights) if weights else bundled_weights()
    if path.suffix != ".pt":
        return None
    meta = torch.load(path, map_location="cpu", weights_only=False).get("meta", {})
    data = (meta.get("train_config") or {}).get("data")
    if data is None:
        return None
    from smhr.train.validate import trained_sources as sources_of

    return sources_of(data)


def source_sets(labels: Sequence[str], image_base: str | None, trained: set[str],
                limit: int | None = None, whole: bool = False) -> dict[str, Any]:  # fmt: skip
    """{name: (LabelledSet of the scored split, row header)} for each labelled set; whole: every
    image of every set, not only a train set's held-out split (calibration-only sets)."""
    from smhr.data.labelled import LabelledSet, read_meta, role_of

    out = {}
    for root in labels:
        meta = read_meta(root)
        name, role = meta["source"]["name"], role_of(meta)
        split = "test" if role == "train" and not whole else "all"
        # one image per group where groups are augmented copies of one photo (Roboflow exports);
        # the frames of one held-out video group are different moments and all count
        one = bool(meta["split"].get("group_regex")) and not meta["split"].get("group_frames")
        ds = LabelledSet(root, split, image_root=Path(image_base) / name if image_base else None,
                         one_per_group=one)
        ds.records = ds.records[:limit]
        out[name] = (ds, {"status": TRAINED if name in trained else NEVER, "role": role, "split": split,
                          "one_per_group": one})
    return out


def composed_set(sets: Sequence[Any], n: int, seed: int = 7) -> list[Sample]:
    from smhr.data.backgrounds import MixedBackgrounds, ProceduralBank
    from smhr.data.compose import ComposeConfig, ComposedHands
    from smhr.data.real_crops import HandFreeBackgrounds, RealHandCrops

    crops = RealHandCrops(list(sets))
    bgs = MixedBackgrounds(
        [(HandFreeBackgrounds(sets[:-1] or sets, seed=seed), 0.6), (ProceduralBank(64, seed=seed), 0.4)]
    )
    cfg = ComposeConfig(out_size=384, min_hands=4, max_hands=4, size_range=(0.4, 0.8))
    ds = ComposedHands(crops, n, cfg, seed=seed, backgrounds=bgs)
    return [ds[i] for i in range(n)]


def stress_sets(sources: dict[str, Any], limit: int) -> dict[str, dict[str, list[Sample]]]:
    """{stress kind: {status: samples}} from the scored splits' single-hand photos (up to `limit`
    source photos per status, spread over the sets)."""
    from smhr.data.stress import closeup_no_arm, frame_filling, with_border

    out: dict[str, dict[str, list[Sample]]] = {"frame_filling": {}, "frame_filling_bordered": {},
                                               "closeup_no_arm": {}}
    for status in (TRAINED, NEVER):
        pool = [ds[i] for ds, head in sources.values() if head["status"] == status
                for i in range(len(ds)) if len(ds.records[i]["hands"]) == 1]
        rng = np.random.default_rng(11)
        pool = [pool[i] for i in sorted(rng.permutation(len(pool))[:limit])]
        if pool:
            out["frame_filling"][status] = frame_filling(pool, seed=3)
            out["frame_filling_bordered"][status] = with_border(out["frame_filling"][status])
            out["closeup_no_arm"][status] = closeup_no_arm(pool)
    return out


def gt_sets(root: str) -> dict[str, Any]:
    from bench_teacher import GT_FIXTURES

    from smhr.data.coco_hands import CocoHands

    return {name: CocoHands(Path(root) / rel, name=name, side=side)
            for name, (rel, side) in GT_FIXTURES.items() if (Path(root) / rel).is_file()}


def nearest_prediction(hands: Sequence[Any], label: Any, candidates: Sequence[int]) -> int | None:
    """The one of `candidates` (indices into `hands`) whose keypoints lie nearest the label's visible
    ones (mean distance), None when none is within half the labelled box's diagonal."""
    if not candidates:
        return None
    vis = label.visibility
    kp = label.keypoints2d[vis]
    d = [float(np.linalg.norm(hands[k].keypoints2d[vis] - kp, axis=1).mean()) for k in candidates]
    if min(d) > 0.5 * float(np.linalg.norm(kp.max(0) - kp.min(0))):
        return None
    return candidates[int(np.argmin(d))]


def fixture_3d(root: str, rec: Any) -> dict[str, Any]:
    """InterHand2.6M fixture frames predicted in their true K: 2D scores (`RealScores`, matched by
    visible keypoints) and, for the same one-to-one matches, metric 3D errors (mm): means, and per
    hand ("IMAGE/HAND") so that ship_check compares two weights on the hands both matched."""
    from smhr.data.interhand import InterHandFixture
    from smhr.eval import metrics

    ds = InterHandFixture(Path(root) / "interhand2.6m")
    real = RealScores(match="keypoints")
    err: dict[str, list[float]] = {"pa_mpjpe_mm": [], "mpjpe_mm": [], "mpjpe_root_relative_mm": [],
                                   "root_depth_error_mm": []}
    per_hand: dict[str, dict[str, float]] = {}
    for i in range(len(ds)):
        s = ds[i]
        hands = rec.predict(s.image, K=s.K)
        matches = real.add(s, [Detection.from_hand(h) for h in hands])
        for k, j in sorted(matches.pairs, key=lambda p: p[1]):  # the 2D scores' own one-to-one pairs
            g = s.hands[j]
            if g.joints3d is None:
                continue
            pj, gj = np.asarray(hands[k].joints3d, np.float64), g.joints3d.astype(np.float64)
            err["pa_mpjpe_mm"].append(1e3 * float(metrics.pa_errors(pj, gj).mean()))
            err["mpjpe_mm"].append(1e3 * float(np.linalg.norm(pj - gj, axis=1).mean()))
            err["mpjpe_root_relative_mm"].append(
                1e3 * float(np.linalg.norm((pj - pj[0]) - (gj - gj[0]), axis=1).mean()))
            err["root_depth_error_mm"].append(1e3 * abs(float(pj[0, 2] - gj[0, 2])))
            per_hand[f"{i}/{j}"] = {k: round(v[-1], 3) for k, v in err.items()}
    r = real.summary()
    return {"images": r["images"], "hands": r["hands"], "recall": r["recall"], "pck0.2_all": r["pck0.2_all"],
            "handedness_acc": r["handedness_acc"], "hands_3d_scored": len(err["mpjpe_mm"]),
            **{k: float(np.mean(v)) if v else None for k, v in err.items()}, "per_hand": per_hand}


def add_ap(res: dict[str, Any], low: Predictor, sources: dict[str, Any], stress: dict[str, Any],
           gts: dict[str, Any], iou: float, threshold: float) -> None:
    """Adds "ap" (and "ap_threshold") to the source, stress and real-GT rows of `res` from a run
    of `low` (the same weights and views at a low score threshold), matched as those rows were."""
    for k, (ds, _) in sources.items():
        res["sources"][k].update(ap=score(ds, low, iou, with_ap=True)["ap"], ap_threshold=threshold)
    for kind, by in stress.items():
        for st, v in by.items():
            res["stress"][kind][st].update(ap=score(v, low, iou, "keypoints", True)["ap"],
                                           ap_threshold=threshold)
    for k, ds in gts.items():
        res["gt_fixtures"][k].update(ap=score(ds, low, iou, "keypoints", True)["ap"], ap_threshold=threshold)


def pooled(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pool per-set summaries by their counts (recall over all hands, precision over all scored
    detections)."""
    hands = sum(p["hands"] for p in parts.values())
    tp = sum(round(p["recall"] * p["hands"]) for p in parts.values() if p["hands"])
    scored = sum(
        round(p["recall"] * p["hands"]) + p["duplicates"] + p["false_positives"] for p in parts.values()
    )
    return {
        "sets": len(parts),
        "hands": hands,
        "recall": tp / hands if hands else float("nan"),
        "precision": tp / scored if scored else float("nan"),
        "duplicates": sum(p["duplicates"] for p in parts.values()),
    }


def table(out: dict[str, Any]) -> str:
    """Markdown rows of the report: set, status, images, hands, recall, precision, PCK, handedness."""
    rows = ["| set | status | model | images | hands | recall | precision | PCK@0.2 | handedness | "
            "PA-MPJPE / MPJPE / root depth (mm) |", "|---|---|---|---|---|---|---|---|---|---|"]

    def f(v: Any) -> str:
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else (
            f"{v:.2f}" if isinstance(v, float) else str(v))

    for model, res in out.items():
        if not isinstance(res, dict) or ("sources" not in res and "stress" not in res):
            continue
        items = [(k, r["status"], r) for k, r in res.get("sources", {}).items()]
        items += [(f"stress: {k}", st, r) for k, by in res.get("stress", {}).items() for st, r in by.items()]
        items += [(f"gt: {k}", NEVER, r) for k, r in res.get("gt_fixtures", {}).items()]
        items += [(f"3d: {k}", NEVER, r) for k, r in res.get("fixtures_3d", {}).items()]
        for name, status, r in items:
            rows.append(f"| {name} | {status} | {model} | {f(r.get('images'))} | {f(r.get('hands'))} | "
                        f"{f(r.get('recall'))} | {f(r.get('precision'))} | {f(r.get('pck0.2_all'))} | "
                        f"{f(r.get('handedness_acc'))} | {_mm(r)} |")
    return "\n".join(rows)


def _mm(r: dict[str, Any]) -> str:
    if r.get("mpjpe_mm") is None:
        return "-"
    return f"{r['pa_mpjpe_mm']:.1f} / {r['mpjpe_mm']:.1f} / {r['root_depth_error_mm']:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="model.pt / .onnx (default: the bundled weights)")
    ap.add_argument("--input-size", type=int, default=None)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--mode", choices=("fast", "photo"), default="fast",
                    help="inference mode: fast (one letterboxed view) or photo (plus tiles, docs/usage.md)")
    ap.add_argument("--zoom-out", type=float, default=None,
                    help="photo mode: the zoomed-out view's share of the canvas (0 = off; default: the "
                    "Reconstructor's)")
    ap.add_argument("--mirror", choices=("on", "off"), default=None,
                    help="photo mode: the mirrored view's side vote (default: the Reconstructor's)")
    ap.add_argument("--side-check", choices=("on", "off"), default="on",
                    help="each hand's side also from the side classifier of its crop (runtime.side_check)")
    ap.add_argument("--hand-check", choices=("on", "off"), default="on",
                    help="each candidate's score also from the hand classifier of its crop "
                    "(runtime.hand_check)")
    ap.add_argument("--fit-translation", choices=("on", "off"), default="on",
                    help="hands moved to where their local keypoints see them (runtime.translation_fit)")
    ap.add_argument("--large-hand-threshold", type=float, default=None,
                    help="keep hands filling a whole view from this lower score (default: the weights' "
                    "stored value, else the library's; 1 = off)")
    ap.add_argument("--large-side", type=float, default=None,
                    help="the share of the view a hand must span for the large-hand threshold (default: "
                    "the weights' stored value, else the library's)")
    ap.add_argument("--min-hand-side", type=float, default=None,
                    help="drop hands shorter than this share of the network input in their view "
                    "(default: the weights' stored value, else no limit; 0 = no limit)")
    ap.add_argument("--teacher", action="store_true", help="also score the 2D teacher (MediaPipe's models)")
    ap.add_argument("--labels", nargs="*", default=[], help="labelled sets (see `sources` above)")
    ap.add_argument("--image-base", default=None,
                    help="photos of set NAME under IMAGE_BASE/NAME (tools/rebuild_real.py); "
                    "default: each set's meta.json image_root")
    ap.add_argument("--trained-on", nargs="*", default=None,
                    help="names of the sets the weights trained on (default: from the checkpoint)")
    ap.add_argument("--crops", nargs="*", default=[], help="extra labelled sets used only as hand crops")
    ap.add_argument("--gt-root", default=None, help="mmpose tests/data folder (real-GT fixtures)")
    ap.add_argument("--synth", default=None, help="`smhr synth` folder (evaluation split scored)")
    ap.add_argument("--n-composed", type=int, default=200)
    ap.add_argument("--n-stress", type=int, default=300, help="source photos per stress set and status")
    ap.add_argument("--limit", type=int, default=None, help="score at most N images per set (quick runs)")
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ap", type=float, default=None, metavar="LOW",
                    help="also each set's AP (COCO 101-point, this matching) from a second run at score "
                    "threshold LOW (e.g. 0.05): how well the scores rank hands above everything else, "
                    "whatever the threshold; compares weights whose score scales differ")
    ap.add_argument("--sweep", action="store_true",
                    help="also pooled recall / precision / F1 over thresholds 0.1..0.6 (held-out splits "
                    "of the sets whose role is train)")
    ap.add_argument("--sweep-calibration", nargs="+", default=None, metavar="NAME",
                    help="with --sweep: a second sweep, `threshold_sweep_calibration`, over these "
                    "calibration-only sets (in --labels, never trained on; their scored split): "
                    "held-out splits of trained-on sources score higher than photos from elsewhere")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    views: dict[str, Any] = {} if args.zoom_out is None else {"zoom_out": args.zoom_out}
    if args.mirror is not None:
        views["mirror"] = args.mirror == "on"
    if args.large_hand_threshold is not None:
        views["large_hand_threshold"] = args.large_hand_threshold
    if args.large_side is not None:
        views["large_side"] = args.large_side
    if args.min_hand_side is not None:
        views["min_hand_side"] = args.min_hand_side or None
    views["fit_translation"] = args.fit_translation == "on"
    views["side_check"] = args.side_check == "on"
    views["hand_check"] = args.hand_check == "on"
    rec = smhr_reconstructor(args.weights, args.input_size, args.threshold, args.mode, views)
    predictors = {"smhr": smhr_predictor(rec)}
    if args.teacher:
        predictors["teacher"] = teacher_predictor()
    trained = set(args.trained_on) if args.trained_on is not None else trained_sources(args.weights)
    if trained is None:
        sys.exit(f"--weights {args.weights}: records no training config; pass --trained-on NAMES")
    out: dict[str, Any] = {"weights": args.weights or "bundled", "mode": args.mode, "zoom_out": rec.zoom_out,
                           "mirror": rec.mirror, "side_check": rec.side_checker is not None,
                           "hand_check": rec.hand_checker is not None, "iou": args.iou,
                           "fit_translation": rec.fit_translation,
                           "large_hand_threshold": rec.large_hand_threshold, "large_side": rec.large_side,
                           "min_hand_side": rec.min_hand_side, "trained_on": sorted(trained)}
    sources = source_sets(args.labels, args.image_base, trained, args.limit)
    if args.sweep_calibration and not args.sweep:
        sys.exit("--sweep-calibration: only with --sweep")
    calib = calibration_sets(sources, args.sweep_calibration, trained) if args.sweep_calibration else []
    held = [ds for ds, head in sources.values() if head["status"] == TRAINED]
    crops = [source_sets([c], args.image_base, trained)[Path(c).name][0] for c in args.crops]
    composed = composed_set([*held, *crops], args.n_composed) if held and args.n_composed else []
    stress = stress_sets(sources, args.n_stress) if sources else {}
    gts = gt_sets(args.gt_root) if args.gt_root else {}
    for name, predict in predictors.items():
        res: dict[str, Any] = {}
        if sources and name == "smhr":  # (the teacher made these labels)
            res["sources"] = {k: {**head, **score(ds, predict, args.iou)}
                              for k, (ds, head) in sources.items()}
            res["pooled"] = {st: pooled({k: r for k, r in res["sources"].items() if r["status"] == st})
                             for st in (TRAINED, NEVER)}
        if stress:  # the teacher saw the whole photo when labelling; here it sees the stressed view
            res["stress"] = {kind: {st: {"images": len(v), **score(v, predict, args.iou, "keypoints")}
                                    for st, v in by.items()} for kind, by in stress.items()}
        if composed and name == "smhr":
            res["composed_4hands"] = score(composed, predict, args.iou)
        if gts:  # human labels of partly occluded hands: matched by their visible keypoints
            res["gt_fixtures"] = {k: score(ds, predict, args.iou, "keypoints") for k, ds in gts.items()}
        out[name] = res
    if args.ap is not None:
        add_ap(out["smhr"], smhr_predictor(smhr_reconstructor(args.weights, args.input_size, args.ap,
                                                              args.mode, views)),
               sources, stress, gts, args.iou, args.ap)
    if args.gt_root and (Path(args.gt_root) / "interhand2.6m").is_dir():
        out["smhr"]["fixtures_3d"] = {"interhand2.6m": fixture_3d(args.gt_root, rec)}
    if args.sweep and sources:
        # thresholds are chosen on held-out splits of sets these weights trained on, never on test-only
        # ones nor on a role-"train" set they never saw (which is then scored as never trained on)
        tuned = [ds for ds, h in sources.values() if h["role"] == "train" and h["status"] == TRAINED]
        if not tuned:
            raise SystemExit("error: --sweep needs --labels of a set these weights trained on (its held-out "
                             "split chooses the threshold), e.g. labels/subhih-hands")
        grid = [round(0.05 * k, 2) for k in range(2, 13)]
        out["smhr"]["threshold_sweep"] = sweep(tuned, rec, args.iou, grid)
        if calib:
            out["smhr"]["threshold_sweep_calibration"] = sweep(calib, rec, args.iou, grid)
    if args.synth:
        from smhr.app.api import Reconstructor
        from smhr.eval import freihand
        from smhr.eval.placement import placement_errors
        from smhr.eval.predict import predict_freihand

        rec = Reconstructor.from_pretrained(args.weights, "cpu", fit_translation=views["fit_translation"],
                                            side_check=False)  # (FreiHAND's right hands: side fixed)
        xyz, verts = predict_freihand(rec, args.synth)
        gt_xyz, gt_verts = freihand.load_ground_truth(args.synth, keypoints=rec.hand_models[1].keypoints)
        s = freihand.evaluate(gt_xyz, gt_verts, xyz, verts)["summary"]
        out["smhr"]["synthetic_freihand"] = {
            **{k: s[k] for k in ("pa_mpjpe_mm", "pa_mpvpe_mm", "f@5mm", "f@15mm")},
            **placement_errors(xyz, gt_xyz),  # the camera-frame turn and depth PA-MPJPE removes
        }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2, default=float))
    print(table(out), file=sys.stderr)


if __name__ == "__main__":
    main()
