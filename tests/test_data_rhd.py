"""RHD loader on a tiny fixture in the original layout (anno pickle, color/mask pngs)."""

import pickle

import cv2
import numpy as np
import pytest

from smhr.data.rhd import RHD
from smhr.data.sample import LEFT, MASK_UNLABELLED, RIGHT

K = np.array([[60.0, 0.0, 16.0], [0.0, 60.0, 16.0], [0.0, 0.0, 1.0]], np.float32)


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(2)
    base = tmp_path / "RHD_published_v2" / "training"
    for sub in ("color", "mask", "depth"):
        (base / sub).mkdir(parents=True)
    anno = {}
    for sid in range(2):
        xyz = (rng.uniform(-0.05, 0.05, (42, 3)) + np.array([0, 0, 0.6])).astype(np.float32)
        uvw = xyz @ K.T
        vis = np.ones(42)
        if sid == 0:
            vis[21:] = 0  # right hand fully invisible -> not a hand of this sample
            vis[5:8] = 0  # left index tip..PIP occluded
        vis[22] = 0 if sid == 1 else vis[22]  # right thumb tip occluded in sample 1
        anno[sid] = {"xyz": xyz, "uv_vis": np.concatenate([uvw[:, :2] / uvw[:, 2:], vis[:, None]], 1), "K": K}
        cv2.imwrite(str(base / "color" / f"{sid:05d}.png"), np.zeros((32, 32, 3), np.uint8))
        parts = np.zeros((32, 32), np.uint8)
        parts[0:4] = 1  # person
        parts[10:14, 2:6] = 5  # a left finger part
        parts[20:24, 20:26] = 33  # right palm
        cv2.imwrite(str(base / "mask" / f"{sid:05d}.png"), parts)
    with open(base / "anno_training.pickle", "wb") as f:
        pickle.dump(anno, f)
    return tmp_path, anno


def test_left_right_split_visibility_and_order(root):
    path, anno = root
    ds = RHD(path, "train")  # parent of RHD_published_v2 is accepted
    assert len(ds) == 2
    s0 = ds[0]
    assert [h.side for h in s0.hands] == [LEFT]  # first 21 keypoints are the left hand
    left = s0.hands[0]
    raw = anno[0]
    # RHD index 1 = thumb TIP (tip first) -> FreiHAND 4; RHD 4 = thumb MCP -> FreiHAND 1
    np.testing.assert_allclose(left.keypoints2d[4], raw["uv_vis"][1, :2], atol=1e-4)
    np.testing.assert_allclose(left.keypoints2d[1], raw["uv_vis"][4, :2], atol=1e-4)
    np.testing.assert_allclose(left.joints3d[0], raw["xyz"][0], atol=1e-6)
    # RHD 5,6,7 (index tip, DIP, PIP) occluded -> FreiHAND 8, 7, 6 invisible; 5 (MCP) visible
    assert not left.visibility[[6, 7, 8]].any() and left.visibility[[0, 1, 5, 9]].all()
    assert s0.mask[12, 3] == 1  # left-hand part -> instance 1 (= hands[0])
    assert s0.mask[21, 22] == MASK_UNLABELLED  # right hand pixels but right hand not present
    assert s0.mask[1, 1] == 0  # person is not hand

    s1 = ds[1]
    assert [h.side for h in s1.hands] == [LEFT, RIGHT]
    right = s1.hands[1]
    np.testing.assert_allclose(right.keypoints2d[4], anno[1]["uv_vis"][22, :2], atol=1e-4)
    assert not right.visibility[4] and right.visibility[0]  # RHD 22 = right thumb tip, occluded
    tip_first = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]
    np.testing.assert_allclose(right.joints3d, anno[1]["xyz"][21:][tip_first], atol=1e-6)
    assert s1.mask[21, 22] == 2 and s1.hands[1].side == RIGHT


def test_presence_rule(root):
    path, _ = root
    assert len(RHD(path, "train", min_visible=22)[1].hands) == 0
