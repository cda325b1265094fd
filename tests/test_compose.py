"""Multi-hand composer: every label lands on its pixel, occlusion / truncation / mirroring are
labelled, and seeds are deterministic."""

import colorsys

import numpy as np
import pytest
import torch

from smhr.data.augment import crop_affine, flip_horizontal, warp
from smhr.data.compose import (
    ComposeConfig,
    ComposedFolder,
    ComposedHands,
    Layout,
    compose_sample,
    write_composed,
)
from smhr.data.sample import LEFT, RIGHT, HandLabel, HandParams, Sample
from smhr.data.targets import build_targets
from smhr.geometry.cameras import project, unproject

SRC_H, SRC_W = 90, 100
DOT_R = 4
PALETTE = np.array(
    [[round(255 * c) for c in colorsys.hsv_to_rgb(j / 21, 1.0, 1.0 if j % 2 else 0.75)] for j in range(21)],
    np.uint8,
)


def _project(X: np.ndarray, K: np.ndarray) -> np.ndarray:
    return project(torch.from_numpy(X).double(), torch.from_numpy(K).double()).numpy()


def dot_source(seed: int) -> Sample:
    """A 'hand': grey textured rectangle (the mask) with a unique coloured dot at each keypoint."""
    rng = np.random.default_rng(seed)
    grid = [(x, y) for y in range(5) for x in range(5)][2:-2]  # 21 of 25 cells: asymmetric layout
    kp = np.array([(22 + 12 * x, 17 + 12 * y) for x, y in grid], np.float32) + rng.uniform(-1.5, 1.5, (21, 2))
    img = np.zeros((SRC_H, SRC_W, 3), np.uint8)  # black outside the mask: must never be pasted
    mask = np.zeros((SRC_H, SRC_W), np.uint8)
    mask[8:80, 12:84] = 1
    img[mask == 1] = rng.integers(90, 140, (int(mask.sum()), 3), dtype=np.uint8)
    yy, xx = np.mgrid[:SRC_H, :SRC_W]
    for j, (x, y) in enumerate(kp):
        img[(xx - x) ** 2 + (yy - y) ** 2 <= DOT_R**2] = PALETTE[j]
    K = np.array([[150.0, 0, 49.5], [0, 150.0, 44.5], [0, 0, 1]], np.float32)
    depth = torch.from_numpy(0.4 + 0.01 * np.arange(21))
    xyz = unproject(torch.from_numpy(kp).double(), depth.double(), torch.from_numpy(K).double()).numpy()
    params = HandParams(
        np.array([0.1, 0.2, 0.3], np.float32),
        np.zeros(45, np.float32),
        np.zeros(10, np.float32),
        np.array([0.0, 0.0, 0.5], np.float32),
        model="anny",
        pose_space="flat",
    )
    hand = HandLabel(side=RIGHT, keypoints2d=kp, visibility=np.ones(21, bool), joints3d=xyz, params=params)
    return Sample(image=img, K=K, hands=[hand], mask=mask, source="dots", id=f"dots/{seed}")


SOURCES = [dot_source(i) for i in range(3)]
CFG = ComposeConfig(out_size=128, max_hands=4, gain_range=(1.0, 1.0))


def manual_layout(centers, sizes, angles, mirror, src=None) -> Layout:
    n = len(centers)
    return Layout(
        valid=torch.ones(1, n, dtype=torch.bool),
        src=torch.tensor([src or [0] * n]),
        mirror=torch.tensor([mirror]),
        size=torch.tensor([sizes], dtype=torch.float32),
        angle=torch.tensor([angles], dtype=torch.float32),
        center=torch.tensor([centers], dtype=torch.float32),
        gain=torch.ones(1, n),
    )


def check_dots(s: Sample) -> int:
    """Assert every visible keypoint's pixel has its dot colour; return how many were checked."""
    checked = 0
    for k, h in enumerate(s.hands):
        for j in np.flatnonzero(h.visibility):
            x, y = np.round(h.keypoints2d[j]).astype(int)
            assert s.mask[y, x] == k + 1, (k, j)
            assert np.abs(s.image[y, x].astype(int) - PALETTE[j]).max() <= 3, (
                k,
                j,
                s.image[y, x],
                PALETTE[j],
            )
            checked += 1
    return checked


def test_every_visible_keypoint_lands_on_its_dot_and_3d_projects_exactly():
    ds = ComposedHands(SOURCES, length=12, cfg=CFG, seed=1)
    checked, mirrored, plain = 0, 0, 0
    for i in range(len(ds)):
        s = ds[i]
        assert s.image.shape == (128, 128, 3) and s.mask.shape == (128, 128)
        assert 1 <= len(s.hands) <= 4
        assert not (s.image[s.mask > 0] == 0).all(-1).any()  # nothing outside a source mask pasted
        checked += check_dots(s)
        for k, h in enumerate(s.hands):
            assert h.K is not None and h.K.dtype == np.float32 and s.K is None
            np.testing.assert_allclose(_project(h.joints3d, h.K), h.keypoints2d, atol=1e-3)
            if s.meta["mirrored"][k]:
                mirrored += 1
                assert h.side == LEFT and h.params.global_orient[1] != pytest.approx(0.2)
            else:
                plain += 1
                assert h.side == RIGHT
    assert checked > 300 and mirrored > 3 and plain > 3


def test_mirrored_hand_puts_each_dot_at_its_mirrored_keypoint():
    s = compose_sample(
        [SOURCES[0]], manual_layout([[64, 64]], [60], [0.0], [True]), np.zeros((128, 128, 3), np.uint8)
    )
    h = s.hands[0]
    assert h.side == LEFT and h.visibility.all()
    assert check_dots(s) == 21
    # mirrored: the thumb-side (keypoint 1) and little-side (20) swap left/right relative to the source
    src = SOURCES[0].hands[0].keypoints2d
    assert np.sign(h.keypoints2d[20, 0] - h.keypoints2d[1, 0]) == -np.sign(src[20, 0] - src[1, 0])


def test_forced_overlap_hides_the_keypoints_under_the_later_hand():
    bg = np.zeros((128, 128, 3), np.uint8)
    same = compose_sample(
        SOURCES[:2], manual_layout([[64, 64], [64, 64]], [60, 60], [0.0, 0.0], [False, False]), bg
    )
    assert not same.hands[0].visibility.any() and same.hands[1].visibility.all()
    half = compose_sample(
        SOURCES[:2], manual_layout([[40, 64], [80, 64]], [60, 60], [0.0, 0.3], [False, False]), bg
    )
    v0 = half.hands[0].visibility
    assert 0 < v0.sum() < 21 and half.hands[1].visibility.all()
    for j in np.flatnonzero(~v0):  # each hidden keypoint of hand 0 sits on hand 1's pixels
        x, y = np.round(half.hands[0].keypoints2d[j]).astype(int)
        assert half.mask[y, x] == 2
    assert check_dots(half) == v0.sum() + 21


def test_hands_cut_by_the_border_are_flagged_truncated():
    bg = np.zeros((128, 128, 3), np.uint8)
    s = compose_sample(
        SOURCES[:2], manual_layout([[5, 64], [90, 64]], [60, 40], [0.0, 0.0], [False, True]), bg
    )
    cut, inside = s.hands[0], s.hands[1]
    assert s.meta["truncated"] == [True, False]
    off = cut.keypoints2d[:, 0] < -0.5
    assert off.sum() > 3 and not cut.visibility[off].any() and cut.visibility[~off].all()
    assert inside.visibility.all()


def test_same_seed_same_composite_and_different_seed_differs():
    a = ComposedHands(SOURCES, length=4, cfg=CFG, seed=7)[3]
    b = ComposedHands(SOURCES, length=4, cfg=CFG, seed=7)[3]
    c = ComposedHands(SOURCES, length=4, cfg=CFG, seed=8)[3]
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert all(np.array_equal(x.keypoints2d, y.keypoints2d) for x, y in zip(a.hands, b.hands, strict=True))
    assert not np.array_equal(a.image, c.image)


def test_set_epoch_draws_new_composites_deterministically():
    ds = ComposedHands(SOURCES, length=4, cfg=CFG, seed=7)
    first = ds[1]
    ds.set_epoch(2)
    again = ComposedHands(SOURCES, length=4, cfg=CFG, seed=7 * 1_000_003 + 2)[1]  # the epoch seed rule
    assert np.array_equal(ds[1].image, again.image) and not np.array_equal(ds[1].image, first.image)
    ds.set_epoch(2)  # idempotent: depends on the epoch, not on how often it was called
    assert np.array_equal(ds[1].image, again.image)


def test_write_and_read_back(tmp_path):
    ds = ComposedHands(SOURCES, length=3, cfg=CFG, seed=2)
    write_composed(ds, tmp_path, progress=False)
    back = ComposedFolder(tmp_path)
    assert len(back) == 3
    for i in range(3):
        a, b = ds[i], back[i]
        assert np.array_equal(a.mask, b.mask)
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 5  # JPEG of noise textures
        assert a.meta["truncated"] == b.meta["truncated"]
        for ha, hb in zip(a.hands, b.hands, strict=True):
            np.testing.assert_allclose(ha.keypoints2d, hb.keypoints2d, atol=1e-5)
            assert np.array_equal(ha.visibility, hb.visibility) and ha.side == hb.side
            np.testing.assert_allclose(ha.params.flat(), hb.params.flat(), atol=1e-6)
            np.testing.assert_allclose(ha.K, hb.K, rtol=1e-6)


def test_flips_and_warps_move_each_hands_own_camera():
    lay = manual_layout([[35, 40], [90, 50], [60, 100]], [45, 50, 40], [0.3, -0.6, 1.2], [False, True, False])
    s = compose_sample(SOURCES, lay, np.zeros((128, 128, 3), np.uint8))
    assert s.K is None
    assert not np.allclose(s.hands[0].K, s.hands[1].K)  # different pastes, different cameras
    moved = [
        flip_horizontal(s),
        warp(s, crop_affine((60.0, 70.0), 100.0, 33.0, 96), (96, 96)),
        warp(flip_horizontal(s), crop_affine((50.0, 64.0), 140.0, -70.0, 80), (80, 80)),
    ]
    for m in moved:
        assert m.K is None
        for h0, h in zip(s.hands, m.hands, strict=True):
            np.testing.assert_allclose(_project(h.joints3d, h.K), h.keypoints2d, atol=1e-3)
            assert not np.allclose(h.K, h0.K) and h.K[1, 0] == 0
    assert s.hands[0].K is not moved[0].hands[0].K  # Sample.copy copies the per-hand camera
    f = moved[0]
    assert [h.side for h in f.hands] == [1 - h.side for h in s.hands]


def test_two_d_only_sources_compose_without_a_camera():
    flat = []
    for i in range(2):
        src = dot_source(i)
        src.K = None
        src.hands[0].joints3d = None
        src.hands[0].params = None
        flat.append(src)
    two = manual_layout([[40, 64], [90, 64]], [50, 50], [0.4, 0.0], [False, True])
    s = compose_sample(flat, two, np.zeros((128, 128, 3), np.uint8))
    assert [h.K for h in s.hands] == [None, None] and check_dots(s) > 30
    t = build_targets(s, input_size=128, max_hands=3)
    assert t["valid"].tolist() == [True, True, False] and not t["has_focal"].any()
    # a 3D hand next to a 2D-only one: only the 3D one gets a camera
    mixed = compose_sample([SOURCES[0], flat[1]], two, np.zeros((128, 128, 3), np.uint8))
    assert mixed.hands[0].K is not None and mixed.hands[1].K is None
    assert build_targets(mixed, input_size=128, max_hands=2)["has_focal"].tolist() == [True, False]


def test_cameras_round_trip_through_disk_and_old_nan_rows_read_as_none(tmp_path):
    import json

    flat = dot_source(4)
    flat.K, flat.hands[0].joints3d, flat.hands[0].params = None, None, None
    ds = ComposedHands([SOURCES[0], flat], length=6, cfg=CFG, seed=3)
    write_composed(ds, tmp_path, progress=False)
    back = ComposedFolder(tmp_path)
    seen = set()
    for i in range(len(ds)):
        for ha, hb in zip(ds[i].hands, back[i].hands, strict=True):
            assert (ha.K is None) == (hb.K is None)
            seen.add(ha.K is None)
            if ha.K is not None:
                np.testing.assert_allclose(ha.K, hb.K, rtol=1e-6)
    assert seen == {True, False}
    assert json.loads((tmp_path / "meta.json").read_text())["version"] == 2
    records = json.loads((tmp_path / "training_multi.json").read_text())
    for rec in records:  # rewrite as format 1 did: NaN rows for "no camera"
        for h in rec["hands"]:
            h["K"] = h["K"] if h["K"] is not None else [[float("nan")] * 3] * 3
    (tmp_path / "training_multi.json").write_text(json.dumps(records))
    old = ComposedFolder(tmp_path)
    for i in range(len(ds)):
        assert [h.K is None for h in old[i].hands] == [h.K is None for h in back[i].hands]


def test_source_without_mask_is_a_one_line_error():
    bad = dot_source(0)
    bad.mask = None
    with pytest.raises(ValueError, match="has no mask"):
        compose_sample(
            [bad], manual_layout([[64, 64]], [60], [0.0], [False]), np.zeros((128, 128, 3), np.uint8)
        )


def test_compose_command_reads_a_freihand_layout_source(tmp_path):
    import json

    import cv2
    from typer.testing import CliRunner

    from smhr.cli import app

    src = tmp_path / "src"
    (src / "training" / "rgb").mkdir(parents=True)
    (src / "training" / "mask").mkdir(parents=True)
    for i, s in enumerate(SOURCES):
        cv2.imwrite(str(src / "training" / "rgb" / f"{i:08d}.jpg"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(src / "training" / "mask" / f"{i:08d}.jpg"), s.mask * 255)
    (src / "training_K.json").write_text(json.dumps([s.K.tolist() for s in SOURCES]))
    (src / "training_xyz.json").write_text(json.dumps([s.hands[0].joints3d.tolist() for s in SOURCES]))
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app, ["compose", str(src), str(out), "--n", "4", "--res", "96", "--max-hands", "3"]
    )
    assert r.exit_code == 0, r.output
    back = ComposedFolder(out)
    assert len(back) == 4 and json.loads((out / "meta.json").read_text())["config"]["max_hands"] == 3
    for s in back:
        assert s.image.shape == (96, 96, 3) and 1 <= len(s.hands) <= 3
        assert set(np.unique(s.mask)) <= set(range(len(s.hands) + 1))
    bad = CliRunner().invoke(app, ["compose", str(tmp_path / "nowhere"), str(out)])
    assert bad.exit_code == 2 and "training/mask" in bad.output
