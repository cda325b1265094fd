"""`smhr package SRC DST --average OTHER`: the shipped tensors are the mean of snapshots of one run."""

import pytest
import torch
from typer.testing import CliRunner

from smhr.cli import app
from smhr.train.checkpoint import average_weights

runner = CliRunner()


def _snapshot(tiny_weights, path, step, shift):
    ckpt = torch.load(tiny_weights, weights_only=True)
    model = {k: (v + shift if v.is_floating_point() else v + step) for k, v in ckpt["model"].items()}
    torch.save({**ckpt, "model": model, "meta": {"step": step, "note": f"snapshot {step}"}}, path)
    return path


def test_average_is_the_mean_of_floating_tensors_and_keeps_the_last_snapshots_rest(tiny_weights,
                                                                                   tmp_path):
    a = _snapshot(tiny_weights, tmp_path / "a.pt", 100, 0.0)
    b = _snapshot(tiny_weights, tmp_path / "b.pt", 200, 1.0)
    c = _snapshot(tiny_weights, tmp_path / "c.pt", 300, 5.0)
    mean = average_weights([a, b, c])
    ref = torch.load(tiny_weights, weights_only=True)["model"]
    name = next(k for k, v in ref.items() if v.is_floating_point())
    torch.testing.assert_close(mean["model"][name], ref[name] + 2.0)  # (0 + 1 + 5) / 3
    counter = next((k for k, v in ref.items() if not v.is_floating_point()), None)
    if counter is not None:  # integer tensors (BatchNorm's num_batches_tracked) are the last one's
        assert torch.equal(mean["model"][counter], ref[counter] + 300)
    assert mean["meta"]["averaged_steps"] == [100, 200, 300] and mean["meta"]["note"] == "snapshot 300"


def test_package_average_writes_the_mean_and_refuses_another_network(tiny_weights, tmp_path):
    a = _snapshot(tiny_weights, tmp_path / "a.pt", 100, 0.0)
    b = _snapshot(tiny_weights, tmp_path / "b.pt", 200, 1.0)
    out = tmp_path / "mean.pt"
    res = runner.invoke(app, ["package", str(b), str(out), "--average", str(a), "--float32",
                              "--threshold", "0.4"])
    assert res.exit_code == 0, res.output
    assert "mean of steps 100, 200" in res.output and "score_threshold 0.4" in res.output
    got = torch.load(out, weights_only=True)
    ref = torch.load(tiny_weights, weights_only=True)["model"]
    name = next(k for k, v in ref.items() if v.is_floating_point())
    torch.testing.assert_close(got["model"][name], ref[name] + 0.5)
    other = torch.load(tiny_weights, weights_only=True)
    other["config"] = {**other["config"], "head_hidden": 64}
    torch.save(other, tmp_path / "other.pt")
    res = runner.invoke(app, ["package", str(b), str(tmp_path / "x.pt"), "--average",
                              str(tmp_path / "other.pt")])
    assert res.exit_code != 0 and "other.pt" in res.output and "another network" in res.output
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(ValueError, match="another network"):
        average_weights([a, tmp_path / "other.pt"])
