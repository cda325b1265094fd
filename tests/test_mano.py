"""MANO pickles without chumpy: reading, conversion, left shapedirs fix, errors, and posing against
an independent float64 numpy LBS."""

import os
import pickle
import sys

import numpy as np
import pytest
import torch

from smhr.hands.errors import HandModelError, HandModelNotFoundError
from smhr.hands.keypoints import MANO21_TO_FREIHAND, MANO_PARENTS
from smhr.hands.mano import (
    MANO_TIP_VERTEX_IDS,
    SYNTHETIC_TIPS_KEY,
    load_mano_arrays,
    mano_arrays,
    needs_left_shapedirs_fix,
    read_mano_pickle,
    resolve_mano_path,
)
from smhr.hands.model import HandModel
from smhr.hands.testing import write_synthetic_mano_pickle


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mano")
    arrays = {s: write_synthetic_mano_pickle(d / f"MANO_{s.upper()}.pkl", s) for s in ("left", "right")}
    return d, arrays


def test_pickle_references_chumpy_and_needs_the_stub(mano_dir):
    d, _ = mano_dir
    raw = (d / "MANO_RIGHT.pkl").read_bytes()
    assert b"chumpy.ch" in raw and b"scipy.sparse" in raw
    assert "chumpy" not in sys.modules  # the writer cleaned up after itself
    with open(d / "MANO_RIGHT.pkl", "rb") as fh, pytest.raises(ModuleNotFoundError, match="chumpy"):
        pickle.load(fh, encoding="latin1")


def test_read_returns_the_arrays_written(mano_dir):
    d, arrays = mano_dir
    raw = read_mano_pickle(d / "MANO_RIGHT.pkl")
    for key in ("v_template", "shapedirs", "posedirs", "weights", "J", "J_regressor", "hands_components"):
        assert isinstance(raw[key], np.ndarray), key
        np.testing.assert_array_equal(raw[key], arrays["right"][key])
    assert raw["f"].dtype == np.uint32 and raw["bs_style"] == "lbs"


def test_converted_arrays(mano_dir):
    d, arrays = mano_dir
    a = load_mano_arrays("right", d)
    V = len(arrays["right"]["v_template"])
    assert a["posedirs"].shape == (135, V * 3) and a["J_regressor"].shape == (16, V)
    assert a["parents"].tolist() == list(MANO_PARENTS)
    assert a["tip_vertex_ids"].tolist() == arrays["right"][SYNTHETIC_TIPS_KEY].tolist()
    # part labels: 60 palm vertices (rigid to the wrist), the rest split evenly over the 5 fingers
    assert np.bincount(a["part_labels"]).tolist() == [60, 43, 43, 43, 43, 43]
    # posedirs [V,3,135] in the file -> [135, V*3]: row k, column 3v+c
    np.testing.assert_allclose(a["posedirs"][17, 3 * 5 + 2], arrays["right"]["posedirs"][5, 2, 17], rtol=1e-6)


def test_left_shapedirs_fix(mano_dir, tmp_path):
    d, arrays = mano_dir
    right_x = arrays["right"]["shapedirs"][:, 0, :]
    written = arrays["left"]["shapedirs"][:, 0, :]
    np.testing.assert_array_equal(written, right_x)  # the emulated MANO_LEFT bug
    beside = load_mano_arrays("left", d)  # decided with MANO_RIGHT.pkl beside it
    alone_path = tmp_path / "MANO_LEFT.pkl"
    alone_path.write_bytes((d / "MANO_LEFT.pkl").read_bytes())
    alone = load_mano_arrays("left", alone_path)  # no right file: assume the released bug
    for a in (beside, alone):
        np.testing.assert_allclose(a["shapedirs"][:, 0, :], -right_x, rtol=1e-6)
        np.testing.assert_allclose(
            a["shapedirs"][:, 1:, :], arrays["right"]["shapedirs"][:, 1:, :], rtol=1e-6
        )
    # an already-fixed left file next to its right file is left alone
    fixed = arrays["left"]["shapedirs"].copy()
    fixed[:, 0, :] *= -1
    assert not needs_left_shapedirs_fix(fixed, arrays["right"]["shapedirs"])
    assert needs_left_shapedirs_fix(arrays["left"]["shapedirs"], arrays["right"]["shapedirs"])
    raw = dict(read_mano_pickle(d / "MANO_LEFT.pkl"), shapedirs=fixed)
    out = mano_arrays(raw, "left", right_shapedirs=arrays["right"]["shapedirs"])
    np.testing.assert_allclose(out["shapedirs"], fixed, rtol=1e-6)


def numpy_mano(arrays, global_orient, pose, betas, transl):
    """Independent float64 reference: Rodrigues, per-joint 4x4 chain, LBS, tips, FreiHAND order."""

    def rodrigues(r):
        t = np.linalg.norm(r)
        if t < 1e-12:
            return np.eye(3)
        k = r / t
        K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K

    v = arrays["v_template"] + arrays["shapedirs"] @ betas
    J = arrays["J_regressor"] @ v
    rots = [rodrigues(r) for r in np.concatenate([global_orient, pose]).reshape(16, 3)]
    feat = np.concatenate([(R - np.eye(3)).ravel() for R in rots[1:]])
    v = v + arrays["posedirs"] @ feat  # [V,3,135] @ [135]
    G = []
    for j, p in enumerate(MANO_PARENTS):
        L = np.eye(4)
        L[:3, :3] = rots[j]
        L[:3, 3] = J[j] - (J[p] if p >= 0 else 0)
        G.append(L if p < 0 else G[p] @ L)
    out = np.zeros_like(v)
    for i in range(len(v)):
        T = sum(arrays["weights"][i, j] * G[j] @ np.append(v[i] - J[j], 1.0) for j in range(16))
        out[i] = T[:3]
    joints = np.concatenate([np.stack([g[:3, 3] for g in G]), out[arrays[SYNTHETIC_TIPS_KEY]]])
    return out + transl, joints[MANO21_TO_FREIHAND] + transl


def test_posed_mano_equals_numpy_reference(mano_dir):
    d, arrays = mano_dir
    model = HandModel.load("mano", "right", d)
    rng = np.random.default_rng(5)
    go, pose = rng.normal(0, 0.8, 3), rng.normal(0, 0.4, 45)
    betas, transl = rng.normal(0, 1, 10), np.array([0.05, -0.02, 0.6])
    out = model(*(torch.tensor(x, dtype=torch.float32)[None] for x in (go, pose, betas, transl)))
    ref_v, ref_j = numpy_mano(arrays["right"], go, pose, betas, transl)
    assert np.abs(out.vertices[0].double().numpy() - ref_v).max() < 1e-6
    assert np.abs(out.joints[0].double().numpy() - ref_j).max() < 1e-6
    assert np.abs(ref_v - (arrays["right"]["v_template"] + transl)).max() > 0.02  # really posed


def test_official_tip_ids_for_778_vertices(tmp_path):
    arrays = write_synthetic_mano_pickle(tmp_path / "MANO_RIGHT.pkl", "right", num_vertices=778)
    raw = read_mano_pickle(tmp_path / "MANO_RIGHT.pkl")
    assert raw["v_template"].shape == (778, 3)
    assert mano_arrays(raw, "right")["tip_vertex_ids"].tolist() == arrays[SYNTHETIC_TIPS_KEY].tolist()
    del raw[SYNTHETIC_TIPS_KEY]
    assert mano_arrays(raw, "right")["tip_vertex_ids"].tolist() == list(MANO_TIP_VERTEX_IDS["right"])
    assert mano_arrays(raw, "left")["tip_vertex_ids"].tolist() == [745, 317, 445, 556, 673]
    write_synthetic_mano_pickle(tmp_path / "small.pkl", "right")
    raw = read_mano_pickle(tmp_path / "small.pkl")
    del raw[SYNTHETIC_TIPS_KEY]
    with pytest.raises(HandModelError, match=r"has 275 vertices .* fingertip vertices are unknown"):
        mano_arrays(raw, "right")
    raw = read_mano_pickle(tmp_path / "small.pkl")
    raw["shapedirs"] = raw["shapedirs"][:100]
    with pytest.raises(HandModelError, match=r"shapedirs has shape \(100, 3, 10\), expected \[275, 3, S\]"):
        mano_arrays(raw, "right")


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg
    return msg


def test_missing_model_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("SMHR_MANO_DIR", raising=False)
    with pytest.raises(HandModelNotFoundError) as e:
        resolve_mano_path("right")
    msg = one_line(e.value)
    assert "https://mano.is.tue.mpg.de" in msg and "SMHR_MANO_DIR" in msg and "--mano-dir" in msg
    with pytest.raises(FileNotFoundError) as e:  # also a FileNotFoundError
        HandModel.load("mano", "left", tmp_path)
    msg = one_line(e.value)
    assert str(tmp_path / "MANO_LEFT.pkl") in msg and "mano.is.tue.mpg.de" in msg
    monkeypatch.setenv("SMHR_MANO_DIR", os.fspath(tmp_path))
    with pytest.raises(HandModelNotFoundError, match=r"MANO_RIGHT\.pkl not found"):
        HandModel.load("mano", "right")


def test_env_var_points_at_the_folder(mano_dir, monkeypatch):
    d, arrays = mano_dir
    monkeypatch.setenv("SMHR_MANO_DIR", os.fspath(d))
    m = HandModel.load("mano", "left")
    assert m.side == "left" and m.kind == "mano" and m.num_vertices == len(arrays["left"]["v_template"])


def test_corrupt_model_errors(tmp_path):
    bad = tmp_path / "MANO_RIGHT.pkl"
    bad.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(HandModelError) as e:
        HandModel.load("mano", "right", bad)
    msg = one_line(e.value)
    assert str(bad) in msg and "not a readable MANO pickle" in msg and "mano.is.tue.mpg.de" in msg
    with open(bad, "wb") as fh:
        pickle.dump({"v_template": np.zeros((3, 3))}, fh)
    with pytest.raises(HandModelError, match=r"missing \['shapedirs'") as e:
        HandModel.load("mano", "right", bad)
    one_line(e.value)
    with pytest.raises(HandModelError, match="side must be"):
        HandModel.load("mano", "both", tmp_path)
