"""Equal-budget trials: the synthetic-data / composer switches (docs/training.md "Ablation") and the
backbone initialisations (docs/network.md "Initialisation trials").

A switch trial fine-tunes the same initial weights with configs/ablation-base.yaml, changed only by
the variant's edits (a switch in a `compose:` block, or a synthetic root made with an `smhr synth`
switch). An `init-*` trial trains the shipped architecture from a backbone initialisation alone with
configs/init-trial.yaml, changed only by the backbone and its weights. Either is then scored on the
never-trained-on sources with benchmarks/bench_real.py. Why a script: the variants differ inside the
mixture list, which `--set` cannot reach, and every trial must be trained and scored exactly alike.

    python tools/ablation.py VARIANT [VARIANT ...] --runs /work/runs [--seed N] [--steps N]
    python tools/ablation.py --list
    python tools/ablation.py --table --runs /work/runs        # Markdown table of the finished trials

Writes RUNS/abl-VARIANT[-sSEED]/{ablation.yaml, model.pt, bench.json, ...}; a trial whose bench.json
exists is skipped, one whose training stopped is resumed (smhr train's default).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from smhr.train.config import read_config_file

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "ablation-base.yaml"
INIT_BASE = ROOT / "configs" / "init-trial.yaml"
LABELLED, COMPOSED_LABELLED, COMPOSED = 0, 1, 2  # the mixture parts of the base config
EVAL_LABELS = ["labels/hina-gloves", "labels/capston2-scenes"]  # test-only: never in any mixture

# variant -> {dotted key (list indices as numbers): value}
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "frame-fill": {f"data.mixture.{part}.compose.{key}": 0.3 for part in (COMPOSED_LABELLED, COMPOSED)
                   for key in ("frame_fill_prob", "border_cut_prob")},
    "occluders": {f"data.mixture.{COMPOSED_LABELLED}.compose.occluder_prob": 0.4,
                  f"data.mixture.{COMPOSED}.compose.occluder_prob": 0.4},
    "low-light-blur": {f"data.mixture.{part}.compose.{key}": 0.25 for part in (COMPOSED_LABELLED, COMPOSED)
                       for key in ("low_light_prob", "motion_blur_prob")},
    "arm": {f"data.mixture.{COMPOSED}.roots": ["data/synth-arm"]},
    "gloves": {f"data.mixture.{COMPOSED}.roots": ["data/synth-gloves"]},
}
VARIANTS["all"] = {**VARIANTS["frame-fill"], **VARIANTS["occluders"], **VARIANTS["low-light-blur"],
                   f"data.mixture.{COMPOSED}.roots": ["data/synth-all"]}
# the keypoint-aligned refinement (docs/network.md): same fine-tune as base, refiner on with its two terms
VARIANTS["refine"] = {"model.refine": True, "model.refine_hidden": 256, "loss_weights.side_ce": 10.0,
                      "loss_weights.first_estimate": 0.5}
# initialisation trials (configs/init-trial.yaml): the backbone and the weights it starts from
VARIANTS["init-mobilenet_v2"] = {"model.backbone": "mobilenet_v2", "backbone_weights": "imagenet"}
VARIANTS["init-efficientnet_lite0"] = {"model.backbone": "efficientnet_lite0", "backbone_weights": "imagenet"}
VARIANTS["init-mediapipe_palm"] = {"model.backbone": "mediapipe_palm", "backbone_weights": "auto"}
# MobileNetV2 start + dense distillation of the palm detector's scores on every image (docs/network.md)
VARIANTS["init-distill"] = {**VARIANTS["init-mobilenet_v2"], "loss_weights.palm_distill": 10.0}


def edit(config: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key; numeric parts index lists. Every part but the last must exist."""
    *parents, last = key.split(".")
    node: Any = config
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value


def base_config(variant: str) -> Path:
    """The config a variant edits: the initialisation trials start from no SMHR checkpoint."""
    return INIT_BASE if variant.startswith("init-") else BASE


def trial_config(variant: str, seed: int | None, steps: int | None) -> dict[str, Any]:
    config = copy.deepcopy(read_config_file(base_config(variant)))
    for key, value in VARIANTS[variant].items():
        edit(config, key, value)
    if seed is not None:
        config["seed"] = seed
    if steps is not None:
        config["optim"]["steps"] = steps
    return config


def _trained_steps(out: Path) -> int:
    """Steps done by the trial's training so far (last.pt's step; 0 before the first checkpoint)."""
    if not (out / "last.pt").exists():
        return 0
    import torch

    return int(torch.load(out / "last.pt", weights_only=True, map_location="cpu")["step"])


def run_trial(variant: str, runs: Path, seed: int | None, steps: int | None, threshold: float,
              threads: int = 2) -> Path:
    """Train (or resume) one trial and score it; the run folder names the seed unless it is the
    base config's own."""
    default_seed = read_config_file(base_config(variant))["seed"]
    out = runs / (f"abl-{variant}" if seed in (None, default_seed) else f"abl-{variant}-s{seed}")
    out.mkdir(parents=True, exist_ok=True)
    if (out / "bench.json").exists():
        print(f"{out}: done, skipped", file=sys.stderr)
        return out
    config = trial_config(variant, seed, steps)
    config["out_dir"] = str(out)
    (out / "ablation.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    smhr = Path(sys.executable).with_name("smhr")
    if _trained_steps(out) < config["optim"]["steps"]:  # model.pt exists from the first checkpoint on
        subprocess.run([str(smhr), "train", str(out / "ablation.yaml")], check=True, cwd=ROOT)
    bench = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_real.py"), "--weights", str(out / "model.pt"),
         "--threshold", str(threshold), "--mode", "fast", "--labels", *EVAL_LABELS, "--n-composed", "0",
         "--threads", str(threads),
         "--gt-root", os.environ.get("SMHR_GT_ROOT", "/work/data/mmpose/tests/data")],
        check=True, cwd=ROOT, capture_output=True, text=True)
    (out / "bench.json").write_text(bench.stdout)
    (out / "bench.md").write_text(bench.stderr)
    return out


def _row_numbers(doc: dict[str, Any]) -> dict[str, float | None]:
    """The never-trained-on numbers of one bench.json that the switches aim at: per test-only source
    recall / precision / PCK@0.2 / side, the stress sets, and the real-GT fixtures' mean PCK@0.2."""
    smhr = doc["smhr"]
    out: dict[str, float | None] = {}
    short = {"hina-gloves": "gloves", "capston2-scenes": "scenes"}
    for name, row in smhr["sources"].items():
        tag = short.get(name, name)
        for key, label in (("recall", "R"), ("precision", "P"), ("pck0.2_all", "PCK"),
                           ("handedness_acc", "side")):
            out[f"{tag} {label}"] = row.get(key)
    stress = {"frame_filling": "fill", "frame_filling_bordered": "fill+border", "closeup_no_arm": "no-arm"}
    for name, tag in stress.items():
        row = smhr["stress"].get(name, {}).get("never trained on", {})
        out[f"{tag} R"] = row.get("recall")
        out[f"{tag} PCK"] = row.get("pck0.2_all")
    no_arm = smhr["stress"].get("closeup_no_arm", {}).get("never trained on", {})
    out["no-arm side"] = no_arm.get("handedness_acc")
    pcks = [row.get("pck0.2_all") for row in smhr.get("gt_fixtures", {}).values()]
    out["real-GT PCK"] = float(np.mean(pcks)) if pcks and None not in pcks else None
    return out


def table(runs: Path) -> str:
    """Markdown: one row per finished trial (and the shipped weights' bench.json in RUNS/abl-shipped)."""
    order = ["shipped", *VARIANTS]

    def rank(path: Path) -> tuple[int, str]:
        name = path.parent.name.removeprefix("abl-")
        variant = name.rsplit("-s", 1)[0] if name.rsplit("-s", 1)[-1].isdigit() else name
        return (order.index(variant) if variant in order else len(order), name)

    found = sorted(runs.glob("abl-*/bench.json"), key=rank)
    rows = {p.parent.name.removeprefix("abl-"): _row_numbers(json.loads(p.read_text())) for p in found}
    if not rows:
        return "(no finished trials)"
    columns = list(next(iter(rows.values())))
    lines = ["| trial | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, numbers in rows.items():
        cells = ["-" if numbers.get(c) is None else f"{numbers[c]:.2f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fill_sweep(trials: list[str], runs: Path, thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)) -> dict:
    """Recall / precision on the never-trained-on frame-filling views at several score thresholds
    (one network run per view): tells a hand that gets no peak from one whose peak scores low."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_real

    from smhr.eval.real import RealScores

    sources = bench_real.source_sets(EVAL_LABELS, None, set())
    views = bench_real.stress_sets(sources, 300)["frame_filling"][bench_real.NEVER]
    out: dict[str, dict[float, tuple[float, float]]] = {}
    for trial in trials:
        weights = None if trial == "shipped" else str(runs / f"abl-{trial}" / "model.pt")
        predict = bench_real.smhr_predictor(bench_real.smhr_reconstructor(weights, None, min(thresholds) / 2))
        found = [(view, predict(view.image)) for view in views]
        out[trial] = {}
        for t in thresholds:
            scores = RealScores(iou_threshold=0.5, match="keypoints")
            for view, dets in found:
                scores.add(view, [d for d in dets if d.score >= t], view.meta.get("side_known"))
            summary = scores.summary()
            out[trial][t] = (round(summary["recall"], 3), round(summary["precision"], 3))
        print(trial, json.dumps(out[trial]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*", help=f"any of: {', '.join(VARIANTS)}")
    ap.add_argument("--runs", type=Path, default=Path("/work/runs"))
    ap.add_argument("--seed", type=int, default=None, help="default: the base config's seed")
    ap.add_argument("--steps", type=int, default=None, help="override the base config's steps")
    ap.add_argument("--threshold", type=float, default=0.3, help="detection score threshold when scoring")
    ap.add_argument("--bench-threads", type=int, default=2, help="CPU threads of the scoring run")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--fill-sweep", action="store_true",
                    help="recall / precision of the named trials (or 'shipped') on the frame-filling views "
                         "at thresholds 0.1-0.4")
    args = ap.parse_args()
    if args.list:
        for name, edits in VARIANTS.items():
            print(name, json.dumps(edits))
        return
    if args.table:
        print(table(args.runs))
        return
    if args.fill_sweep:
        fill_sweep(args.variants, args.runs)
        return
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"error: unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    for variant in args.variants:
        print(run_trial(variant, args.runs, args.seed, args.steps, args.threshold, args.bench_threads))


if __name__ == "__main__":
    main()
