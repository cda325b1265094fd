"""Composer context switches (frame-filling and border-cut hands): each off by default with
today's composites byte-identical, and each labelled with the composer's own truncation and
visibility rules."""

import hashlib
import json

import cv2
import numpy as np
import pytest

from smhr.data.compose import ComposeConfig, ComposedHands
from test_compose import SOURCES, check_dots

CANVAS = 96


def digest(cfgs, seed=5, n=6) -> str:
    h = hashlib.sha256()
    for cfg in cfgs:
        ds = ComposedHands(SOURCES, length=n, cfg=cfg, seed=seed)
        for i in range(n):
            s = ds[i]
            h.update(s.image.tobytes())
            h.update(s.mask.tobytes())
            for hd in s.hands:
                h.update(hd.keypoints2d.astype(np.float32).tobytes())
                h.update(hd.visibility.tobytes())
    return h.hexdigest()


def test_switches_off_give_the_composites_of_before_byte_for_byte():
    # recorded with the composer before any switch existed (same fixtures, seed 5): with every switch
    # at 0 nothing extra is drawn, so training runs and written sets of old configs are unchanged
    old = "645bbe459db5cd03fedf142b3f39a637a495fc0d6b764c07fe780dc011f2643c"
    cfgs = [ComposeConfig(out_size=128, max_hands=4, gain_range=(1.0, 1.0)),
            ComposeConfig(out_size=96, max_hands=3)]
    assert digest(cfgs) == old


def test_frame_fill_gives_one_hand_filling_the_frame_labelled_truncated_where_cut():
    lo, hi = 0.6, 1.3
    cfg = ComposeConfig(out_size=CANVAS, max_hands=4, frame_fill_prob=1.0, frame_fill_range=(lo, hi),
                        gain_range=(1.0, 1.0))
    ds = ComposedHands(SOURCES, length=16, cfg=cfg, seed=3)
    sides, cut = [], 0
    for i in range(len(ds)):
        s = ds[i]
        assert len(s.hands) == 1 and set(np.unique(s.mask)) <= {0, 1}
        h = s.hands[0]
        kp = h.keypoints2d
        side = float((kp.max(0) - kp.min(0)).max()) / CANVAS  # the rotated keypoint box, on screen
        assert lo - 0.01 <= side <= hi + 0.01
        sides.append(side)
        inside = (kp >= -0.5).all(1) & (kp < CANVAS - 0.5).all(1)
        assert np.array_equal(h.visibility, inside)  # one hand: hidden exactly where off the canvas
        m = s.mask > 0
        touches = bool(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())
        assert s.meta["truncated"] == [bool((~inside).any()) or touches]
        cut += int((~inside).any())
        check_dots(s)
    assert max(sides) > 1.0 and min(sides) < 0.9 and 4 <= cut < len(ds)


def test_frame_fill_prob_mixes_with_the_usual_layouts():
    cfg = ComposeConfig(out_size=CANVAS, min_hands=2, max_hands=4, frame_fill_prob=0.5)
    counts = [len(ComposedHands(SOURCES, length=24, cfg=cfg, seed=1)[i].hands) for i in range(24)]
    assert 6 <= counts.count(1) <= 18 and counts.count(1) + sum(c >= 2 for c in counts) == 24


def test_border_cut_hands_sit_on_an_edge_and_are_labelled_truncated():
    cfg = ComposeConfig(out_size=CANVAS, max_hands=3, border_cut_prob=1.0, gain_range=(1.0, 1.0))
    ds = ComposedHands(SOURCES, length=10, cfg=cfg, seed=4)
    hidden = 0
    for i in range(len(ds)):
        s = ds[i]
        assert all(s.meta["truncated"])  # every dot-hand mask (1.5x its keypoint box) reaches the edge
        for h in s.hands:
            lo, hi = h.keypoints2d.min(0), h.keypoints2d.max(0)
            c = (lo + hi) / 2
            assert min(c.min(), CANVAS - c.max()) < 0.3 * float((hi - lo).max())
            outside = ~((h.keypoints2d >= -0.5).all(1) & (h.keypoints2d < CANVAS - 0.5).all(1))
            assert not h.visibility[outside].any()
            hidden += int(outside.sum())
        check_dots(s)
    assert hidden > 20


def test_bad_switch_values_are_one_line_errors():
    with pytest.raises(ValueError, match="frame_fill_prob must be in"):
        ComposeConfig(frame_fill_prob=1.5)
    with pytest.raises(ValueError, match="frame_fill_range must be"):
        ComposeConfig(frame_fill_range=(0.9, 0.5))


def _freihand_dots(root):
    (root / "training" / "rgb").mkdir(parents=True)
    (root / "training" / "mask").mkdir(parents=True)
    for i, s in enumerate(SOURCES):
        cv2.imwrite(str(root / "training" / "rgb" / f"{i:08d}.jpg"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "training" / "mask" / f"{i:08d}.jpg"), s.mask * 255)
    (root / "training_K.json").write_text(json.dumps([s.K.tolist() for s in SOURCES]))
    (root / "training_xyz.json").write_text(json.dumps([s.hands[0].joints3d.tolist() for s in SOURCES]))
    return root


def test_switches_come_from_a_training_config_and_from_the_command(tmp_path):
    from typer.testing import CliRunner

    from smhr.cli import app
    from smhr.data.compose import ComposedFolder
    from smhr.data.kinds import build_data_config

    src = _freihand_dots(tmp_path / "src")
    data = build_data_config({"kind": "composed", "root": str(src), "max_hands": 3,
                              "compose": {"frame_fill_prob": 1.0, "frame_fill_range": [0.7, 0.9],
                                          "occluder_prob": 0.5, "occluder_cover": [0.2, 0.3],
                                          "low_light_prob": 0.5, "motion_blur_prob": 0.5, "length": 4}})
    ts = data.build(input_size=64, seed=0)
    assert ts.base.cfg.frame_fill_prob == 1.0 and all(len(ts.base[i].hands) == 1 for i in range(4))
    assert ts.base.cfg.pixel_effects and ts[0]["image"].shape[-2:] == (64, 64)  # through the targets
    bad = build_data_config({"kind": "composed", "root": str(src), "compose": {"frame_fil_prob": 1.0}})
    with pytest.raises(ValueError, match=r"data.compose key\(s\) \['frame_fil_prob'\] unknown"):
        bad.build(input_size=64, seed=0)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["compose", str(src), str(out), "--n", "3", "--res", "64",
                                 "--frame-fill-prob", "1", "--border-cut-prob", "0.5",
                                 "--occluder-prob", "0.5", "--low-light-prob", "0.25",
                                 "--motion-blur-prob", "0.75"])
    assert r.exit_code == 0, r.output
    config = json.loads((out / "meta.json").read_text())["config"]
    keys = ("frame_fill_prob", "border_cut_prob", "occluder_prob", "low_light_prob", "motion_blur_prob")
    assert [config[k] for k in keys] == [1.0, 0.5, 0.5, 0.25, 0.75]
    assert [len(s.hands) for s in ComposedFolder(out)] == [1, 1, 1]
    bad = CliRunner().invoke(app, ["compose", str(src), str(out), "--occluder-prob", "2"])
    assert bad.exit_code == 2 and "occluder_prob must be in [0, 1]" in bad.output


def _pair(seed, n=1, **switches):
    """The composites of `seed` without and with `switches` (same layouts and backgrounds)."""
    base = dict(out_size=CANVAS, min_hands=n, max_hands=n, gain_range=(1.0, 1.0))
    off = ComposedHands(SOURCES, length=8, cfg=ComposeConfig(**base), seed=seed)
    on = ComposedHands(SOURCES, length=8, cfg=ComposeConfig(**base, **switches), seed=seed)
    return [(off[i], on[i]) for i in range(8)]


def _on_own_pixel(s, k, h):
    """Per keypoint: inside the canvas and on a pixel of hand k's instance mask."""
    xy = np.round(h.keypoints2d).astype(int)
    inside = (xy >= 0).all(1) & (xy < CANVAS).all(1)
    own = np.zeros(21, bool)
    own[inside] = s.mask[xy[inside, 1], xy[inside, 0]] == k + 1
    return own


def test_held_objects_hide_exactly_the_keypoints_under_them_and_cover_15_to_45_percent():
    lo, hi = 0.15, 0.45
    drawn = 0
    for off, on in _pair(seed=11, occluder_prob=1.0, occluder_cover=(lo, hi)):
        assert np.array_equal(off.hands[0].keypoints2d, on.hands[0].keypoints2d)  # same layout
        kind = on.meta["occluders"][0]
        a0, a1 = int((off.mask == 1).sum()), int((on.mask == 1).sum())
        if kind is None:  # not drawn (no thickness reached the cover range): nothing changed
            assert np.array_equal(off.image, on.image) and a0 == a1
            continue
        drawn += 1
        assert kind in ("cylinder", "box", "phone", "cup")
        assert lo - 1e-9 <= (a0 - a1) / a0 <= hi + 1e-9  # never the whole hand
        assert not ((on.mask == 1) & (off.mask != 1)).any()  # the mask only loses pixels
        under = (off.mask == 1) & (on.mask == 0)  # the object's pixels over the hand
        assert not np.array_equal(off.image[under], on.image[under])
        v0, v1 = off.hands[0].visibility, on.hands[0].visibility
        xy = np.round(on.hands[0].keypoints2d).astype(int).clip(0, CANVAS - 1)
        assert np.array_equal(v0 & ~v1, v0 & under[xy[:, 1], xy[:, 0]])  # hidden == under the object
        check_dots(on)
    assert drawn >= 6


def test_held_objects_among_several_hands_keep_every_label_on_its_own_pixels():
    hidden = 0
    for off, on in _pair(seed=2, n=3, occluder_prob=1.0):
        assert any(on.meta["occluders"])
        for k, (h0, h1) in enumerate(zip(off.hands, on.hands, strict=True)):
            own = _on_own_pixel(on, k, h1)
            assert np.array_equal(h1.visibility, own)  # visible <=> on its own, unoccluded pixel
            assert not (h1.visibility & ~h0.visibility).any()
            hidden += int((h0.visibility & ~h1.visibility).sum())
        check_dots(on)
    assert hidden > 10


def test_low_light_darkens_and_motion_blur_smooths_the_image_with_the_labels_unchanged():
    for switches in ({"low_light_prob": 1.0}, {"motion_blur_prob": 1.0}):
        for off, on in _pair(seed=5, n=2, **switches):
            assert np.array_equal(off.mask, on.mask)
            for h0, h1 in zip(off.hands, on.hands, strict=True):
                assert np.array_equal(h0.keypoints2d, h1.keypoints2d)
                assert np.array_equal(h0.visibility, h1.visibility)
            if "low_light_prob" in switches:
                assert 0.15 <= on.meta["low_light"] <= 0.5
                assert on.image.mean() < 0.6 * off.image.mean()
            else:
                assert 3 <= on.meta["motion_blur"] <= 9
                detail = [np.abs(cv2.Laplacian(s.image, cv2.CV_32F)).mean() for s in (off, on)]
                assert detail[1] < 0.8 * detail[0]
