"""Blend a fine-tuned run with the weights it started from at several mixes, and choose the mix on the
decision sets (docs/training.md "Blending v4sa with v2").

    python tools/choose_blend.py START.pt TUNED.pt --out RUNS/blend [--alphas 0.25 0.5 0.75 1]
    # then: python tools/finish_run.py --run RUNS/blend/a0.5.pt --out ... (no --appearance)

For each alpha it writes OUT/a{alpha}.pt (`smhr.train.blend`) and scores it, and START itself, on the
decision sets: the trained-on held-out splits with their stress views, and asl-letters
(calibration-only) with its stress views, at the library's threshold and large-hand rule, with the
trained-on sources fixed (`--trained-on`) so that every file splits the stress views alike
(OUT/dec-*.json; a score already there is kept, so the same command continues). Each mix is then
compared with START by `tools/ship_check.py`'s numbers (those of the never-trained-on blocks:
asl-letters and its stress views), and the mix with the most numbers better less worse is chosen, the
smaller alpha (nearer the start) on a tie. Never the judged sets: the choice must not see them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from finish_run import ROOT, SWEEP_LABELS, Runner

DECISION_LABELS = [*SWEEP_LABELS, "labels/hardhat-people", "labels/asl-letters"]
TRAINED_ON = ["subhih-hands", "ragadag-hands", "dwivedi-gestures", "hardhat-people", "ardamavi-digits"]


def decision_command(weights: Path, threads: int) -> list[str]:
    """bench_real.py on the decision sets at the library's threshold and large-hand rule, given
    explicitly: a blend stores none, and the start's stored values must not decide for it."""
    from smhr.records import DEFAULT_THRESHOLD
    from smhr.runtime.large_hands import LARGE_SIDE, LARGE_THRESHOLD

    return [sys.executable, str(ROOT / "benchmarks/bench_real.py"), "--weights", str(weights),
            "--mode", "fast", "--labels", *DECISION_LABELS, "--n-composed", "0", "--threads", str(threads),
            "--trained-on", *TRAINED_ON, "--threshold", f"{DEFAULT_THRESHOLD:g}",
            "--large-hand-threshold", f"{LARGE_THRESHOLD:g}", "--large-side", f"{LARGE_SIDE:g}",
            "--min-hand-side", "0"]  # 0: no smallest-hand limit


def counts(base: dict, cand: dict) -> dict[str, int]:
    """better / equal / worse / incomparable counts of `cand` against `base` (tools/ship_check.py)."""
    from ship_check import verdict_counts, verdicts

    return verdict_counts(verdicts(base, cand, 0.0))


def choose(table: dict[float, dict[str, int]]) -> float:
    """The alpha whose better-less-worse count is largest; the smaller alpha on a tie."""
    if not table:
        raise ValueError("no mix was scored")
    return max(sorted(table), key=lambda a: table[a]["better"] - table[a]["worse"] - table[a]["incomparable"])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("start", type=Path, help="the weights the run started from")
    ap.add_argument("tuned", type=Path, help="the fine-tuned run's model.pt")
    ap.add_argument("--out", type=Path, required=True, help="blends and scores go here (resumable)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = ap.parse_args(argv)
    for path in (args.start, args.tuned):
        if not path.is_file() and not args.dry_run:
            raise SystemExit(f"error: {path}: no such file (a model.pt or packaged .pt)")
    if any(not 0.0 < a <= 1.0 for a in args.alphas):
        raise SystemExit(f"error: --alphas {args.alphas}: give mixes in (0, 1] (the start is always scored)")
    run = Runner(args.dry_run)
    ref = args.out / "dec-start.json"
    run.step("score start", decision_command(args.start, args.threads), ref, stdout=True)
    scores: dict[float, Path] = {}
    for alpha in sorted(set(args.alphas)):
        blend = args.out / f"a{alpha:g}.pt"
        run.step(f"blend {alpha:g}", [sys.executable, str(ROOT / "tools/blend_weights.py"), str(args.start),
                                       str(args.tuned), "--alpha", f"{alpha:g}", "--out", str(blend)], blend)
        scores[alpha] = args.out / f"dec-a{alpha:g}.json"
        run.step(f"score {alpha:g}", decision_command(blend, args.threads), scores[alpha], stdout=True)
    if args.dry_run:
        return 0
    base = json.loads(ref.read_text())
    table = {a: counts(base, json.loads(p.read_text())) for a, p in scores.items()}
    chosen = choose(table)
    for a, c in table.items():
        print(f"alpha {a:g}: {c['better']} better, {c['equal']} equal, {c['worse']} worse than the start"
              + ("  <- chosen" if a == chosen else ""))
    print(json.dumps({"chosen": chosen, "weights": str(args.out / f"a{chosen:g}.pt"),
                      "table": {f"{a:g}": c for a, c in table.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
