"""tools/finish_run.py: the choices it reads off earlier outputs, resuming, and the command order."""

from __future__ import annotations

import sys

import finish_run
import pytest


def test_the_threshold_is_the_sweeps_largest_f1_and_the_lower_one_on_a_tie():
    rows = [{"threshold": 0.2, "f1": 0.88}, {"threshold": 0.25, "f1": 0.895}, {"threshold": 0.3, "f1": 0.891}]
    assert finish_run.sweep_threshold({"smhr": {"threshold_sweep": rows}}) == 0.25
    rows.append({"threshold": 0.35, "f1": 0.895})
    assert finish_run.sweep_threshold({"smhr": {"threshold_sweep": rows}}) == 0.25
    with pytest.raises(ValueError, match=r"run bench_real\.py with --sweep"):
        finish_run.sweep_threshold({"smhr": {}})


def test_with_a_calibration_sweep_the_threshold_is_where_the_weaker_f1_is_best():
    trained = [{"threshold": t, "f1": f} for t, f in ((0.2, 0.80), (0.3, 0.82), (0.4, 0.84), (0.5, 0.85))]
    calib = [{"threshold": t, "f1": f} for t, f in ((0.2, 0.70), (0.3, 0.74), (0.4, 0.72), (0.5, 0.60))]
    both = {"smhr": {"threshold_sweep": trained, "threshold_sweep_calibration": calib}}
    assert finish_run.sweep_threshold({"smhr": {"threshold_sweep": trained}}) == 0.5  # trained-on alone
    assert finish_run.sweep_threshold(both) == 0.3  # min F1 0.74 at 0.3, against 0.72 at 0.4
    with pytest.raises(ValueError, match="thresholds differ"):
        finish_run.sweep_threshold({"smhr": {"threshold_sweep": trained,
                                             "threshold_sweep_calibration": calib[:2]}})


def test_the_calibrations_choice_goes_into_the_package_command():
    calib = {"chosen": {"large_hand_threshold": 0.25, "large_side": 0.5}, "min_hand_side": {"chosen": 0.18}}
    smallest = {"chosen": {"large_hand_threshold": 0.1, "large_side": 0.6}, "min_hand_side": {"chosen": 0.12}}
    values = finish_run.calibrated_values(calib, smallest)  # each from its own run
    assert values == {"large_hand_threshold": 0.25, "large_side": 0.5, "min_hand_side": 0.12}
    cmd = finish_run.package_command(finish_run.Path("m.pt"), finish_run.Path("v.pt"), 0.3, values, "n")
    assert cmd[-8:] == ["--large-hand-threshold", "0.25", "--large-side", "0.5", "--note", "n",
                        "--min-hand-side", "0.12"]
    smallest["min_hand_side"]["chosen"] = None  # no smallest hand chosen: the option is left out
    for run in (smallest, None):  # ... nor without that run (--smallest-hand-labels with no set)
        values = finish_run.calibrated_values(calib, run)
        cmd = finish_run.package_command(finish_run.Path("m.pt"), finish_run.Path("v.pt"), 0.3, values, "n")
        assert "--min-hand-side" not in cmd


def test_a_step_runs_once_keeps_its_stdout_and_a_failure_leaves_no_output(tmp_path):
    run = finish_run.Runner(dry=False)
    out = tmp_path / "a" / "sweep.json"
    run.step("write", [sys.executable, "-c", "print('{\"x\": 1}')"], out, stdout=True)
    assert out.read_text().strip() == '{"x": 1}'
    run.step("again", [sys.executable, "-c", "raise SystemExit(3)"], out, stdout=True)  # done: skipped
    marker = tmp_path / "train.done"
    run.step("train", [sys.executable, "-c", "pass"], marker, done=True)
    assert marker.exists()
    broken = tmp_path / "broken.json"
    with pytest.raises(SystemExit, match=r"step broken failed \(exit 3\); fix it and run the same command"):
        run.step("broken", [sys.executable, "-c", "print(1); raise SystemExit(3)"], broken, stdout=True)
    assert not broken.exists()  # a half-written output is never taken for a finished one
    with pytest.raises(SystemExit, match="ended without writing"):
        run.step("silent", [sys.executable, "-c", "pass"], tmp_path / "v.pt")


def test_a_dry_run_prints_the_nine_steps_in_order(tmp_path, capsys):
    code = finish_run.main(["--run", str(tmp_path / "run"), "--appearance", "configs/v4-cpu-appearance.yaml",
                            "--out", str(tmp_path / "out"), "--name", "v9", "--gt-root", "G",
                            "--dry-run"])
    err = capsys.readouterr().err
    steps = [line.split("]")[0][1:] for line in err.splitlines() if line.startswith("[")]
    assert code == 0 and steps == ["appearance", "sweep", "calibration", "smallest hand", "package",
                                   "export", "score baseline", "score candidate", "ship check"]
    smallest_sets = "labels/subhih-hands labels/ragadag-hands labels/dwivedi-gestures labels/hardhat-people"
    # the smallest hand: trained-on splits with scenes, without the large-hand grid, checked on the scenes
    scenes = "labels/vest-scenes labels/cctv-scenes --smallest-only --scene-sets vest-scenes cctv-scenes"
    assert f"--labels {smallest_sets} {scenes} --threads 1" in err
    assert "--calibration-sets asl-letters --scene-sets vest-scenes cctv-scenes" in err and "v9.onnx" in err
    sweep = next(line for line in err.splitlines() if line.startswith("[sweep]"))
    assert "labels/asl-letters --sweep-calibration asl-letters" in sweep  # the threshold sees them too
    with pytest.raises(SystemExit, match=r"no model\.pt there"):
        finish_run.main(["--run", str(tmp_path / "run"), "--appearance", "a.yaml",
                         "--out", str(tmp_path / "o"), "--gt-root", "G"])


def test_without_an_appearance_phase_the_given_model_is_the_candidate(tmp_path, capsys):
    """A blend (tools/blend_weights.py) is finished as it is: no training step, and every later step
    reads the model.pt file named by --run."""
    blend = tmp_path / "blend.pt"
    blend.write_bytes(b"x")
    assert finish_run.main(["--run", str(blend), "--out", str(tmp_path / "o"), "--gt-root", "G",
                            "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert f"[appearance] none: the candidate is {blend}" in err and " train " not in err
    for step in ("[sweep]", "[smallest hand]", "[package]"):
        line = next(x for x in err.splitlines() if x.startswith(step))
        assert f"{blend} " in line and "appearance/model.pt" not in line
    with pytest.raises(SystemExit, match=r"--run .*gone\.pt: no model\.pt there"):
        finish_run.main(["--run", str(tmp_path / "gone.pt"), "--out", str(tmp_path / "o"), "--gt-root", "G"])


def test_the_baselines_large_hand_rule_can_be_the_candidates(tmp_path, capsys):
    """`--large-hand-rule baseline`: no calibration step; the package step stores the baseline's
    stored values, or the library's defaults where it stores none."""
    import torch

    from smhr.runtime.large_hands import LARGE_SIDE, LARGE_THRESHOLD

    bare, stored = tmp_path / "bare.pt", tmp_path / "stored.pt"
    torch.save({"meta": {"score_threshold": 0.3}}, bare)
    torch.save({"meta": {"score_threshold": 0.3, "large_hand_threshold": 0.2, "large_side": 0.7}}, stored)
    defaults = {"large_hand_threshold": LARGE_THRESHOLD, "large_side": LARGE_SIDE}
    assert finish_run.baseline_rule(bare) == defaults
    assert finish_run.baseline_rule(stored) == {"large_hand_threshold": 0.2, "large_side": 0.7}
    code = finish_run.main(["--run", str(tmp_path / "run"), "--appearance", "a.yaml",
                            "--out", str(tmp_path / "o"), "--gt-root", "G", "--baseline", str(stored),
                            "--large-hand-rule", "baseline", "--dry-run"])
    err = capsys.readouterr().err
    steps = [line.split("]")[0][1:] for line in err.splitlines() if line.startswith("[")]
    assert code == 0 and "calibration" in steps and "--calibration-sets" not in err  # only the report line
    package = next(line for line in err.splitlines() if line.startswith("[package]"))
    assert "--large-hand-threshold 0.2 --large-side 0.7" in package


def test_an_onnx_baselines_rule_comes_from_its_metadata(tmp_path):
    """An .onnx baseline (what the light install ships) is read from its metadata map, not loaded as a
    model.pt (a traceback before); a missing baseline is a one-line error naming --baseline."""
    import onnx
    from onnx import TensorProto, helper

    from smhr.runtime.calibration import Calibration

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)
    props = Calibration(score_threshold=0.3, large_hand_threshold=0.15, large_side=0.65).to_onnx()
    onnx.helper.set_model_props(model, props)
    path = tmp_path / "base.onnx"
    onnx.save(model, str(path))
    assert finish_run.baseline_rule(path) == {"large_hand_threshold": 0.15, "large_side": 0.65}
    with pytest.raises(SystemExit, match=r"--baseline .*missing\.pt: no such file"):
        finish_run.baseline_rule(tmp_path / "missing.pt")


def test_the_baselines_scores_from_an_earlier_finish_are_reused_only_if_they_are_its(tmp_path, capsys):
    import json

    from smhr.runtime.loading import bundled_weights

    judged = {"hina-gloves": {}, "capston2-scenes": {}}
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"weights": "bundled", "smhr": {"sources": judged}}))
    to = tmp_path / "out" / "baseline_scores.json"
    finish_run.reuse_baseline_scores(good, bundled_weights(), to)
    assert json.loads(to.read_text())["weights"] == "bundled"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"weights": str(tmp_path / "v9.pt"), "smhr": {"sources": judged}}))
    with pytest.raises(SystemExit, match=r"scores of .*v9\.pt, not of the baseline"):
        finish_run.reuse_baseline_scores(other, bundled_weights(), to)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"weights": "bundled", "smhr": {"sources": {"hina-gloves": {}}}}))
    with pytest.raises(SystemExit, match="no scores on labels/capston2-scenes"):
        finish_run.reuse_baseline_scores(partial, bundled_weights(), to)
    with pytest.raises(SystemExit, match=r"not a bench_real\.py result"):
        finish_run.reuse_baseline_scores(tmp_path / "missing.json", bundled_weights(), to)
    code = finish_run.main(["--run", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--gt-root", "G",
                            "--baseline-scores", str(good), "--dry-run"])
    assert code == 0 and f"[score baseline] from {good}" in capsys.readouterr().err
