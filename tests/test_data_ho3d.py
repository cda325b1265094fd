"""HO-3D loader on a tiny fixture in the original layout (txt lists, meta pickles, png/jpg)."""

import pickle

import cv2
import numpy as np
import pytest

from smhr.data.ho3d import HO3D, HO3D_TO_FREIHAND
from smhr.data.sample import RIGHT

K = np.array([[100.0, 0.0, 16.0], [0.0, 100.0, 16.0], [0.0, 0.0, 1.0]])


def _write(root, split, seq, fid, anno, ext):
    for sub in ("rgb", "meta"):
        (root / split / seq / sub).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / split / seq / "rgb" / f"{fid}{ext}"), np.zeros((32, 32, 3), np.uint8))
    with open(root / split / seq / "meta" / f"{fid}.pkl", "wb") as f:
        pickle.dump(anno, f, protocol=2)


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(1)
    ho_cv = rng.uniform(-0.05, 0.05, (21, 3)) + np.array([0.0, 0.0, 0.5])  # HO3D joint order, OpenCV frame
    ho_cv[0] = [0.1, 0.05, 0.5]  # wrist, for the hand-computed pixel below
    gl = ho_cv * [1.0, -1.0, -1.0]  # what the dataset stores (OpenGL: hand along -z)
    anno = {
        "handJoints3D": gl,
        "handPose": rng.normal(size=48) * 0.1,
        "handBeta": np.zeros(10),
        "handTrans": np.array([0.0, 0.0, -0.5]),
        "camMat": K,
    }
    _write(tmp_path, "train", "SEQ1", "0000", anno, ".png")  # v2 images are png
    _write(tmp_path, "train", "SEQ1", "0001", {"handJoints3D": None, "camMat": K}, ".jpg")  # v3: jpg
    (tmp_path / "train.txt").write_text("SEQ1/0000\nSEQ1/0001\n")
    ev = {"handJoints3D": np.array([0.0, 0.0, -0.4]), "handBoundingBox": [4, 5, 20, 25], "camMat": K}
    _write(tmp_path, "evaluation", "EV1", "0003", ev, ".jpg")
    (tmp_path / "evaluation.txt").write_text("EV1/0003\n")
    return tmp_path, ho_cv


def test_axis_flip_and_projection(root):
    path, _ = root
    s = HO3D(path, "train")[0]
    h = s.hands[0]
    assert h.side == RIGHT and len(s.hands) == 1
    assert (h.joints3d[:, 2] > 0).all()  # camera-frame z positive after the OpenGL -> OpenCV flip
    # wrist (0.1, 0.05, 0.5) m with f=100, c=16: u = 100*0.2+16 = 36, v = 100*0.1+16 = 26
    np.testing.assert_allclose(h.keypoints2d[0], [36.0, 26.0], atol=1e-3)
    uvw = h.joints3d @ K.T
    np.testing.assert_allclose(h.keypoints2d, uvw[:, :2] / uvw[:, 2:], atol=1e-3)


def test_order_conversion_maps_tips(root):
    path, ho_cv = root
    j = HO3D(path, "train")[0].hands[0].joints3d
    # HO3D tips 16..20 = thumb, index, middle, ring, little -> FreiHAND 4, 8, 12, 16, 20
    for ho_idx, fh_idx in zip([16, 17, 18, 19, 20], [4, 8, 12, 16, 20], strict=True):
        np.testing.assert_allclose(j[fh_idx], ho_cv[ho_idx], atol=1e-6)
    # HO3D 13-15 thumb MCP..DIP -> FreiHAND 1-3; HO3D 7-9 little -> FreiHAND 17-19
    np.testing.assert_allclose(j[1:4], ho_cv[13:16], atol=1e-6)
    np.testing.assert_allclose(j[17:20], ho_cv[7:10], atol=1e-6)
    assert sorted(HO3D_TO_FREIHAND.tolist()) == list(range(21))


def test_global_orient_rotated_into_opencv(root):
    from scipy.spatial.transform import Rotation

    path, _ = root
    s = HO3D(path, "train")[0]
    with open(path / "train" / "SEQ1" / "meta" / "0000.pkl", "rb") as f:
        raw = pickle.load(f)
    R_gl = Rotation.from_rotvec(raw["handPose"][:3]).as_matrix()
    R_cv = Rotation.from_rotvec(s.hands[0].params.global_orient).as_matrix()
    np.testing.assert_allclose(R_cv, np.diag([1, -1, -1]) @ R_gl, atol=1e-5)


def test_unannotated_frame_and_evaluation_split(root):
    path, _ = root
    s = HO3D(path, "train")[1]
    assert s.hands == [] and s.meta["labelled"] is False and s.image.shape == (32, 32, 3)
    e = HO3D(path, "evaluation")[0]
    assert e.hands[0].bbox.tolist() == [4, 5, 20, 25] and not e.hands[0].visibility.any()
    np.testing.assert_allclose(e.meta["root3d"], [0.0, 0.0, 0.4], atol=1e-6)


def test_codalab_writer_uses_ho3d_order_opengl_axes_and_falls_back_to_the_root(root, tmp_path):
    import json
    from types import SimpleNamespace

    from smhr.eval.ho3d import write_codalab

    path, _ = root
    joints = np.arange(63, dtype=np.float32).reshape(21, 3) / 100  # FreiHAND order, OpenCV
    hand = SimpleNamespace(side=1, score=0.9, keypoints2d=np.full((21, 2), 12.0), joints3d=joints,
                           vertices=np.ones((5, 3), np.float32))  # fmt: skip
    models = [SimpleNamespace(num_vertices=5)] * 2
    rec = SimpleNamespace(predict=lambda image, K=None: [hand], hand_models=models)
    out = tmp_path / "pred.json"
    info = write_codalab(rec, path, out)
    xyz, verts = json.loads(out.read_text())
    assert info == {"frames": 1, "no_detection": 0, "vertices_per_mesh": 5, "mano_topology": False}
    xyz = np.asarray(xyz[0])
    assert xyz.shape == (21, 3) and np.asarray(verts[0]).shape == (5, 3)
    np.testing.assert_allclose(
        xyz[HO3D_TO_FREIHAND], joints * [1, -1, -1], atol=1e-6
    )  # back to HO3D + OpenGL
    rec.predict = lambda image, K=None: []
    write_codalab(rec, path, out)
    xyz, _ = json.loads(out.read_text())
    np.testing.assert_allclose(np.asarray(xyz[0]), np.tile([0.0, 0.0, -0.4], (21, 1)), atol=1e-6)
