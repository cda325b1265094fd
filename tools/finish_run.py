"""From a finished geometry run to a scored, ship-checked weights candidate, in one resumable command.

Why: the end of a long run is nine commands whose later arguments are read off earlier outputs (the
threshold off the sweep, the large-hand values off the calibration), spread over sessions whose
machines may not survive; v3b's finishing script was lost with its machine. This runs them in order,
keeps every output under --out, and skips a step whose output is already there, so the same command
continues after an interruption:

    python tools/finish_run.py --run RUNS/v4-cpu --appearance configs/v4-cpu-appearance.yaml \
        --out RUNS/v4-finish --name v4 --gt-root MMPOSE/tests/data --synth DATA/synth-eval \
        --note "weights v4: ..."
    # --dry-run prints the commands instead

Steps (docs/training.md "Weights v4"): the appearance phase from the run's `model.pt` (without
`--appearance`, none: `--run` may then name a finished model.pt, such as a blend from
`tools/blend_weights.py`); the threshold sweep on the trained-on held-out splits (`--sweep-labels`)
and on the calibration-only sets (`--calibration`), each threshold a run of its own (the threshold
where the smaller of the two F1s is largest, the lower one on a tie); the large-hand values from the
calibration-only sets, with the false hands it adds counted on the calibration-only scenes
(`--scene-sets`; or, with `--large-hand-rule baseline`, the baseline's own rule, so the ship check
compares weights at one rule), and the smallest hand from the trained-on held-out splits of sets
with small hands (`--smallest-hand-labels`: the calibration-only close-ups set it too high), kept
only if the calibration-only scenes' F1 is no lower with it (the splits hold almost no small true
hands; v4s's limit halved the scenes' recall); `smhr package` with those values and `smhr export
--onnx`; the waypoint scoring of the baseline (default: the bundled weights; `--baseline-scores`
reuses its scores from an earlier finish) and of the candidate, each at its own stored values; and
`tools/ship_check.py`, whose exit status this command returns (0: ships).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
SWEEP_LABELS = ["labels/subhih-hands", "labels/ragadag-hands", "labels/dwivedi-gestures"]
SMALLEST_LABELS = [*SWEEP_LABELS, "labels/hardhat-people"]  # held-out splits with small hands and scenes
SCENE_LABELS = ["labels/vest-scenes", "labels/cctv-scenes"]  # calibration-only whole scenes
JUDGED_LABELS = ["labels/hina-gloves", "labels/capston2-scenes"]  # the waypoint command's judged sets
RULE_OFF = {"large_hand_threshold": 1.0, "large_side": 1.0}  # the dry run's stand-in for a rule not read


def sweep_threshold(scores: dict[str, Any]) -> float:
    """The threshold of the largest pooled F1 in bench_real's `threshold_sweep` (the lower one on a
    tie: more recall at the same F1). With a `threshold_sweep_calibration` too (calibration-only
    sets), the largest of the two F1s' smaller one: the held-out splits are of photos like those
    trained on, whose scores run higher (v2b, swept run by run: F1 best at 0.25 there, at 0.15 on
    asl-letters)."""
    rows = scores.get("smhr", {}).get("threshold_sweep")
    if not rows:
        raise ValueError("no threshold_sweep in the sweep's JSON: run bench_real.py with --sweep")
    calib = {r["threshold"]: r["f1"] for r in scores["smhr"].get("threshold_sweep_calibration") or []}
    if calib and set(calib) != {r["threshold"] for r in rows}:
        raise ValueError("the two sweeps' thresholds differ: run them in one bench_real.py call")
    best = max(rows, key=lambda r: (round(min(r["f1"], calib.get(r["threshold"], r["f1"])), 9),
                                    -r["threshold"]))
    return float(best["threshold"])


def calibrated_values(calibration: dict[str, Any],
                      smallest: dict[str, Any] | None) -> dict[str, float | None]:
    """large_hand_threshold and large_side as `tools/calibrate_large_hands.py` chose them on the
    calibration sets, and min_hand_side as it chose it on `smallest` (another run of it, on sets with
    small hands; None: no smallest-hand limit). Why two: on close-ups alone true small hands are rare,
    so the limit comes out high (0.18 for v4 at step 10,000) and drops the small hands scenes have
    (capston2 recall 0.042 -> 0.014, docs/training.md "Weights v4")."""
    chosen = calibration["chosen"]
    return {"large_hand_threshold": float(chosen["large_hand_threshold"]),
            "large_side": float(chosen["large_side"]),
            "min_hand_side": None if smallest is None else smallest.get("min_hand_side", {}).get("chosen")}


def baseline_rule(baseline: Path) -> dict[str, float]:
    """The large-hand rule `baseline` runs with: its stored values, else the library's defaults. A
    model.pt keeps them in its "meta", an ONNX export in its metadata map (both can be shipped)."""
    from smhr.runtime.calibration import Calibration
    from smhr.runtime.large_hands import LARGE_SIDE, LARGE_THRESHOLD

    if not baseline.is_file():
        raise SystemExit(f"error: --baseline {baseline}: no such file (a model.pt or an .onnx export)")
    if baseline.suffix == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(baseline), load_external_data=False).metadata_props}
        stored = Calibration.from_onnx(props, str(baseline))
    else:
        import torch

        meta = torch.load(baseline, map_location="cpu", weights_only=False).get("meta", {})
        stored = Calibration.from_meta(meta, str(baseline))
    large = LARGE_THRESHOLD if stored.large_hand_threshold is None else stored.large_hand_threshold
    return {"large_hand_threshold": float(large),
            "large_side": float(LARGE_SIDE if stored.large_side is None else stored.large_side)}


def package_command(model: Path, out: Path, threshold: float, values: dict[str, float | None],
                    note: str) -> list[str]:
    cmd = [sys.executable, "-m", "smhr.cli", "package", str(model), str(out), "--threshold", f"{threshold:g}",
           "--large-hand-threshold", f"{values['large_hand_threshold']:g}",
           "--large-side", f"{values['large_side']:g}", "--note", note]
    if values["min_hand_side"] is not None:
        cmd += ["--min-hand-side", f"{values['min_hand_side']:g}"]
    return cmd


def calibrate_command(model: Path, threshold: float, labels: Sequence[str],
                      *extra: str) -> list[str]:
    """`tools/calibrate_large_hands.py` on `model` at `threshold` over `labels` (plus `extra` options)."""
    return [sys.executable, str(TOOLS / "calibrate_large_hands.py"), "--weights", str(model),
            "--threshold", f"{threshold:g}", "--labels", *labels, *extra, "--threads", "1"]


def score_command(weights: Path, gt_root: str, synth: str | None) -> list[str]:
    """The waypoint command (docs/training.md), at the weights' own stored threshold and large-hand
    values (the waypoints override them; a candidate is judged as it ships)."""
    cmd = [sys.executable, str(ROOT / "benchmarks/bench_real.py"), "--weights", str(weights),
           "--mode", "fast", "--labels", *JUDGED_LABELS, "--n-composed", "0", "--gt-root", gt_root,
           "--ap", "0.05", "--threads", "1"]
    return cmd + (["--synth", synth] if synth else [])


def reuse_baseline_scores(scores: Path, baseline: Path, to: Path) -> None:
    """Copy `scores` to `to` after checking that they are the waypoint scores of `baseline` (bench_real
    records the bundled weights as "bundled") on the judged sets; a one-line SystemExit otherwise."""
    from smhr.runtime.loading import bundled_weights

    try:
        data = json.loads(scores.read_text())
        scored, sources = data["weights"], data["smhr"]["sources"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"error: --baseline-scores {scores}: not a bench_real.py result ({exc})") from None
    scored_path = bundled_weights() if scored == "bundled" else Path(scored)
    if scored_path.resolve() != baseline.resolve():
        raise SystemExit(f"error: --baseline-scores {scores}: scores of {scored}, not of the baseline "
                         f"{baseline}; give that baseline's scores or leave the option out")
    missing = [p for p in JUDGED_LABELS if Path(p).name not in sources]
    if missing:
        raise SystemExit(f"error: --baseline-scores {scores}: no scores on {', '.join(missing)}; score the "
                         "baseline with the waypoint command or leave the option out")
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_text(scores.read_text())
    print(f"[score baseline] from {scores}", file=sys.stderr)


class Runner:
    """Runs (or, dry, prints) each step whose output is missing. A step's output is a file it writes,
    its stdout (written under a temporary name, renamed when the step succeeds), or a marker written
    after it succeeds (`done=True`: for a step whose files appear before it has finished, as a
    training run's model.pt does at every checkpoint)."""

    def __init__(self, dry: bool) -> None:
        self.dry = dry

    def step(self, name: str, cmd: Sequence[str], output: Path, stdout: bool = False,
             done: bool = False) -> None:
        if output.exists():
            print(f"[{name}] done: {output}", file=sys.stderr)
            return
        print(f"[{name}] {shlex.join(cmd)}" + (f" > {output}" if stdout else ""), file=sys.stderr)
        if self.dry:
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        part = output.with_name(output.name + ".part")
        if stdout:
            with open(part, "w") as sink:
                code = subprocess.run(cmd, cwd=ROOT, stdout=sink).returncode
        else:
            code = subprocess.run(cmd, cwd=ROOT).returncode
        if code != 0:
            raise SystemExit(f"error: step {name} failed (exit {code}); fix it and run the same command "
                             f"again to continue from this step")
        if stdout:
            part.rename(output)
        elif done:
            output.write_text(shlex.join(cmd) + "\n")
        elif not output.exists():
            raise SystemExit(f"error: step {name} ended without writing {output}")


def read_json(path: Path, dry: bool, placeholder: Any) -> Any:
    return placeholder if dry and not path.exists() else json.loads(path.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True,
                    help="the geometry run's out_dir (its model.pt), or a model.pt file (a blend)")
    ap.add_argument("--appearance", type=Path, default=None,
                    help="the appearance phase's config (none: the run's model.pt is the candidate as it "
                    "is, e.g. a blend of weights whose appearance heads are trained)")
    ap.add_argument("--out", type=Path, required=True, help="every output goes here (resumable)")
    ap.add_argument("--name", default="candidate", help="file stem of the packaged .pt / .onnx")
    ap.add_argument("--sweep-labels", nargs="+", default=SWEEP_LABELS,
                    help="trained-on sets whose held-out splits choose the threshold")
    ap.add_argument("--calibration", nargs="+", default=["labels/asl-letters"],
                    help="calibration-only sets (never trained on, never judged) for the large-hand values")
    ap.add_argument("--scene-sets", nargs="*", default=SCENE_LABELS,
                    help="calibration-only sets of whole scenes: the false hands the large-hand rule may "
                    "add are counted on them (none: the calibration's share rule), and the smallest hand "
                    "chosen on the held-out splits is kept only if their F1 is no lower with it")
    ap.add_argument("--large-hand-rule", choices=("calibrated", "baseline"), default="calibrated",
                    help="the candidate's large-hand threshold and side: calibrated on --calibration and "
                    "--scene-sets, or the baseline's (the ship check then compares the two weights at one "
                    "rule, which trades scenes' false hands against frame-filling ones either way)")
    ap.add_argument("--smallest-hand-labels", nargs="*", default=SMALLEST_LABELS,
                    help="trained-on sets whose held-out splits choose min_hand_side (none: no limit)")
    ap.add_argument("--baseline", type=Path, default=None, help="shipped weights to beat (default: bundled)")
    ap.add_argument("--baseline-scores", type=Path, default=None,
                    help="the baseline's scores from an earlier finish (its baseline_scores.json: the same "
                    "waypoint command on the same weights), used instead of scoring the baseline again")
    ap.add_argument("--gt-root", required=True, help="mmpose's tests/data (the real-GT fixtures)")
    ap.add_argument("--synth", default=None, help="the synthetic evaluation set (`smhr synth` folder)")
    ap.add_argument("--note", default="", help="what the weights are, stored in them")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = ap.parse_args(argv)
    start = args.run if args.run.suffix == ".pt" else args.run / "model.pt"
    if not start.is_file() and not args.dry_run:
        raise SystemExit(f"error: --run {args.run}: no model.pt there (the geometry run's out_dir, or a "
                         "model.pt file)")
    out, run = args.out, Runner(args.dry_run)
    py, smhr = sys.executable, [sys.executable, "-m", "smhr.cli"]
    if args.appearance is None:
        model = start
        print(f"[appearance] none: the candidate is {start}", file=sys.stderr)
    else:
        model = out / "appearance" / "model.pt"
        run.step("appearance", [*smhr, "train", str(args.appearance), "--set", f"init={start}",
                                "--set", f"out_dir={model.parent}"], out / "appearance.done", done=True)
    sweep = out / "sweep.json"
    names = [Path(p).name for p in args.calibration]
    run.step("sweep", [py, str(ROOT / "benchmarks/bench_real.py"), "--weights", str(model),
                       "--mode", "fast", "--sweep", "--labels", *args.sweep_labels, *args.calibration,
                       "--sweep-calibration", *names, "--n-composed", "0", "--n-stress", "0"],
             sweep, stdout=True)
    swept = read_json(sweep, args.dry_run, {"smhr": {"threshold_sweep": [{"threshold": 0.3, "f1": 0.0}]}})
    if names and not args.dry_run and "threshold_sweep_calibration" not in swept.get("smhr", {}):
        print(f"[sweep] warning: {sweep} has no calibration sweep (made by an older bench_real.py?): the "
              "threshold comes from the trained-on splits alone; delete it to sweep again", file=sys.stderr)
    threshold = sweep_threshold(swept)
    calib = out / "calibration.json"
    scenes = [Path(p).name for p in args.scene_sets]
    with_scenes = ["--scene-sets", *scenes] if scenes else []
    labels = [*args.calibration, *args.scene_sets]
    from smhr.runtime.loading import bundled_weights

    baseline = args.baseline or bundled_weights()  # what bench_real records as "bundled"
    if args.large_hand_rule == "calibrated":
        run.step("calibration", calibrate_command(model, threshold, labels, "--calibration-sets",
                                                  *names, *with_scenes), calib, stdout=True)
    smallest = None
    if args.smallest_hand_labels:
        small = out / "smallest_hand.json"
        run.step("smallest hand", calibrate_command(model, threshold,
                                                    [*args.smallest_hand_labels, *args.scene_sets],
                                                    "--smallest-only", *with_scenes), small, stdout=True)
        smallest = read_json(small, args.dry_run, {})
    if args.large_hand_rule == "calibrated":
        values = calibrated_values(read_json(calib, args.dry_run, {"chosen": RULE_OFF}), smallest)
    else:  # the baseline's rule: the ship check then compares the weights at one rule
        rule = RULE_OFF if args.dry_run and not baseline.is_file() else baseline_rule(baseline)
        values = calibrated_values({"chosen": rule}, smallest)
        print(f"[calibration] the baseline's large-hand rule: {values}", file=sys.stderr)
    weights, onnx = out / f"{args.name}.pt", out / f"{args.name}.onnx"
    run.step("package", package_command(model, weights, threshold, values, args.note), weights)
    run.step("export", [*smhr, "export", "--onnx", str(onnx), "--weights", str(weights)], onnx)
    base_scores, cand_scores = out / "baseline_scores.json", out / f"{args.name}_scores.json"
    if args.baseline_scores is not None and not base_scores.exists():
        if args.dry_run:
            print(f"[score baseline] from {args.baseline_scores}", file=sys.stderr)
        else:
            reuse_baseline_scores(args.baseline_scores, baseline, base_scores)
    else:
        run.step("score baseline", score_command(baseline, args.gt_root, args.synth), base_scores,
                 stdout=True)
    run.step("score candidate", score_command(weights, args.gt_root, args.synth), cand_scores, stdout=True)
    check = [py, str(TOOLS / "ship_check.py"), str(base_scores), str(cand_scores)]
    print(f"[ship check] {shlex.join(check)}", file=sys.stderr)
    return 0 if args.dry_run else subprocess.run(check, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
