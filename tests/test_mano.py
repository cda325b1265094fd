"""MANO pickles without chumpy: reading, conversion, left shapedirs fix, errors, and posing against
an independent float64 numpy LBS."""

import io
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
from smhr.hands.mano_pickle import StubUnpickler, load_stubbed, plain_value
from smhr.hands.model import HandModel
from smhr.hands.testing import synthetic_mano_arrays, write_synthetic_mano_pickle
from smhr.hands.testing_official import Py2Pickler, write_official_structure_mano_pickle


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


def numpy_mano(arrays, global_orient, pose, betas, transl, tips=None):
    """Independent float64 reference: Rodrigues, per-joint 4x4 chain, LBS, tips, FreiHAND order."""
    tips = arrays[SYNTHETIC_TIPS_KEY] if tips is None else tips

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
    joints = np.concatenate([np.stack([g[:3, 3] for g in G]), out[list(tips)]])
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


# ---------------------------------------------------------------- the official files' structure
@pytest.fixture(scope="module")
def official_dir(tmp_path_factory):
    """MANO_{LEFT,RIGHT}.pkl written with the official v1.2 structure (Python-2 pickle, chumpy
    Select shapedirs, csc J_regressor under scipy's old module path, 778 vertices, no extra keys)."""
    d = tmp_path_factory.mktemp("mano_official")
    arrays = {s: write_official_structure_mano_pickle(d / f"MANO_{s.upper()}.pkl", s)
              for s in ("left", "right")}  # fmt: skip
    return d, arrays


def test_official_structure_fixture_is_what_the_released_files_hold(official_dir):
    import pickletools

    d, _ = official_dir
    raw = (d / "MANO_RIGHT.pkl").read_bytes()
    ops = list(pickletools.genops(raw))
    assert ops[0][0].name == "PROTO" and ops[0][1] == 2
    names = {op.name for op, _, _ in ops}
    assert "BINSTRING" in names and not names & {"BINUNICODE", "SHORT_BINUNICODE"}  # Python-2 str only
    globals_ = {arg for op, arg, _ in ops if op.name == "GLOBAL"}
    assert {"chumpy.ch Ch", "chumpy.reordering Select", "scipy.sparse.csc csc_matrix",
            "numpy.core.multiarray _reconstruct"} <= globals_  # fmt: skip
    with open(d / "MANO_RIGHT.pkl", "rb") as fh:
        stubbed = load_stubbed(fh)
    sel = stubbed["shapedirs"]
    assert sel.origin == "chumpy.reordering.Select"
    assert sel.state["a"].origin == "chumpy.ch.Ch" and sel.state["a"].state["x"].shape == (778, 3, 20)
    assert sel.state["idxs"].dtype == np.int64 and sel.state["idxs"].shape == (23340,)
    assert sel.state["preferred_shape"] == (778, 3, 10)
    assert stubbed["J_regressor"].origin == "scipy.sparse.csc.csc_matrix"
    assert SYNTHETIC_TIPS_KEY not in stubbed
    with open(d / "MANO_RIGHT.pkl", "rb") as fh, pytest.raises(UnicodeDecodeError):
        StubUnpickler(fh).load()  # Python-2 array bytes: only latin1 reads them


def test_official_structure_reads_back_the_arrays(official_dir):
    d, arrays = official_dir
    raw = read_mano_pickle(d / "MANO_RIGHT.pkl")
    for key, want in arrays["right"].items():
        assert isinstance(raw[key], np.ndarray), key
        np.testing.assert_array_equal(raw[key], want, err_msg=key)
    assert raw["bs_style"] == "lbs" and raw["bs_type"] == "lrotmin"


@pytest.mark.parametrize("side", ["right", "left"])
def test_official_structure_model_matches_numpy_lbs(official_dir, side):
    d, arrays = official_dir
    model = HandModel.load("mano", side, d)
    assert model.num_vertices == 778 and model.tip_vertex_ids.tolist() == list(MANO_TIP_VERTEX_IDS[side])
    ref = dict(arrays[side])
    if side == "left":  # the loader's MANO_LEFT shapedirs fix (the fixture carries the released bug)
        ref["shapedirs"] = ref["shapedirs"].copy()
        ref["shapedirs"][:, 0, :] *= -1
    rng = np.random.default_rng(11)
    go, pose = rng.normal(0, 0.8, 3), rng.normal(0, 0.4, 45)
    betas, transl = rng.normal(0, 1, 10), np.array([-0.03, 0.02, 0.5])
    out = model(*(torch.tensor(x, dtype=torch.float32)[None] for x in (go, pose, betas, transl)))
    ref_v, ref_j = numpy_mano(ref, go, pose, betas, transl, tips=MANO_TIP_VERTEX_IDS[side])
    assert np.abs(out.vertices[0].double().numpy() - ref_v).max() < 1e-6
    assert np.abs(out.joints[0].double().numpy() - ref_j).max() < 1e-6
    assert np.abs(ref_v - (arrays[side]["v_template"] + transl)).max() > 0.02  # really posed and shaped


def _stub(module, name, state):
    obj = StubUnpickler(io.BytesIO(b"")).find_class(module, name)()
    obj.__setstate__(state)
    return obj


def test_chumpy_classes_rebuilt_from_their_state_and_clear_errors_otherwise():
    x = np.arange(24.0).reshape(2, 3, 4)
    ch = _stub("chumpy.ch", "Ch", {"x": x, "_dirty_vars": set()})
    reshape = _stub("chumpy.reordering", "Reshape", {"a": ch, "newshape": (6, 4)})
    np.testing.assert_array_equal(plain_value(reshape, "k"), x.reshape(6, 4))
    transpose = _stub("chumpy.reordering", "transpose", {"a": ch, "axes": (2, 0, 1)})
    np.testing.assert_array_equal(plain_value(transpose, "k"), x.transpose(2, 0, 1))
    add = _stub("chumpy.ch_ops", "add", {"a": ch, "b": 1.5})
    np.testing.assert_array_equal(plain_value(add, "k"), x + 1.5)
    times = _stub("chumpy.ch_ops", "multiply", {"a": ch, "b": ch})
    np.testing.assert_array_equal(plain_value(times, "k"), x * x)
    sel = _stub("chumpy.reordering", "Select", {"a": ch, "idxs": np.array([5, 0, 23])})  # no preferred_shape
    np.testing.assert_array_equal(plain_value(sel, "k"), [5.0, 0.0, 23.0])
    with pytest.raises(HandModelError) as e:
        plain_value(_stub("chumpy.ch_ops", "exp", {"x": ch}), "MANO_RIGHT.pkl: 'shapedirs'")
    msg = one_line(e.value)
    assert "MANO_RIGHT.pkl: 'shapedirs'" in msg and "chumpy.ch_ops.exp" in msg and "Select" in msg
    with pytest.raises(HandModelError, match=r"'shapedirs'.*Select object without its 'idxs'"):
        plain_value(_stub("chumpy.reordering", "Select", {"a": ch}), "'shapedirs'")
    with pytest.raises(HandModelError, match=r"does not yield an array \(IndexError"):
        plain_value(_stub("chumpy.reordering", "Select", {"a": ch, "idxs": np.array([99])}), "k")


def test_unsupported_chumpy_class_in_a_file_names_the_file_class_and_key(tmp_path):
    class Exp:  # pickled as chumpy.ch_ops.exp: its value is not its input
        def __init__(self, x):
            self.x = x

    arrays = synthetic_mano_arrays("right")
    payload = dict(arrays, shapedirs=Exp(arrays["shapedirs"]))
    path = tmp_path / "MANO_RIGHT.pkl"
    with open(path, "wb") as fh:
        Py2Pickler(fh, names={Exp: ("chumpy.ch_ops", "exp")}).dump(payload)
    with pytest.raises(HandModelError) as e:
        HandModel.load("mano", "right", path)
    msg = one_line(e.value)
    assert str(path) in msg and "'shapedirs'" in msg and "chumpy.ch_ops.exp" in msg


@pytest.mark.parametrize("fmt", ["csc_matrix", "csr_matrix", "coo_matrix", "csr_array"])
def test_scipy_sparse_under_new_and_old_module_paths(fmt, tmp_path):
    import scipy.sparse

    dense = np.zeros((16, 40))
    dense[np.arange(16), np.arange(16) * 2] = np.linspace(0.1, 1.0, 16)
    dense[3, 39] = 0.25
    matrix = getattr(scipy.sparse, fmt)(dense)
    stubbed = StubUnpickler(io.BytesIO(pickle.dumps(matrix, protocol=2)), encoding="latin1").load()
    assert stubbed.origin.startswith("scipy.sparse._")  # today's path
    np.testing.assert_array_equal(plain_value(stubbed, "k"), dense)
    old = pickle.dumps(matrix, protocol=2).replace(b"scipy.sparse._", b"scipy.sparse.")  # scipy < 1.8
    stubbed = StubUnpickler(io.BytesIO(old), encoding="latin1").load()
    assert "._" not in stubbed.origin
    np.testing.assert_array_equal(plain_value(stubbed, "k"), dense)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps(dict(synthetic_mano_arrays("right"), v_template=Payload()), protocol=2))
    with pytest.raises(HandModelError) as e:
        HandModel.load("mano", "right", path)
    msg = one_line(e.value)
    assert str(path) in msg and "refusing" in msg and "mkdir" in msg and not marker.exists()
