"""`smhr export --onnx`: the exported graph matches PyTorch, and decoding it gives the same hands."""

import numpy as np
import pytest
from typer.testing import CliRunner

from smhr.cli import app

pytest.importorskip("onnxruntime")
runner = CliRunner()


def test_export_matches_pytorch_and_decodes_to_the_same_hands(tiny_weights, tmp_path, monkeypatch):
    from smhr.app.api import Reconstructor

    # a tiny random net draws its hands over one another: keep them all (not second peaks here)
    monkeypatch.setattr("smhr.runtime.reconstructor.drop_second_peaks", list)

    out = tmp_path / "smhr.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(out), "--weights", str(tiny_weights)])
    assert res.exit_code == 0, res.output
    assert "max |onnxruntime - pytorch|" in res.output and out.stat().st_size > 1e5
    image = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    torch_rec = Reconstructor.from_pretrained(tiny_weights, "cpu", threshold=0.0, max_hands=3)
    torch_hands = torch_rec.predict(image)
    onnx_rec = Reconstructor.from_pretrained(out, "cpu", threshold=0.0, max_hands=3)
    onnx_hands = onnx_rec.predict(image)
    assert len(torch_hands) == len(onnx_hands) == 3
    for a, b in zip(torch_hands, onnx_hands, strict=True):
        assert a.side == b.side and abs(a.score - b.score) < 1e-4
        np.testing.assert_allclose(a.keypoints2d, b.keypoints2d, atol=1e-2)
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-4)
        assert a.texture.shape == b.texture.shape == (1609, 3) and b.light.shape == (27,)
        for name in ("texture", "light"):  # a tiny random net's appearance is ~1e-3: compare relatively
            x, y = getattr(a, name), getattr(b, name)
            assert np.abs(x).max() > 0
            np.testing.assert_allclose(y, x, atol=1e-3 * np.abs(x).max())
    # the optional threshold input: only the slots up to the last one that reaches it, as in PyTorch
    boxed = np.random.default_rng(1).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    ort_net, torch_net = onnx_rec.network, torch_rec.network
    full = ort_net.run(boxed)
    assert ort_net.takes_threshold and full["scores"].shape == (2, 16)  # fed the images only: all slots
    thr = float(np.sort(full["scores"].ravel())[-3])
    got, ref = ort_net.run(boxed, thr), torch_net.run(boxed, thr)
    n = int((full["scores"] >= thr).any(0).sum())
    assert 1 <= n < 16 and got["texture"].shape[:2] == ref["texture"].shape[:2] == (2, n)
    np.testing.assert_array_equal(got["cells"], full["cells"][:, :n])
    np.testing.assert_allclose(got["params"], ref["params"], atol=1e-4)
    for batch in (boxed, boxed[:1]):  # no slot reaches it (an ONNX Reshape to size 0 is a trap)
        assert ort_net.run(batch, 2.0)["texture"].shape == (len(batch), 0, 3 * 1609)


def test_export_errors_are_one_line(tmp_path):
    res = runner.invoke(
        app, ["export", "--onnx", str(tmp_path / "x.onnx"), "--weights", str(tmp_path / "no.pt")]
    )
    assert res.exit_code == 2 and "no.pt" in res.output


def test_export_carries_the_weights_calibrated_threshold(tiny_weights, tmp_path):
    from smhr.app.api import Reconstructor
    from smhr.train.checkpoint import package_weights

    calibrated = package_weights(tiny_weights, tmp_path / "cal.pt", score_threshold=0.25)
    out = tmp_path / "cal.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(out), "--weights", str(calibrated), "--no-check"])
    assert res.exit_code == 0, res.output
    assert Reconstructor.from_pretrained(out, "cpu").threshold == 0.25
    assert Reconstructor.from_pretrained(out, "cpu", threshold=0.5).threshold == 0.5
    zero = package_weights(tiny_weights, tmp_path / "zero.pt", score_threshold=0.0)  # a stored 0 is a value
    out0 = tmp_path / "zero.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(out0), "--weights", str(zero), "--no-check"])
    assert res.exit_code == 0, res.output
    assert Reconstructor.from_pretrained(out0, "cpu").threshold == 0.0


def test_packaging_and_export_carry_the_keypoint_definition(tiny_weights, tmp_path):
    from smhr.app.api import Reconstructor
    from smhr.train.checkpoint import load_checkpoint, package_weights, save_checkpoint

    ckpt = load_checkpoint(tiny_weights)
    ckpt["config"]["keypoints"] = "labels"  # as `model.keypoints: labels` in a training config
    labels = save_checkpoint(tmp_path / "labels.pt", ckpt)
    packaged = package_weights(labels, tmp_path / "packaged.pt", score_threshold=0.3)
    out = tmp_path / "labels.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(out), "--weights", str(packaged), "--no-check"])
    assert res.exit_code == 0, res.output
    for weights in (packaged, out):
        rec = Reconstructor.from_pretrained(weights, "cpu")
        assert rec.network.keypoints == "labels" and [m.keypoints for m in rec.hand_models] == ["labels"] * 2
    assert Reconstructor.from_pretrained(tiny_weights, "cpu").hand_models[0].keypoints == "joints"


def test_an_export_that_disagrees_with_pytorch_leaves_no_file(tiny_weights, tmp_path, monkeypatch):
    """`--check` runs on the staged file: --onnx appears only when onnxruntime agrees with PyTorch."""
    monkeypatch.setattr("smhr.onnx_export.compare_with_torch", lambda *a, **k: {"scores": 0.5, "params": 0.0})
    out = tmp_path / "bad.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(out), "--weights", str(tiny_weights)])
    assert res.exit_code == 1 and "disagrees with PyTorch by more than 1e-3: nothing written" in res.output
    assert "max |onnxruntime - pytorch|: scores 5.00e-01" in res.output
    assert list(tmp_path.iterdir()) == []  # neither the file nor its staged copy
