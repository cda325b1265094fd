"""`smhr synth`: FreiHAND-layout files that the FreiHAND loader reads back, masks that match the
projected mesh, keypoints inside the mask, the requested side's model, byte-identical reruns."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from smhr.data.freihand import FreiHAND
from smhr.data.synth import SynthConfig, write_synth
from smhr.geometry.cameras import project
from smhr.io.images import read_gray

RES = 128
N, N_EVAL = 3, 2


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_synth(root, N, N_EVAL, cfg=SynthConfig(res=RES, device="cpu"), seed=5, progress=False)
    return root


def triangle_mask(verts: np.ndarray, faces: np.ndarray, K: np.ndarray, res: int) -> np.ndarray:
    """Reference silhouette: pixel centres inside any projected triangle (either winding)."""
    uv = project(torch.from_numpy(verts).double(), torch.from_numpy(K).double()).numpy()
    mask = np.zeros((res, res), bool)
    for tri in uv[faces]:
        x0, y0 = np.maximum(np.floor(tri.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(tri.max(0)).astype(int), res - 1)
        if x1 < x0 or y1 < y0:
            continue
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
        e = []
        for i in range(3):
            a, b = tri[i], tri[(i + 1) % 3]
            e.append((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]))
        inside = ((e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)) | ((e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0))
        mask[y0 : y1 + 1, x0 : x1 + 1] |= inside
    return mask


def model_faces(side: str = "right") -> np.ndarray:
    from smhr.hands.model import HandModel

    return np.asarray(HandModel.load("anny", side).faces.cpu().numpy(), np.int64)


def test_freihand_layout_and_loader_read_back(synth_root):
    for name in (
        "training_K",
        "training_xyz",
        "training_verts",
        "training_mano",
        "training_scale",
        "evaluation_K",
        "evaluation_xyz",
        "evaluation_verts",
        "evaluation_mano",
        "evaluation_scale",
    ):
        assert (synth_root / f"{name}.json").is_file(), name
    assert sorted(p.name for p in (synth_root / "training" / "rgb").iterdir()) == [
        f"{i:08d}.jpg" for i in range(N)
    ]
    assert len(list((synth_root / "training" / "mask").iterdir())) == N
    assert len(list((synth_root / "evaluation" / "rgb").iterdir())) == N_EVAL
    meta = json.loads((synth_root / "meta.json").read_text())
    assert meta["hand_model"] == "anny" and meta["side"] == "right" and meta["seed"] == 5
    assert meta["pose_space"] == "flat" and "58:61" in meta["mano_layout"]

    xyz = np.asarray(json.loads((synth_root / "training_xyz.json").read_text()))
    mano = np.asarray(json.loads((synth_root / "training_mano.json").read_text()))
    scale = np.asarray(json.loads((synth_root / "training_scale.json").read_text()))
    assert mano.shape == (N, 1, 61) and xyz.shape == (N, 21, 3)
    np.testing.assert_allclose(scale, np.linalg.norm(xyz[:, 10] - xyz[:, 9], axis=-1), atol=1e-6)

    train = FreiHAND(synth_root, "train")
    assert len(train) == N and train.versions == 1
    for i in range(N):
        s = train[i]
        assert s.image.shape == (RES, RES, 3) and s.mask.shape == (RES, RES)
        h = s.hands[0]
        np.testing.assert_allclose(h.joints3d, xyz[i], atol=1e-6)
        np.testing.assert_allclose(
            h.keypoints2d, project(torch.from_numpy(xyz[i]), torch.from_numpy(s.K)).numpy(), atol=1e-3
        )
        np.testing.assert_allclose(h.params.global_orient, mano[i, 0, :3], atol=1e-6)
        np.testing.assert_allclose(h.params.betas, mano[i, 0, 48:58], atol=1e-6)
        assert h.side == 1
        # the hand fills 40-80 % of the image (projected vertex box, small tolerance for rounding)
        uv = project(torch.from_numpy(h.vertices).double(), torch.from_numpy(s.K).double()).numpy()
        side = (uv.max(0) - uv.min(0)).max() / RES
        assert 0.39 <= side <= 0.81
    ev = FreiHAND(synth_root, "eval")
    assert len(ev) == N_EVAL and ev[1].hands[0].visibility.all()


def test_mask_matches_projected_mesh_and_contains_keypoints(synth_root):
    import cv2

    faces = model_faces()
    train = FreiHAND(synth_root, "train")
    for i in range(N):
        s = train[i]
        ref = triangle_mask(s.hands[0].vertices.astype(np.float64), faces, s.K, RES)
        mask = read_gray(synth_root / "training" / "mask" / f"{i:08d}.jpg") >= 128
        iou = (mask & ref).sum() / (mask | ref).sum()
        assert iou >= 0.98, (i, iou)
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # 2 px
        kp = np.round(s.hands[0].keypoints2d).astype(int)
        assert ((kp >= 0) & (kp < RES)).all()
        assert grown[kp[:, 1], kp[:, 0]].all(), i


def test_params_reproduce_the_labels_with_the_requested_side(tmp_path):
    from smhr.hands.model import HandModel

    write_synth(tmp_path, 2, 0, cfg=SynthConfig(res=32, side="left", device="cpu"), seed=1, progress=False)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["side"] == "left"
    xyz = torch.tensor(json.loads((tmp_path / "training_xyz.json").read_text()), dtype=torch.float32)
    theta = torch.tensor(json.loads((tmp_path / "training_mano.json").read_text()), dtype=torch.float32)[:, 0]
    args = (theta[:, :3], theta[:, 3:48], theta[:, 48:58], theta[:, 58:61])
    left = HandModel.load("anny", "left")(*args)
    right = HandModel.load("anny", "right")(*args)
    assert (left.joints - xyz).abs().max() < 1e-5
    assert (right.joints - xyz).abs().max() > 1e-3


def test_same_seed_gives_identical_files(tmp_path):
    cfg = SynthConfig(res=32, device="cpu")
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_synth(tmp_path / name, 2, 1, cfg=cfg, seed=seed, progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 2 + 2 + 1 + 10 + 1
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (tmp_path / "a" / "training_xyz.json").read_bytes() != (
        tmp_path / "c" / "training_xyz.json"
    ).read_bytes()


def test_place_in_view_frames_the_box_as_asked():
    from smhr.data.synth_scene import place_in_view

    g = torch.Generator().manual_seed(0)
    v = torch.randn(6, 300, 3, generator=g) * torch.tensor([0.04, 0.08, 0.03])
    f = torch.full((6,), 224 * 1.8)
    fill = torch.linspace(0.4, 0.8, 6)
    shift = (torch.rand(6, 2, generator=g) * 2 - 1) * 0.08
    t, K = place_in_view(v, f, fill, shift, 224)
    uv = project(v + t[:, None], K)
    side = (uv.amax(1) - uv.amin(1)).amax(-1) / 224
    np.testing.assert_allclose(side.numpy(), fill.numpy(), rtol=5e-3)
    np.testing.assert_allclose(
        ((uv.amax(1) + uv.amin(1)) / 2).numpy(), (111.5 + shift * 224).numpy(), atol=0.3
    )
    assert ((v + t[:, None])[..., 2] > 0.1).all()
