"""InterHand2.6M loader on a tiny fixture in the original v1.0 layout (jsons + jpgs)."""

import json

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from smhr.data.interhand import InterHand26M
from smhr.data.sample import LEFT, RIGHT

CAMPOS = np.array([100.0, -50.0, 2000.0])  # mm
CAMROT = Rotation.from_euler("xyz", [10, 30, -5], degrees=True).as_matrix()
FOCAL, PRINC = [1200.0, 1190.0], [16.0, 15.0]


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(3)
    cam_xyz = rng.uniform(-0.004, 0.004, (42, 3)) + np.array([0.0, 0.0, 1.0])  # metres, camera frame
    world = (cam_xyz * 1000.0) @ CAMROT + CAMPOS  # inverse of X_cam = R (X_world - campos)
    ann_dir = tmp_path / "annotations" / "train"
    ann_dir.mkdir(parents=True)
    files = ["Capture0/seq_a/cam400002/image0010.jpg", "Capture0/seq_b/cam400002/image0011.jpg"]
    images = [
        {"id": i, "file_name": f, "width": 32, "height": 32, "capture": 0, "camera": "400002",
         "frame_idx": 10 + i, "seq_name": "seq"} for i, f in enumerate(files)
    ]
    valid = np.ones((42, 1))
    valid[21 + 20] = 0  # left wrist invalid in both frames
    anns = [
        {"id": 0, "image_id": 0, "bbox": [0, 0, 10, 10], "joint_valid": valid.tolist(),
         "hand_type": "right", "hand_type_valid": 1},
        {"id": 1, "image_id": 1, "bbox": [0, 0, 10, 10], "joint_valid": valid.tolist(),
         "hand_type": "interacting", "hand_type_valid": 1},
    ]
    data = {"images": images, "annotations": anns}
    (ann_dir / "InterHand2.6M_train_data.json").write_text(json.dumps(data))
    cams = {"0": {"campos": {"400002": CAMPOS.tolist()}, "camrot": {"400002": CAMROT.tolist()},
                  "focal": {"400002": FOCAL}, "princpt": {"400002": PRINC}}}
    (ann_dir / "InterHand2.6M_train_camera.json").write_text(json.dumps(cams))
    joints = {"0": {str(10 + i): {"world_coord": world.tolist(), "joint_valid": valid.tolist(),
                                  "hand_type": "right", "hand_type_valid": True} for i in range(2)}}
    (ann_dir / "InterHand2.6M_train_joint_3d.json").write_text(json.dumps(joints))
    for f in files:
        p = tmp_path / "images" / "train" / f
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), np.zeros((32, 32, 3), np.uint8))
    return tmp_path, cam_xyz


def test_world_to_camera_lands_at_projected_pixel(root):
    path, cam_xyz = root
    ds = InterHand26M(path, "train")
    assert len(ds) == 2
    s = ds[0]
    assert [h.side for h in s.hands] == [RIGHT]
    h = s.hands[0]
    # IH right wrist is joint 20 -> FreiHAND 0; IH 0 (thumb tip) -> FreiHAND 4
    np.testing.assert_allclose(h.joints3d[0], cam_xyz[20], atol=1e-5)
    np.testing.assert_allclose(h.joints3d[4], cam_xyz[0], atol=1e-5)
    np.testing.assert_allclose(h.joints3d[1], cam_xyz[3], atol=1e-5)  # thumb1 = MCP
    X, Y, Z = cam_xyz[20]
    expected = [FOCAL[0] * X / Z + PRINC[0], FOCAL[1] * Y / Z + PRINC[1]]
    np.testing.assert_allclose(h.keypoints2d[0], expected, atol=1e-3)
    np.testing.assert_allclose(s.K, [[1200, 0, 16], [0, 1190, 15], [0, 0, 1]])


def test_interacting_gives_two_hands_with_handedness(root):
    path, cam_xyz = root
    s = InterHand26M(path, "train")[1]
    assert [h.side for h in s.hands] == [RIGHT, LEFT]
    left = s.hands[1]
    # left hand = joints 21-41; its wrist (41) is invalid -> not visible, no 3D
    assert not left.visibility[0] and left.visibility[1:].all() and left.joints3d is None
    X, Y, Z = cam_xyz[21]  # left thumb tip -> FreiHAND 4
    expected = [FOCAL[0] * X / Z + PRINC[0], FOCAL[1] * Y / Z + PRINC[1]]
    np.testing.assert_allclose(left.keypoints2d[4], expected, atol=1e-3)
    assert s.meta["hand_type"] == "interacting"


def test_mmpose_fixture_layout_reads_the_same_hands(root, tmp_path):
    """mmpose's flat fixture layout (test_interhand2.6m_*.json beside the images) gives the same
    cameras and 3D joints as the original layout."""
    from smhr.data.interhand import InterHandFixture

    base, _ = root
    flat = tmp_path / "flat"
    flat.mkdir()
    for kind in ("data", "camera", "joint_3d"):
        text = (base / "annotations" / "train" / f"InterHand2.6M_train_{kind}.json").read_text()
        if kind == "data":
            d = json.loads(text)
            for im in d["images"]:
                im["file_name"] = im["file_name"].split("/")[-1]
            text = json.dumps(d)
        (flat / f"test_interhand2.6m_{kind}.json").write_text(text)
    for f in (base / "images" / "train").rglob("*.jpg"):
        (flat / f.name).write_bytes(f.read_bytes())
    ref, fix = InterHand26M(base, "train", load_mano=False), InterHandFixture(flat)
    assert len(fix) == len(ref) == 2
    for i in range(2):
        a, b = ref[i], fix[i]
        np.testing.assert_allclose(b.K, a.K)
        assert [h.side for h in b.hands] == [h.side for h in a.hands]
        for ha, hb in zip(a.hands, b.hands, strict=True):
            np.testing.assert_allclose(hb.keypoints2d, ha.keypoints2d)
            assert (ha.joints3d is None) == (hb.joints3d is None)
        assert b.image.shape == (32, 32, 3)
