"""Read the official MANO pickles (MANO_RIGHT.pkl / MANO_LEFT.pkl) without chumpy.

The official files are Python-2 pickles whose arrays are partly chumpy objects (chumpy does not
install on Python >= 3.11: `Ch` arrays, and a `Select` of a `Ch` for shapedirs) and whose joint
regressor is a scipy sparse matrix pickled under scipy's old module path. `smhr.hands.mano_pickle`
reads them without either package and rebuilds every value as a numpy array.

`mano_arrays` converts the pickle's dict to the asset arrays of docs/hand-asset-format.md, so the
rest of the package never sees the MANO format. MANO files are licence-restricted: users download
them from https://mano.is.tue.mpg.de and point `SMHR_MANO_DIR` (or `--mano-dir`) at them; we never
ship or download them.

MANO_LEFT shapedirs: in the released MANO_LEFT.pkl (v1.2) the x components of the shape basis were
not mirrored from the right hand (`left.shapedirs[:, 0, :] == right.shapedirs[:, 0, :]`), so
positive betas grow the left hand towards the wrong side. The field's fix (smplx issue #48,
InterHand2.6M / Hand4Whole / IntagHand code) negates `shapedirs[:, 0, :]` when the left and right
x components agree. We apply exactly that test when MANO_RIGHT.pkl sits beside the left file, and
otherwise negate unconditionally (every released MANO_LEFT.pkl has the bug).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from smhr.hands.errors import HandModelError, HandModelNotFoundError
from smhr.hands.keypoints import MANO_FINGER_OF_JOINT, MANO_PARENTS, SIDE_NAMES
from smhr.hands.mano_pickle import load_stubbed, plain_value

MANO_URL = "https://mano.is.tue.mpg.de"
MANO_DIR_ENV = "SMHR_MANO_DIR"
MANO_NUM_VERTICES = 778
MANO_TIP_VERTEX_IDS = {"right": (745, 317, 444, 556, 673), "left": (745, 317, 445, 556, 673)}
"""Official fingertip vertices (thumb, index, middle, ring, little) of the 778-vertex MANO mesh."""
SYNTHETIC_TIPS_KEY = "smhr_tip_vertex_ids"
"""Pickle key that only non-official MANO-format files (e.g. `smhr.hands.testing`) carry."""
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SIDES = SIDE_NAMES  # ("left", "right"), indexed by side id


def mano_file_name(side: str) -> str:
    """ "MANO_RIGHT.pkl" / "MANO_LEFT.pkl"."""
    return f"MANO_{side.upper()}.pkl"


def _how_to_get(side: str) -> str:
    return (
        f"MANO is not bundled (licence): register at {MANO_URL}, download {mano_file_name(side)} and put "
        f"it in a folder given by {MANO_DIR_ENV} or --mano-dir (or pass the file path)"
    )


def resolve_mano_path(side: str, path: str | os.PathLike | None = None) -> Path:
    """The MANO pickle for `side`: `path` (a file, or a folder holding MANO_{SIDE}.pkl), else the
    folder in $SMHR_MANO_DIR. Raises HandModelNotFoundError (one line, with the fix) if absent."""
    if side not in SIDES:
        raise HandModelError(f"side must be 'left' or 'right', got {side!r}")
    where = path if path is not None else os.environ.get(MANO_DIR_ENV)
    if where is None or str(where) == "":
        raise HandModelNotFoundError(f"no MANO model given: {_how_to_get(side)}")
    p = Path(where).expanduser()
    if p.is_dir():
        p = p / mano_file_name(side)
    if not p.is_file():
        raise HandModelNotFoundError(f"MANO model file {p} not found: {_how_to_get(side)}")
    return p


def read_mano_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """Unpickle a MANO-format file into a dict of numpy arrays (and the odd string). Raises
    HandModelError (one line) if the file is not a readable MANO pickle."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            raw = load_stubbed(fh)
    except HandModelError:
        raise
    except Exception as exc:  # truncated file, HTML error page, wrong format, ...
        why = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise HandModelError(
            f"{p} is not a readable MANO pickle ({why}); re-download it from {MANO_URL}"
        ) from exc
    if not isinstance(raw, dict):
        raise HandModelError(
            f"{p} is not a MANO model pickle (got a {type(raw).__name__}); use the files from {MANO_URL}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise HandModelError(
            f"{p} is not a MANO model pickle (missing {missing}); use the files from {MANO_URL}"
        )
    return {k: plain_value(v, f"{p}: {k!r}") for k, v in raw.items()}


def part_labels_from_weights(weights: np.ndarray) -> np.ndarray:
    """[V] part code (0 palm, 1 thumb .. 5 little) of the joint with the largest skinning weight."""
    return np.asarray(MANO_FINGER_OF_JOINT, dtype=np.int64)[np.argmax(weights, axis=1)]


def needs_left_shapedirs_fix(left_shapedirs: np.ndarray, right_shapedirs: np.ndarray | None) -> bool:
    """The field's test: the left x shape components equal the right ones (sum |diff| < 1), i.e.
    they were not mirrored. Without the right model we assume the released (buggy) file."""
    if right_shapedirs is None:
        return True
    if right_shapedirs.shape != left_shapedirs.shape:
        return True
    return float(np.abs(left_shapedirs[:, 0, :] - right_shapedirs[:, 0, :]).sum()) < 1.0


def mano_arrays(
    raw: dict[str, Any], side: str, *, right_shapedirs: np.ndarray | None = None, source: str = "MANO pickle"
) -> dict[str, Any]:
    """MANO pickle dict -> asset arrays (docs/hand-asset-format.md) plus `hands_components` [45,45]
    (the PCA pose basis, rows = components). For the left side the shapedirs fix is applied (see
    the module docstring); pass the right model's shapedirs to decide it the field's way."""
    v = np.asarray(raw["v_template"], dtype=np.float64)
    V = v.shape[0]
    if v.shape != (V, 3):
        raise HandModelError(f"{source}: v_template has shape {v.shape}, expected [V, 3]")
    shapedirs = np.array(raw["shapedirs"], dtype=np.float64)
    posedirs = np.asarray(raw["posedirs"], dtype=np.float64)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3):
        raise HandModelError(f"{source}: shapedirs has shape {shapedirs.shape}, expected [{V}, 3, S]")
    if posedirs.ndim != 3 or posedirs.shape[:2] != (V, 3):
        raise HandModelError(f"{source}: posedirs has shape {posedirs.shape}, expected [{V}, 3, 135]")
    posedirs = posedirs.reshape(V * 3, -1).T  # [V,3,P] -> [P, V*3], the layout lbs() multiplies
    J_regressor = np.asarray(raw["J_regressor"], dtype=np.float64)
    weights = np.asarray(raw["weights"], dtype=np.float64)
    kintree = np.asarray(raw["kintree_table"]).astype(np.int64)
    faces = np.asarray(raw["f"]).astype(np.int64)
    parents = kintree[0].copy()
    parents[0] = -1  # stored as uint32 max in the official files
    if tuple(parents.tolist()) != MANO_PARENTS:
        raise HandModelError(
            f"{source}: kinematic tree {parents.tolist()} is not MANO's {list(MANO_PARENTS)}"
        )
    J = len(parents)
    expect = {"J_regressor": (J, V), "weights": (V, J), "posedirs": (9 * (J - 1), V * 3)}
    for key, shape in expect.items():
        got = {"J_regressor": J_regressor, "weights": weights, "posedirs": posedirs}[key].shape
        if got != shape:
            raise HandModelError(f"{source}: {key} has shape {got}, expected {shape}")
    if side == "left" and needs_left_shapedirs_fix(shapedirs, right_shapedirs):
        shapedirs[:, 0, :] *= -1
    if SYNTHETIC_TIPS_KEY in raw:
        tips = np.asarray(raw[SYNTHETIC_TIPS_KEY], dtype=np.int64)
    elif V == MANO_NUM_VERTICES:
        tips = np.asarray(MANO_TIP_VERTEX_IDS[side], dtype=np.int64)
    else:
        raise HandModelError(
            f"{source} has {V} vertices (official MANO: {MANO_NUM_VERTICES}) and no {SYNTHETIC_TIPS_KEY!r} "
            "key: the fingertip vertices are unknown"
        )
    n_comp = 45
    components = np.asarray(raw.get("hands_components", np.eye(n_comp)), dtype=np.float64)
    hands_mean = np.asarray(raw.get("hands_mean", np.zeros(n_comp)), dtype=np.float64).reshape(-1)
    return {
        "v_template": v.astype(np.float32),
        "faces": faces.astype(np.int32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": posedirs.astype(np.float32),
        "J_regressor": J_regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "parents": parents,
        "tip_vertex_ids": tips,
        "part_labels": part_labels_from_weights(weights),
        "hands_mean": hands_mean.astype(np.float32),
        "hands_components": components.astype(np.float32),
        "side": np.array(side),
        "name": np.array("mano"),
    }


def load_mano_arrays(side: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Find, read and convert the MANO model of `side` (see `resolve_mano_path`). For the left
    hand, MANO_RIGHT.pkl beside it (if any) decides the shapedirs fix."""
    p = resolve_mano_path(side, path)
    raw = read_mano_pickle(p)
    right_shapedirs = None
    if side == "left":
        right = p.with_name(mano_file_name("right"))
        if right != p and right.is_file():
            try:
                rs = read_mano_pickle(right)["shapedirs"]
                right_shapedirs = np.asarray(rs, dtype=np.float64).reshape(len(rs), 3, -1)
            except HandModelError:
                right_shapedirs = None  # a broken right file must not block the left model
    return mano_arrays(raw, side, right_shapedirs=right_shapedirs, source=str(p))
