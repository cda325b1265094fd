"""Does a candidate's bench_real result beat the shipped weights' on every never-trained-on number?

Why: issue 21's rule for weights v3 is "ship only if they beat v2 on every never-trained-on number".
Read off two JSON files by eye, one worse number among ~40 is easy to miss, and a candidate scored
with another mode or on other data is easy to compare by mistake. This prints one line per number
(baseline, candidate, difference, better / equal / worse), refuses results that were not scored
the same way on the same images, and ends with the verdict; the exit status is 0 only when no
number is worse, so a script can gate packaging on it.

    python benchmarks/bench_real.py --weights v2.pt ... > v2.json      # the waypoint command,
    python benchmarks/bench_real.py --weights v3.pt ... > v3.json      # docs/training.md
    python tools/ship_check.py v2.json v3.json [--tolerance 0.01] [--hands-tolerance 1] [--json]

The numbers: per never-trained-on labelled set, recall, precision, PCK@0.2 (missed hands count),
handedness of the matched hands, hands found with the right side and AP (when scored with `--ap`);
per never-trained-on stress set the same; per real-GT fixture recall, PCK@0.2 and, where a fixture
labels sides, side; the InterHand2.6M 3D fixture's recall, PCK@0.2 and side the same way, and its
PA-MPJPE and root-depth error, averaged over the hands both weights matched when both results list
them per hand (a hand only one of them finds counts in its recall, not its millimetres); the
synthetic evaluation's PA-MPJPE and PA-MPVPE (the vertices: the same whatever keypoint definition
each weights file uses), and its camera-frame numbers that PA removes (root-relative MPJPE, the whole
hand's rotation error, root depth error; `smhr.eval.placement`: a baseline scored before they existed
is incomparable there, so score it again). Lower is better for the millimetres and degrees.
`--tolerance` (default 0) lets a rate fall by that much and still count as equal: the fixtures hold
2-8 hands, where one hand moves a rate by 0.12-0.5, so the note says which numbers sit on so few
hands rather than hiding them.
`--hands-tolerance K` (default 0) is the same allowance counted in hands: a rate may fall by K / the
set's labelled hands (one hand of a 4-hand fixture: 0.25; of the 236 gloves: 0.004). Results whose
blocks differ in images, hands or the AP's score cut-off (`ap_threshold`: a higher cut-off truncates
the curve) are refused.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

NEVER = "never trained on"
RATES = ("recall", "precision", "pck0.2_all", "handedness_acc", "correct_side_recall", "ap")
FIXTURE_RATES = ("recall", "pck0.2_all", "handedness_acc")
SAME_SETTINGS = ("mode", "zoom_out", "mirror", "iou", "fit_translation")  # thresholds: each file's own
SETTING_BEFORE = {"fit_translation": False}  # what a result from before the setting was scored with
SAME_COUNTS = ("images", "hands", "ap_threshold")  # per block: the same data, and AP over the same scores
# the synthetic evaluation, lower is better: the shape (PA), then the turn and depth PA removes
SYNTHETIC = ("pa_mpjpe_mm", "pa_mpvpe_mm", "root_relative_mpjpe_mm", "rotation_error_deg",
             "root_depth_error_mm")


@dataclass(frozen=True)
class Number:
    """One compared number: where it is, both values, and which way is better."""

    name: str
    baseline: float
    candidate: float
    higher_is_better: bool
    hands: int | None  # hands behind a rate (None for millimetres): says how noisy it is
    matched: int | None = None  # millimetres averaged over this many hands both weights matched

    def verdict(self, tolerance: float, hands_tolerance: int = 0) -> str:
        if math.isnan(self.baseline) and math.isnan(self.candidate):
            return "n/a"
        if math.isnan(self.baseline) or math.isnan(self.candidate):
            return "incomparable"
        gain = self.candidate - self.baseline if self.higher_is_better else self.baseline - self.candidate
        slack = 0.0 if self.hands is None else max(tolerance, hands_tolerance / max(self.hands, 1))
        if gain > 1e-9:
            return "better"
        return "equal" if gain >= -slack - 1e-9 else "worse"


def _value(block: dict[str, Any], key: str) -> float:
    v = block.get(key)
    return float(v) if isinstance(v, (int, float)) else math.nan


def _sets(scores: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every never-trained-on block by a stable name: labelled sets, stress sets, real-GT fixtures (2D
    and the 3D fixture's detection numbers)."""
    s = scores["smhr"]
    out = {f"set {k}": v for k, v in s.get("sources", {}).items() if v.get("status") == NEVER}
    out |= {f"stress {k}": v[NEVER] for k, v in s.get("stress", {}).items() if NEVER in v}
    out |= {f"gt {k}": v for k, v in s.get("gt_fixtures", {}).items()}
    out |= {f"3d {k}": v for k, v in s.get("fixtures_3d", {}).items()}
    return out


def _check_comparable(base: dict[str, Any], cand: dict[str, Any]) -> None:
    """Refuse two results that were not scored the same way on the same images (ValueError)."""
    for key in SAME_SETTINGS:
        b, c = (x.get(key, SETTING_BEFORE.get(key)) for x in (base, cand))
        if b != c:
            raise ValueError(f"scored with different {key} ({b!r} vs {c!r}): "
                             "rerun both with the same bench_real.py options")
    bs, cs = _sets(base), _sets(cand)
    if not bs:
        raise ValueError("the baseline has no never-trained-on set: run bench_real.py with --labels "
                         "of a test set (e.g. labels/hina-gloves)")
    if set(bs) != set(cs):
        raise ValueError(f"different sets scored: only in the baseline {sorted(set(bs) - set(cs))}, only "
                         f"in the candidate {sorted(set(cs) - set(bs))}; rerun both with the same sets")
    for name in bs:
        for key in SAME_COUNTS:
            if bs[name].get(key) != cs[name].get(key):
                fix = "rerun both with the same --ap" if key == "ap_threshold" else \
                    "not the same data (rebuild it with tools/prepare_training_data.sh and rescore)"
                raise ValueError(f"{name}: {key} {bs[name].get(key)} vs {cs[name].get(key)}: {fix}")


def numbers(base: dict[str, Any], cand: dict[str, Any]) -> Iterator[Number]:
    """The compared numbers, in a fixed order (raises ValueError when the results do not compare)."""
    _check_comparable(base, cand)
    bs, cs = _sets(base), _sets(cand)
    for name in bs:
        keys = FIXTURE_RATES if name.startswith(("gt ", "3d ")) else RATES
        hands = bs[name].get("hands")
        for key in keys:
            b, c = _value(bs[name], key), _value(cs[name], key)
            if not (math.isnan(b) and math.isnan(c)):
                yield Number(f"{name}: {key}", b, c, True, hands)
    b3, c3 = base["smhr"].get("fixtures_3d", {}), cand["smhr"].get("fixtures_3d", {})
    for fixture in sorted(set(b3) | set(c3)):
        b, c = b3.get(fixture, {}), c3.get(fixture, {})
        common = sorted(set(b.get("per_hand") or {}) & set(c.get("per_hand") or {}))
        for key in ("pa_mpjpe_mm", "root_depth_error_mm"):
            if common:
                b_mm, c_mm = (statistics.fmean(x["per_hand"][h][key] for h in common) for x in (b, c))
                yield Number(f"3d {fixture}: {key}", b_mm, c_mm, False, None, len(common))
            else:  # results from before the per-hand lists: the means over each one's own matches
                yield Number(f"3d {fixture}: {key}", _value(b, key), _value(c, key), False, None)
    bsyn, csyn = base["smhr"].get("synthetic_freihand"), cand["smhr"].get("synthetic_freihand")
    for key in SYNTHETIC if bsyn or csyn else ():
        b_mm, c_mm = _value(bsyn or {}, key), _value(csyn or {}, key)
        if not (math.isnan(b_mm) and math.isnan(c_mm)):
            yield Number(f"synthetic: {key}", b_mm, c_mm, False, None)


def verdicts(base: dict[str, Any], cand: dict[str, Any], tolerance: float,
             hands_tolerance: int = 0) -> list[tuple[Number, str]]:  # fmt: skip
    """Every compared number with its verdict (raises ValueError when the results do not compare)."""
    return [(n, n.verdict(tolerance, hands_tolerance)) for n in numbers(base, cand)]


def verdict_counts(rows: list[tuple[Number, str]]) -> dict[str, int]:
    """How many numbers of `rows` are better, equal, worse and incomparable."""
    return {v: sum(1 for _, x in rows if x == v) for v in ("better", "equal", "worse", "incomparable")}


def report(base: dict[str, Any], cand: dict[str, Any], tolerance: float,
           hands_tolerance: int = 0) -> tuple[list[str], bool]:  # fmt: skip
    """(printed lines, ships): ships only when no number is worse or incomparable."""
    return format_report(verdicts(base, cand, tolerance, hands_tolerance), tolerance, hands_tolerance)


def format_report(rows: list[tuple[Number, str]], tolerance: float,
                  hands_tolerance: int) -> tuple[list[str], bool]:  # fmt: skip
    """`report` of verdicts already made."""
    lines = [f"{'number':52s} {'baseline':>9s} {'candidate':>9s} {'diff':>8s}  verdict"]
    for n, v in rows:
        diff = n.candidate - n.baseline
        few = f" ({n.hands} hands)" if n.hands is not None and n.hands < 20 and v != "n/a" else ""
        few += f" (the {n.matched} hands both matched)" if n.matched else ""
        lines.append(f"{n.name:52s} {n.baseline:9.3f} {n.candidate:9.3f} {diff:+8.3f}  {v}{few}")
    counts = verdict_counts(rows)
    ships = counts["worse"] == 0 and counts["incomparable"] == 0
    blockers = [n.name for n, v in rows if v in ("worse", "incomparable")]
    lines.append(f"{counts['better']} better, {counts['equal']} equal, {counts['worse']} worse, "
                 f"{counts['incomparable']} incomparable (tolerance {tolerance:g} on rates, "
                 f"{hands_tolerance} hand(s)): "
                 + ("SHIPS: no never-trained-on number is worse" if ships
                    else "DOES NOT SHIP: worse on " + "; ".join(blockers)))
    return lines, ships


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", type=Path, help="bench_real.py JSON of the shipped weights")
    ap.add_argument("candidate", type=Path, help="bench_real.py JSON of the candidate")
    ap.add_argument("--tolerance", type=float, default=0.0,
                    help="a rate may fall by this much and count as equal (default 0)")
    ap.add_argument("--hands-tolerance", type=int, default=0,
                    help="a rate may fall by this many hands of its set and count as equal (default 0)")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON instead")
    args = ap.parse_args()
    if not 0.0 <= args.tolerance < 1.0:
        raise SystemExit(f"error: --tolerance {args.tolerance}: give a rate in [0, 1), e.g. 0.01")
    if args.hands_tolerance < 0:
        raise SystemExit(f"error: --hands-tolerance {args.hands_tolerance}: give a count >= 0, e.g. 1")
    loaded = []
    for path in (args.baseline, args.candidate):
        try:
            data = json.loads(path.read_text())
            data["smhr"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"error: {path}: not a bench_real.py result ({exc}); rerun the waypoint "
                             "command (docs/training.md)") from None
        loaded.append(data)
    try:
        rows = verdicts(loaded[0], loaded[1], args.tolerance, args.hands_tolerance)
    except ValueError as exc:
        raise SystemExit(f"error: {args.baseline} vs {args.candidate}: {exc}") from None
    lines, ships = format_report(rows, args.tolerance, args.hands_tolerance)
    if args.json:
        out = [{k: (None if isinstance(x, float) and math.isnan(x) else x) for k, x in asdict(n).items()}
               | {"verdict": v} for n, v in rows]
        print(json.dumps({"ships": ships, "tolerance": args.tolerance,
                          "hands_tolerance": args.hands_tolerance, "numbers": out}, indent=1))
    else:
        print("\n".join(lines))
    raise SystemExit(0 if ships else 1)


if __name__ == "__main__":
    main()
