"""tools/waypoint_row.py: bench_real's JSON -> the v3 waypoint table's row, and a clear refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import waypoint_row

TOOLS = Path(waypoint_row.__file__).parent


def _set(recall, precision=0.9, pck=0.6, side=0.8, fp=3, ap=0.7, csr=0.5):
    return {"recall": recall, "precision": precision, "pck0.2_all": pck, "handedness_acc": side,
            "false_positives": fp, "ap": ap, "correct_side_recall": csr}  # fmt: skip


SCORES = {
    "weights": "/runs/v3/step_0004000.pt",
    "smhr": {
        "sources": {"hina-gloves": _set(0.7049, 0.83, 0.612, 0.8353, fp=31, ap=0.734, csr=0.58),
                    "capston2-scenes": _set(0.024, fp=160)},
        "stress": {"frame_filling": {"never trained on": _set(0.301), "trained on": _set(0.9)},
                   "frame_filling_bordered": {"never trained on": _set(0.70)},
                   "closeup_no_arm": {"never trained on": _set(0.66, pck=0.57, side=0.83)}},
        "gt_fixtures": {"onehand10k": _set(0.75, pck=0.6984), "panoptic": _set(0.0, pck=0.0),
                        "freihand_real": _set(0.38, pck=0.11, side=float("nan"))},
        "fixtures_3d": {"interhand2.6m": {"pa_mpjpe_mm": 25.219, "root_depth_error_mm": 81.7}},
        "synthetic_freihand": {"pa_mpjpe_mm": 16.202},
    },
}  # fmt: skip


def test_the_row_has_the_tables_columns_in_order_never_trained_on_values_only():
    table, extras = waypoint_row.row(SCORES, "v3 step 4,000", "+64k")
    assert table == ("| v3 step 4,000 | +64k | 0.70 / 0.83 / 0.61 / 0.84 | 0.02 | 0.30 | 0.70 | "
                     "0.66 / 0.57 / 0.83 | 0.70 / 0.00 / 0.11 | 25.2 / 82 | 16.2 |")  # fmt: skip
    assert extras == ("gloves AP 0.73, false hands gloves / scenes 31 / 160, found with the right side "
                      "0.58 of the gloves' hands")  # fmt: skip
    placed = json.loads(json.dumps(SCORES))  # scored with the synthetic placement numbers
    placed["smhr"]["synthetic_freihand"] |= {"root_relative_mpjpe_mm": 45.03, "rotation_error_deg": 29.46,
                                             "root_depth_error_mm": 147.06, "depth_ratio": 1.178}
    assert waypoint_row.row(placed, "v", "+0")[1].endswith(
        "; synthetic root-relative MPJPE 45.0 mm, rotation 29.5 deg, root depth 147 mm (depth ratio 1.18)")


def test_missing_sets_and_files_are_refused_with_the_command_to_run(tmp_path):
    partial = {"smhr": {"sources": {"hina-gloves": _set(0.5)}}}
    with pytest.raises(ValueError, match=r"no capston2-scenes .* labels/hina-gloves labels/capston2"):
        waypoint_row.row(partial, "x", "")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(SCORES))
    bad.write_text("{")
    res = subprocess.run([sys.executable, str(TOOLS / "waypoint_row.py"), str(bad), str(good)],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 1
    assert res.stdout.startswith("| step_0004000.pt |  | 0.70 / 0.83")  # the good file after it still prints
    assert res.stderr.strip().startswith(f"error: {bad}: not a complete bench_real.py result")
