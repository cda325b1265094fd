"""One row of docs/training.md's v3 waypoint table from `benchmarks/bench_real.py`'s JSON.

Why: every waypoint of the long run is scored with the same command (docs/training.md, "Weights
v3", Progress) and entered in the same table; writing the row by hand from the JSON invites slips,
and the script that did it lived outside the repository and was lost with a machine. Prints the
table's row (gloves recall / precision / PCK@0.2 / handedness, scene recall, frame-filling recall,
bordered, close-ups without the arm, real-GT PCK, InterHand, synthetic) and a second line with what
the prose quotes: gloves AP, false hands on the gloves / scenes, hands found with the right side.

    python benchmarks/bench_real.py --weights W ... > W.json
    python tools/waypoint_row.py W.json [MORE.json ...] [--label "v3 step 4,000"] [--samples +64k]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

GLOVES, SCENES = "hina-gloves", "capston2-scenes"
NEVER = "never trained on"


def _f(x: Any) -> str:
    return "-" if not isinstance(x, (int, float)) or math.isnan(x) else f"{x:.2f}"


def row(scores: dict[str, Any], label: str, samples: str) -> tuple[str, str]:
    """(table row, extras line) of one bench_real JSON's "smhr" block."""
    s = scores["smhr"]
    sources = s["sources"]
    missing = [n for n in (GLOVES, SCENES) if n not in sources]
    if missing:
        raise ValueError(f"no {', '.join(missing)} in the scores: run bench_real.py with "
                         f"--labels labels/{GLOVES} labels/{SCENES}")
    g, c = sources[GLOVES], sources[SCENES]
    stress = {k: v[NEVER] for k, v in s.get("stress", {}).items() if NEVER in v}
    gt = s.get("gt_fixtures", {})
    ih = s.get("fixtures_3d", {}).get("interhand2.6m", {})
    syn = s.get("synthetic_freihand", {})
    synth = syn.get("pa_mpjpe_mm")

    def st(name: str, *keys: str) -> str:
        return " / ".join(_f(stress.get(name, {}).get(k)) for k in keys)

    cells = [
        label, samples,
        " / ".join(_f(g[k]) for k in ("recall", "precision", "pck0.2_all", "handedness_acc")),
        _f(c["recall"]),
        st("frame_filling", "recall"),
        st("frame_filling_bordered", "recall"),
        st("closeup_no_arm", "recall", "pck0.2_all", "handedness_acc"),
        " / ".join(_f(gt.get(k, {}).get("pck0.2_all")) for k in ("onehand10k", "panoptic", "freihand_real")),
        (f"{ih['pa_mpjpe_mm']:.1f} / {ih['root_depth_error_mm']:.0f}" if "pa_mpjpe_mm" in ih else "-"),
        "-" if synth is None else f"{synth:.1f}",
    ]  # fmt: skip
    extras = (f"gloves AP {_f(g.get('ap'))}, false hands gloves / scenes {g['false_positives']} / "
              f"{c['false_positives']}, found with the right side {_f(g.get('correct_side_recall'))} "
              f"of the gloves' hands")  # fmt: skip
    if "rotation_error_deg" in syn:  # the synthetic hands' turn and depth (smhr.eval.placement)
        extras += (f"; synthetic root-relative MPJPE {syn['root_relative_mpjpe_mm']:.1f} mm, rotation "
                   f"{syn['rotation_error_deg']:.1f} deg, root depth {syn['root_depth_error_mm']:.0f} mm "
                   f"(depth ratio {syn['depth_ratio']:.2f})")
    return "| " + " | ".join(cells) + " |", extras


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scores", nargs="+", type=Path, help="bench_real.py JSON output(s)")
    ap.add_argument("--label", help="first cell (default: the weights file named in the JSON)")
    ap.add_argument("--samples", default="", help="second cell, e.g. +64k")
    args = ap.parse_args()
    failed = 0
    for path in args.scores:  # a bad file is reported and skipped; the others still print
        try:
            scores = json.loads(path.read_text())
            table_row, extras = row(scores, args.label or Path(str(scores.get("weights"))).name, args.samples)
        except (OSError, ValueError, KeyError) as exc:
            failed += 1
            print(f"error: {path}: not a complete bench_real.py result ({exc}); rerun the waypoint "
                  "command (docs/training.md)", file=sys.stderr)  # fmt: skip
            continue
        print(table_row)
        print(f"  {extras}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
