"""`mediapipe_palm`: MediaPipe's palm detector rebuilt in PyTorch matches onnxruntime on its own ONNX
file, loads only that file (strictly), feeds SMHR's neck from ImageNet-normalised input at any
multiple of 32, trains (gradients reach the palm weights), exports to ONNX and runs `smhr train`."""

import re

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from smhr.cli import app
from smhr.hands.model import HandModel
from smhr.hands.testing import write_synthetic_mano_pickle
from smhr.model.backbones import BackboneWeightsError
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.model.normalize import normalize_images
from smhr.model.palm_net import PalmBackbone, PalmDetector, palm_onnx_file
from smhr.model.palm_onnx import load_palm_onnx
from smhr.model.weights import resolve_backbone_weights

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
runner = CliRunner()


@pytest.fixture(scope="module")
def detector():
    det = PalmDetector().eval()
    load_palm_onnx(det, palm_onnx_file())
    return det


def _image(side: int, seed: int = 0) -> np.ndarray:
    """[side, side, 3] float32 RGB in [0, 1]: smooth colour waves plus noise (structure at all scales)."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    img = np.stack([np.sin(6 * xx + 1) * 0.5 + 0.5, np.cos(5 * yy) * 0.5 + 0.5, xx * yy], -1)
    return np.clip(img + np.random.default_rng(seed).normal(0, 0.05, img.shape), 0, 1).astype(np.float32)


def test_rebuild_matches_onnxruntime_on_the_palm_file(detector):
    img = _image(192)
    sess = ort.InferenceSession(str(palm_onnx_file()), providers=["CPUExecutionProvider"])
    reg_ref, cls_ref = sess.run(None, {sess.get_inputs()[0].name: img[None]})
    with torch.no_grad():
        reg, cls = detector(torch.from_numpy(img).permute(2, 0, 1)[None])
    assert reg.shape == reg_ref.shape == (1, 2016, 18) and cls.shape == cls_ref.shape == (1, 2016, 1)
    assert np.abs(reg_ref).max() > 10 and np.abs(cls_ref).max() > 1  # real outputs, not a degenerate input
    assert np.abs(reg.numpy() - reg_ref).max() < 3e-4  # regressors are input pixels, up to ~130
    assert np.abs(cls.numpy() - cls_ref).max() < 1e-4
    fresh = PalmDetector().eval()  # a random rebuild is far away: the comparison can fail
    with torch.no_grad():
        assert np.abs(fresh(torch.from_numpy(img).permute(2, 0, 1)[None])[1].numpy() - cls_ref).max() > 0.1


def test_backbone_undoes_imagenet_normalisation_at_any_multiple_of_32(detector):
    backbone = PalmBackbone(detector.trunk).eval()
    img = torch.from_numpy(_image(256, 1)).permute(2, 0, 1)[None]
    with torch.no_grad():
        ref = detector.trunk(img)
        got = backbone(normalize_images(img), stride4=True)
        three = backbone(normalize_images(img))
    shapes = [(1, 64, 64, 64), (1, 128, 32, 32), (1, 256, 16, 16), (1, 256, 8, 8)]
    assert [tuple(t.shape) for t in got] == shapes
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert len(three) == 3 and three[0].shape == got[1].shape


def test_only_the_palm_file_loads_and_errors_name_it(tmp_path):
    landmark = palm_onnx_file().with_name("hand_landmark_full.onnx")  # also Conv + PRelu, another network
    with pytest.raises(BackboneWeightsError, match=r"hand_landmark_full\.onnx: .*no palm-detector weight"):
        load_palm_onnx(PalmDetector(), landmark)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not protobuf at all" * 10)
    with pytest.raises(BackboneWeightsError, match=r"junk\.onnx: not a readable ONNX file"):
        load_palm_onnx(PalmDetector(), junk)
    with pytest.raises(BackboneWeightsError, match=r"missing\.onnx: no such file"):
        SMHRNet(backbone="mediapipe_palm", input_size=64, backbone_weights=tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match=r"imagenet: mediapipe_palm has no ImageNet weights.*auto"):
        resolve_backbone_weights("imagenet", "mediapipe_palm")


def test_smhr_net_trains_the_palm_weights_and_rebuilds_without_the_file():
    net = SMHRNet(backbone="mediapipe_palm", num_vertices=30, input_size=64, neck="lite", neck_channels=16,
                  head_hidden=16, appearance=False, backbone_weights=palm_onnx_file())
    x = torch.randn(2, 3, 64, 64)
    out = net(x)
    assert out["center"].shape == (2, 1, 16, 16) and out["handedness"].shape == (2, 2, 16, 16)
    ind = torch.tensor([[5, 100], [0, 255]])
    loss = out["center"].mean() + net.gather(out["features"], ind)["params"].pow(2).mean()
    loss.backward()
    trunk = net.backbone.features.trunk
    for p in (trunk.stem.weight, trunk.stage32[0].dw.weight, trunk.refine8[1].act.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    net.eval()
    again = SMHRNet.from_checkpoint(net.checkpoint()).eval()  # rebuilt from the config alone
    with torch.no_grad():
        torch.testing.assert_close(again(x)["center"], net(x)["center"])
    csp = SMHRNet(backbone="mediapipe_palm", num_vertices=30, input_size=64, neck_channels=16, head_hidden=16,
                  appearance=False)  # the CSP neck reads c8 / c16 / c32 only
    assert csp(torch.randn(1, 3, 64, 64))["center"].shape == (1, 1, 16, 16)


def test_export_matches_pytorch(tmp_path):
    cfg = SMHRConfig(backbone="mediapipe_palm", num_vertices=1609, hand_model="anny", input_size=64,
                     neck="lite", center_head="separable", neck_channels=16, head_hidden=16, appearance=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        weights = tmp_path / "model.pt"
        torch.save(SMHRNet(cfg).checkpoint(), weights)
    out = tmp_path / "palm.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(out), "--weights", str(weights)])
    assert res.exit_code == 0, res.output
    diffs = dict(re.findall(r"(\w+) ([0-9.e+-]+)", res.output.split("pytorch|:")[1]))
    assert {"scores", "params", "handedness", "texture"} <= set(diffs)
    assert max(float(v) for v in diffs.values()) < 1e-4, res.output


def test_smhr_train_starts_from_the_palm_file_with_auto(tmp_path):
    for side in ("left", "right"):
        write_synthetic_mano_pickle(tmp_path / "mano" / f"MANO_{side.upper()}.pkl", side, 0, num_vertices=778)
    from smhr.data.testing import write_skeleton_freihand

    write_skeleton_freihand(tmp_path / "fh", HandModel.load("mano", "right", path=tmp_path / "mano"),
                            n_train=4, n_eval=1, size=64)
    out = tmp_path / "run"
    cfg = {
        "stage": "1", "hand": "mano", "mano_dir": str(tmp_path / "mano"), "out_dir": str(out),
        "model": {"backbone": "mediapipe_palm", "input_size": 64, "neck": "lite", "center_head": "separable",
                  "neck_channels": 16, "head_hidden": 16},
        "backbone_weights": "auto",
        "data": {"root": str(tmp_path / "fh"), "num_workers": 0,
                 "augment": {"rotation_deg": 0.0, "color_prob": 0.0}},
        "optim": {"batch_size": 2, "steps": 1, "lr": 1e-3}, "progress": False, "log_every": 1,
        "image_every": 0, "eval_every": 0, "ckpt_every": 0,
    }  # fmt: skip
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["train", str(path)])
    assert res.exit_code == 0, res.output
    trained = torch.load(out / "model.pt", weights_only=True)["model"]["backbone.features.trunk.stem.weight"]
    ref = PalmDetector()
    load_palm_onnx(ref, palm_onnx_file())
    drift = (trained - ref.trunk.stem.weight.detach()).abs().max().item()
    assert 0 < drift < 0.01  # started from the palm file (auto), then trained by Adam (lr 1e-3, 2 steps)
