"""FreiHAND loader on a tiny fixture written in the original layout (jsons + 32x32 jpgs)."""

import json

import cv2
import numpy as np
import pytest

from smhr.data.freihand import FreiHAND
from smhr.data.sample import POSE_MANO_MEAN, RIGHT, DatasetLayoutError

N = 3  # records (32560 in the release)


def _write_jpg(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((32, 32, 3), value, np.uint8))


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(0)
    K = [[[50.0 + i, 0.0, 16.0], [0.0, 50.0 + i, 15.0], [0.0, 0.0, 1.0]] for i in range(N)]
    xyz = [(rng.uniform(-0.05, 0.05, (21, 3)) + np.array([0, 0, 0.5])).tolist() for _ in range(N)]
    mano = [[rng.normal(size=61).tolist()] for _ in range(N)]
    for name, data in {"K": K, "xyz": xyz, "mano": mano, "scale": [0.03] * N}.items():
        (tmp_path / f"training_{name}.json").write_text(json.dumps(data))
    for i in range(2 * N):  # two sample versions
        _write_jpg(tmp_path / "training" / "rgb" / f"{i:08d}.jpg", 10 * i)
    (tmp_path / "training" / "mask").mkdir()
    for i in range(N):
        m = np.zeros((32, 32, 3), np.uint8)
        m[8:20, 4:12] = 255
        cv2.imwrite(str(tmp_path / "training" / "mask" / f"{i:08d}.jpg"), m)
    (tmp_path / "evaluation_K.json").write_text(json.dumps(K[:2]))
    for i in range(2):
        _write_jpg(tmp_path / "evaluation" / "rgb" / f"{i:08d}.jpg", 50)
    return tmp_path, np.array(K), np.array(xyz), np.array(mano)


def test_keypoints_are_projected_xyz_and_versions_wrap(root):
    path, K, xyz, mano = root
    ds = FreiHAND(path, "train")
    assert ds.versions == 2 and len(ds) == 2 * N
    s = ds[N + 1]  # version 1 of record 1
    assert s.meta["record"] == 1 and s.meta["version"] == 1
    h = s.hands[0]
    assert h.side == RIGHT and h.visibility.all()
    uvw = xyz[1] @ K[1].T
    np.testing.assert_allclose(h.keypoints2d, uvw[:, :2] / uvw[:, 2:], atol=1e-3)
    np.testing.assert_allclose(h.joints3d, xyz[1], atol=1e-6)
    np.testing.assert_allclose(s.K, K[1])
    assert s.image.shape == (32, 32, 3) and abs(int(s.image[..., 0].mean()) - 10 * (N + 1)) <= 2
    # mano split: 48 pose (3 global + 45), 10 betas, uv_root 2, scale 1
    np.testing.assert_allclose(h.params.global_orient, mano[1, 0, :3], atol=1e-6)
    np.testing.assert_allclose(h.params.pose, mano[1, 0, 3:48], atol=1e-6)
    np.testing.assert_allclose(h.params.betas, mano[1, 0, 48:58], atol=1e-6)
    assert h.params.transl is None and h.params.pose_space == POSE_MANO_MEAN
    assert s.meta["mano_scale"] == pytest.approx(mano[1, 0, 60], abs=1e-5)
    # the mask of record 1 (binary after JPEG): rows 8-19, cols 4-11
    assert s.mask[14, 8] == 1 and s.mask[25, 25] == 0


def test_versions_parameter_and_eval_split(root):
    path, *_ = root
    assert len(FreiHAND(path, "train", versions=1)) == N
    ev = FreiHAND(path, "eval")
    assert len(ev) == 2
    s = ev[1]
    assert len(s.hands) == 1 and not s.hands[0].visibility.any() and s.meta["labelled"] is False


def test_missing_file_names_it(root):
    path, *_ = root
    (path / "training_K.json").unlink()
    with pytest.raises(DatasetLayoutError, match=r"training_K\.json"):
        FreiHAND(path, "train")
