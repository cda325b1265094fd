"""`smhr synth`: FreiHAND-layout files that the FreiHAND loader reads back, masks that match the
projected mesh, keypoints inside the mask, the requested side's model, byte-identical reruns; its
switches: an arm at the wrist (labels stay the hand's, with a depth test where the arm is in
front), gloves, low light, each reproducible from the seed and, at 0, absent."""

import colorsys
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from smhr.data.freihand import FreiHAND
from smhr.data.synth import SynthConfig, SynthRenderer, write_synth
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
    assert meta["pose_space"] == "flat" and "58:61" in meta["mano_layout"] and meta["keypoints"] == "joints"

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


def test_worker_processes_write_the_same_files(tmp_path):
    """`smhr synth --workers N`: chunks rendered in N processes (one thread each), written in chunk
    order, give the files one process writes (with one thread, as the workers use)."""
    import torch

    cfg = SynthConfig(res=32, device="cpu", arm_prob=0.5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        write_synth(tmp_path / "one", 33, 0, cfg=cfg, seed=3, progress=False)
    finally:
        torch.set_num_threads(threads)
    write_synth(tmp_path / "two", 33, 0, cfg=cfg, seed=3, progress=False, workers=2)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) == 3 * 33 + 6 + 1  # rgb, mask, arm; K xyz verts mano scale vis; meta
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f


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


# ----------------------------------------------------------------------------- switches
ARM_RES, ARM_N = 96, 6


@pytest.fixture(scope="module")
def pair() -> tuple[dict, dict]:
    """The same seed rendered without and with an arm on every image (bare arms: no sleeves)."""
    plain = SynthRenderer(SynthConfig(res=ARM_RES, device="cpu")).render(ARM_N, 11)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("smhr.data.synth_scene.SLEEVE_PROB", 0.0)
        arms = SynthRenderer(SynthConfig(res=ARM_RES, device="cpu", arm_prob=1.0)).render(ARM_N, 11)
    return plain, arms


def test_arm_leaves_labels_and_hides_only_what_it_covers(pair):
    plain, arms = pair
    for key in ("xyz", "K", "verts", "theta"):
        np.testing.assert_array_equal(plain[key], arms[key])
    assert arms["arm_on"].sum() >= ARM_N - 1  # an arm hiding > 4 of its keypoints is taken back
    faces = model_faces()
    for i in range(ARM_N):
        arm, mask = arms["arm"][i], arms["mask"][i]
        np.testing.assert_array_equal(mask, plain["mask"][i] & ~arm)  # the arm only hides
        if not arms["arm_on"][i]:
            assert not arm.any()
            continue
        assert arm.sum() > 100 and (arm & ~plain["mask"][i]).any()
        ref = triangle_mask(arms["verts"][i].astype(np.float64), faces, arms["K"][i], ARM_RES) & ~arm
        assert (mask & ref).sum() / (mask | ref).sum() >= 0.98, i


def test_arm_is_skin_and_joins_the_hand_at_the_wrist(pair):
    _, arms = pair
    for i in np.flatnonzero(arms["arm_on"]):
        img, arm, mask = arms["image"][i].astype(float), arms["arm"][i], arms["mask"][i]
        uvw = arms["xyz"][i] @ arms["K"][i].T
        uv = uvw[:, :2] / uvw[:, 2:]
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        inside = cv2.erode(arm.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # no blended edges
        join = inside & ring  # arm pixels within 3 px of the hand
        assert join.sum() >= 5, i
        ys, xs = np.nonzero(join)
        near = np.stack([xs, ys], -1)
        # the arm meets the hand at the wrist, not at the fingertips
        d_wrist = np.linalg.norm(near - uv[0], axis=-1).mean()
        d_tip = np.linalg.norm(near - uv[12], axis=-1).mean()
        assert d_wrist < d_tip, i
        # and there it has the hand's skin colour (same albedo and light)
        inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        hand_rgb, arm_rgb = img[inner].mean(0), img[join].mean(0)
        assert np.abs(arm_rgb - hand_rgb).max() < 0.25 * hand_rgb.max() + 8, (i, hand_rgb, arm_rgb)


def test_keypoints_in_the_mask_or_hidden_behind_the_arm(pair):
    _, arms = pair
    for i in range(ARM_N):
        grown = cv2.dilate(arms["mask"][i].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        uvw = arms["xyz"][i] @ arms["K"][i].T
        px = np.round(uvw[:, :2] / uvw[:, 2:]).astype(int)
        on_hand = grown[px[:, 1], px[:, 0]]
        on_arm = arms["arm"][i][px[:, 1], px[:, 0]]
        vis = arms["vis"][i]
        assert on_hand[1:][vis[1:]].all(), i  # fingers and palm: visible ones lie on the hand
        assert (on_hand | on_arm)[0], i  # the wrist: on the hand or on the arm's junction flesh
        assert on_arm[~vis].all(), i  # hidden ones lie under the arm


def test_depth_test_between_hand_and_arm():
    from smhr.data.synth_arm import KEYPOINT_MARGIN, keypoints_in_view
    from smhr.data.synth_scene import render_hands

    quad = torch.tensor([[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]) * 0.05
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    K = torch.tensor([[[400.0, 0, 31.5], [0, 400, 31.5], [0, 0, 1]]])  # hand: pixels 12-51
    for arm_z, hidden in ((0.8, True), (1.2, False)):
        arm = quad * torch.tensor([0.5, 1, 1]) + torch.tensor([-0.025, 0, arm_z])  # left half
        verts = torch.cat([quad + torch.tensor([0, 0, 1.0]), arm])[None]
        albedo, sh = torch.full((1, 8, 3), 0.5), torch.zeros(1, 27)
        _, anything, hand, depth = render_hands(verts, faces, albedo, sh, K, 64, 2)
        assert anything[0, 16:48, 16:48].all()
        left = hand[0, 16:48, 16:30]
        assert (left.sum() == 0) == hidden and (left.all() == (not hidden))
        assert hand[0, 16:48, 34:48].all()
        joints = torch.tensor([[[-0.02, 0.0, 1.0], [0.02, 0.0, 1.0]]])
        vis = keypoints_in_view(joints, K, (anything > 0.5) & (hand < 0.5), depth)
        assert vis[0].tolist() == [not hidden, True]
    # the wrist junction: arm flesh nearer than the joint by less than the margin keeps it visible
    joints = torch.tensor([[[0.0, 0.0, 1.0]]])
    near = torch.full((1, 64, 64), 1.0 - KEYPOINT_MARGIN / 2)
    assert keypoints_in_view(joints, K, torch.ones(1, 64, 64, dtype=torch.bool), near).all()


def _not_skin(rgb: np.ndarray) -> np.ndarray:
    """Saturated greens, cyans, blues, purples (60 % of the hue circle): no skin tone is."""
    hsv = np.array([colorsys.rgb_to_hsv(*c) for c in np.asarray(rgb, float).tolist()])
    return (hsv[:, 1] > 0.25) & (hsv[:, 0] > 0.3) & (hsv[:, 0] < 0.9)


def test_gloves_change_the_hand_colour_and_have_no_nails():
    from smhr.data.synth_scene import glove_albedo, skin_albedo
    from smhr.hands.keypoints import NAIL_PART
    from smhr.hands.model import HandModel

    m = HandModel.load("anny", "right")
    nails = m.part_labels == NAIL_PART
    g = torch.Generator().manual_seed(0)
    gloves, base = glove_albedo(m.v_template, 200, g)
    skin = skin_albedo(m.part_labels, m.v_template, 200, g)

    assert not _not_skin(skin[:, ~nails].mean(1).numpy()).any()
    assert _not_skin(base.numpy()).mean() > 0.3  # 65 % of gloves have a random hue, saturation >= 0.35
    ratio = gloves[:, nails].mean(1) / gloves[:, ~nails].mean(1).clamp(min=1e-3)
    assert (ratio - 1).abs().max() < 0.05  # a glove's nails are the glove
    skin_ratio = skin[:, nails].mean(1) / skin[:, ~nails].mean(1)
    assert (skin_ratio[:, 0] > 1.05).all()  # bare nails are lighter and pinker

    # rendered: the same hands, bare then gloved; the gloved hand pixels leave the skin hues
    cfg = {"res": 48, "device": "cpu"}
    bare = SynthRenderer(SynthConfig(**cfg)).render(8, 4)
    worn = SynthRenderer(SynthConfig(**cfg, glove_prob=1.0)).render(8, 4)
    np.testing.assert_array_equal(bare["mask"], worn["mask"])
    colour = {k: np.array([b["image"][i][b["mask"][i]].mean(0) / 255 for i in range(8)])
              for k, b in (("bare", bare), ("worn", worn))}  # fmt: skip
    assert not _not_skin(colour["bare"]).any() and _not_skin(colour["worn"]).sum() >= 2
    assert (np.abs(colour["worn"] - colour["bare"]).max(1) > 0.03).all()


def test_switches_are_reproducible_recorded_and_applied(tmp_path):
    switches = {"arm_prob": 0.5, "glove_prob": 1.0, "low_light_prob": 1.0, "palm_cue_prob": 0.5}
    on = SynthConfig(res=32, device="cpu", **switches)
    for name in ("a", "b"):
        write_synth(tmp_path / name, 3, 1, cfg=on, seed=2, progress=False)
    write_synth(tmp_path / "off", 3, 1, cfg=SynthConfig(res=32, device="cpu"), seed=2, progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 3 * 3 + 1 + 12 + 1  # rgb + mask + arm, eval rgb, 6 json per split, meta
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["switches"] == switches
    for name in ("xyz", "K", "verts", "mano"):  # the hands are the same hands
        assert (tmp_path / "a" / f"training_{name}.json").read_bytes() == (
            tmp_path / "off" / f"training_{name}.json"
        ).read_bytes()
    dark, lit = FreiHAND(tmp_path / "a", "train"), FreiHAND(tmp_path / "off", "train")
    assert len(dark[0].hands[0].visibility) == 21
    arm = [dark[i].meta["arm_mask"] for i in range(3)]  # the arm's pixels, for the composer
    assert all(a.shape == (32, 32) for a in arm) and "arm_mask" not in lit[0].meta
    assert not any((a & (dark[i].mask == 1)).any() for i, a in enumerate(arm))
    ratio = [dark[i].image.mean() / lit[i].image.mean() for i in range(3)]
    assert max(ratio) < 0.85, ratio  # low light: darker exposure (gain 0.15-0.5 on linear light)


def test_switch_values_are_checked():
    with pytest.raises(ValueError, match="--glove-prob"):
        SynthConfig(glove_prob=1.5)
    with pytest.raises(ValueError, match="--palm-cue-prob"):
        SynthConfig(palm_cue_prob=-0.1)


def test_composer_pastes_the_arm_with_its_hand_and_it_hides_earlier_hands():
    from smhr.data.compose import Layout, compose_sample
    from smhr.data.sample import RIGHT, HandLabel, Sample

    img = np.zeros((90, 100, 3), np.uint8)
    mask = np.zeros((90, 100), np.uint8)
    mask[30:60, 20:50] = 1
    img[30:60, 20:50] = (120, 120, 120)
    arm = np.zeros((90, 100), bool)
    arm[30:60, 50:100] = True  # the arm continues the hand to the right, out of the image
    img[arm] = (200, 50, 50)
    kp = np.stack(np.meshgrid(np.linspace(23, 47, 7), np.linspace(33, 57, 3)), -1).reshape(21, 2)
    hand = HandLabel(side=RIGHT, keypoints2d=kp.astype(np.float32), visibility=np.ones(21, bool))

    def source(with_arm: bool) -> Sample:
        meta = {"arm_mask": arm} if with_arm else {}
        return Sample(image=img, K=None, hands=[hand], mask=mask, source="t", id="t", meta=meta)

    lay = Layout(valid=torch.ones(1, 2, dtype=torch.bool), src=torch.zeros(1, 2, dtype=torch.long),
                 mirror=torch.zeros(1, 2, dtype=torch.bool), size=torch.full((1, 2), 24.0),
                 angle=torch.zeros(1, 2), center=torch.tensor([[[90.0, 64.0], [40.0, 64.0]]]),
                 gain=torch.ones(1, 2))  # fmt: skip
    bg = np.zeros((128, 128, 3), np.uint8)
    plain = compose_sample([source(False)] * 2, lay, bg)
    armed = compose_sample([source(True)] * 2, lay, bg)
    assert plain.hands[0].visibility.all() and plain.hands[1].visibility.all()
    # hand 1 (pasted last, left) reaches over hand 0 with its arm: hand 0 is hidden, not relabelled
    assert not armed.hands[0].visibility.any() and armed.hands[1].visibility.all()
    assert (armed.mask == 1).sum() == 0 and (armed.mask == 2).sum() == (plain.mask == 2).sum()
    x, y = np.round(armed.hands[0].keypoints2d[10]).astype(int)
    assert tuple(armed.image[y, x]) == (200, 50, 50) and tuple(plain.image[y, x]) == (120, 120, 120)
    assert ((armed.image == (200, 50, 50)).all(-1) & (armed.mask > 0)).sum() == 0
