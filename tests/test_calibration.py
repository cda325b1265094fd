"""The values measured for a set of weights travel inside its files: `smhr package` stores them in
the model.pt, `smhr export` copies them into the ONNX metadata, and `Reconstructor.from_pretrained`
uses them unless the caller passes its own (and the library defaults for values not stored)."""

import json

import pytest
import torch
from typer.testing import CliRunner

from smhr.app.api import DEFAULT_THRESHOLD, Reconstructor
from smhr.cli import app
from smhr.runtime.calibration import Calibration
from smhr.runtime.large_hands import LARGE_SIDE, LARGE_THRESHOLD
from smhr.train.checkpoint import package_weights

runner = CliRunner()


def values(rec: Reconstructor) -> tuple:
    """The calibrated values a loaded Reconstructor acts on."""
    return rec.threshold, rec.large_hand_threshold, rec.large_side, rec.min_hand_side


def test_calibration_round_trips_through_meta_and_onnx_text_and_names_a_bad_value():
    cal = Calibration(score_threshold=0.35, large_hand_threshold=0.1 + 0.02, large_side=0.55,
                      min_hand_side=0.09)
    assert Calibration.from_meta({**cal.to_meta(), "step": 3}) == cal
    assert Calibration.from_onnx({**cal.to_onnx(), "smhr_format": "x"}) == cal  # exact float text
    assert Calibration(score_threshold=0.0).to_meta() == {"score_threshold": 0.0}  # a stored 0 is a value
    assert Calibration.from_meta({}) == Calibration() and Calibration().to_onnx() == {}
    with pytest.raises(ValueError, match=r"^w\.pt: stored large_side .*got 0\.0.*smhr package"):
        Calibration.from_meta({"large_side": 0.0}, "w.pt")
    with pytest.raises(ValueError, match=r"w\.onnx: stored smhr_score_threshold 'high' is not a number"):
        Calibration.from_onnx({"smhr_score_threshold": "high"}, "w.onnx")
    with pytest.raises(ValueError, match="large_hand_threshold"):
        Calibration(large_hand_threshold=1.5)
    with pytest.raises(ValueError, match=r"^w\.pt: stored min_hand_side .*got 0\.7"):
        Calibration.from_meta({"min_hand_side": 0.7}, "w.pt")


def test_package_stores_the_calibration_and_loading_uses_it_unless_overridden(tiny_weights, tmp_path):
    plain = Reconstructor.from_pretrained(tiny_weights, "cpu")  # nothing stored: the library defaults
    assert values(plain) == (DEFAULT_THRESHOLD, LARGE_THRESHOLD, LARGE_SIDE, None)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"gloves_ap": 0.8}))
    out = tmp_path / "v.pt"
    res = runner.invoke(app, ["package", str(tiny_weights), str(out), "--threshold", "0.35",
                              "--large-hand-threshold", "0.12", "--large-side", "0.5",
                              "--min-hand-side", "0.1", "--note", "test weights", "--metrics", str(metrics)])
    assert res.exit_code == 0, res.output
    assert "score_threshold 0.35, large_hand_threshold 0.12, large_side 0.5, min_hand_side 0.1" in res.output
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["meta"]["note"] == "test weights" and ckpt["meta"]["metrics"] == {"gloves_ap": 0.8}
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())
    rec = Reconstructor.from_pretrained(out, "cpu")
    assert values(rec) == (0.35, 0.12, 0.5, 0.1)
    mine = Reconstructor.from_pretrained(out, "cpu", threshold=0.4, large_hand_threshold=None, large_side=0.7,
                                         min_hand_side=None)  # fmt: skip
    assert values(mine) == (0.4, None, 0.7, None)
    # repackaging keeps what is stored and changes only what is given
    again = tmp_path / "again.pt"
    assert runner.invoke(app, ["package", str(out), str(again), "--large-side", "0.6"]).exit_code == 0
    stored = Calibration.from_meta(torch.load(again, weights_only=True)["meta"])
    assert stored == Calibration(0.35, 0.12, 0.6, 0.1)


def test_package_refuses_bad_values_and_files_in_one_line_and_writes_nothing(tiny_weights, tmp_path):
    out = tmp_path / "v.pt"
    bad_json = tmp_path / "m.json"
    bad_json.write_text("[1, 2")
    res = runner.invoke(app, ["package", str(tiny_weights), str(out), "--metrics", str(bad_json)])
    assert res.exit_code != 0 and "--metrics" in res.output and "m.json" in res.output
    res = runner.invoke(app, ["package", str(tmp_path / "none.pt"), str(out)])
    assert res.exit_code != 0 and "none.pt" in res.output
    with pytest.raises(ValueError, match="large_side"):
        package_weights(tiny_weights, out, large_side=2.0)
    assert not out.exists()
    with pytest.raises(ValueError, match="large_side"):
        Reconstructor.from_pretrained(tiny_weights, "cpu", large_side=0.0)
    with pytest.raises(ValueError, match="large_hand_threshold"):
        Reconstructor.from_pretrained(tiny_weights, "cpu", large_hand_threshold="weights")


def test_onnx_export_carries_the_whole_calibration(tiny_weights, tmp_path):
    pytest.importorskip("onnxruntime")
    packed = package_weights(tiny_weights, tmp_path / "v.pt", score_threshold=0.25,
                             large_hand_threshold=0.0, large_side=0.45, min_hand_side=0.08)  # fmt: skip
    out = tmp_path / "v.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(out), "--weights", str(packed), "--no-check"])
    assert res.exit_code == 0, res.output
    rec = Reconstructor.from_pretrained(out, "cpu")
    assert rec.backend == "onnxruntime"
    assert values(rec) == (0.25, 0.0, 0.45, 0.08)
