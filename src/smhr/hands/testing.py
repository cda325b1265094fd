"""Synthetic MANO-format pickles, so tests and benchmarks exercise the MANO path without MANO.

`write_synthetic_mano_pickle` writes a procedural hand (palm box + three tube segments per finger
and thumb, ~18 cm wrist to middle tip, real-MANO joint order and kinematic tree) with every key of
the official files. Like the official files it is a protocol-2 pickle in which the arrays are
chumpy `Ch` objects (class reference `chumpy.ch.Ch`, state dict with the value under "x") and
J_regressor is a scipy `csc_matrix`, so reading it really goes through the chumpy-free unpickler.
The left file is the exact mirror of the right one (x negated, winding flipped, axis-angle
components mirrored) except that, like the released MANO_LEFT.pkl, the x components of its shape
basis are left un-mirrored: the loader's shapedirs fix must undo that.

Synthetic-only details: the pose correctives of a joint touch only vertices skinned to that joint
(real MANO's spread over the hand), and the file carries `smhr_tip_vertex_ids` because its
fingertip vertices are not the official ones.
"""

from __future__ import annotations

import itertools
import os
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from smhr.hands.keypoints import MANO_PARENTS
from smhr.hands.mano import SYNTHETIC_TIPS_KEY

# MANO-native finger order of the joints 1..15 (index, middle, little, ring, thumb) with, per finger:
# base joint position (m), pointing direction, 3 segment lengths (m), tube radius at the base (m).
_FINGERS = (
    ("index", (0.0, 0.0, 0.025), (-1.0, 0.0, 0.05), (0.037, 0.022, 0.016), 0.0095),
    ("middle", (0.0, 0.0, 0.005), (-1.0, 0.0, 0.0), (0.042, 0.026, 0.017), 0.0098),
    ("little", (0.004, 0.0, -0.034), (-1.0, 0.0, -0.08), (0.031, 0.018, 0.013), 0.0080),
    ("ring", (0.0, 0.0, -0.015), (-1.0, 0.0, -0.04), (0.040, 0.024, 0.016), 0.0090),
    ("thumb", (0.065, -0.012, 0.032), (-0.8, -0.15, 0.6), (0.040, 0.032, 0.028), 0.0110),
)
_TIP_ORDER = ("thumb", "index", "middle", "ring", "little")  # order of the tip ids (asset format)
_PALM_X, _PALM_Y, _PALM_Z = (0.0, 0.09), (-0.015, 0.015), (-0.043, 0.036)
_WRIST_X = _PALM_X[1]
MIRROR = np.array([-1.0, 1.0, 1.0])
"""x mirror that maps a right hand to a left hand (model frame)."""


class _FakeCh:
    """Pickles exactly like a plain chumpy `Ch` holding an array (see `_chumpy_importable`)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float64)

    def __getstate__(self) -> dict[str, Any]:
        return {"x": self.x, "_dirty_vars": set(), "_itr": None, "_depends_on_deps": {},
                "_make_dense": False, "_make_sparse": False}  # fmt: skip


@contextmanager
def _chumpy_importable():
    """Let pickle reference `_FakeCh` as `chumpy.ch.Ch` for the duration of a dump (pickle checks
    that the named global resolves to the object); sys.modules is restored afterwards."""
    names = ("chumpy", "chumpy.ch")
    saved = {n: sys.modules.get(n) for n in names}
    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    mod.Ch = _FakeCh
    pkg.ch = mod
    old = (_FakeCh.__module__, _FakeCh.__qualname__, _FakeCh.__name__)
    _FakeCh.__module__, _FakeCh.__qualname__, _FakeCh.__name__ = "chumpy.ch", "Ch", "Ch"
    sys.modules.update({"chumpy": pkg, "chumpy.ch": mod})
    try:
        yield
    finally:
        _FakeCh.__module__, _FakeCh.__qualname__, _FakeCh.__name__ = old
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def _frame(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to the unit direction d (ring axes for a tube)."""
    u = np.array([0.0, 1.0, 0.0]) - d * d[1]
    u /= np.linalg.norm(u)
    return u, np.cross(d, u)


def _right_hand(ring: int, per_segment: int, palm_grid: tuple[int, int]) -> dict[str, np.ndarray]:
    """Procedural right hand in the MANO frame (fingers along -x, thumb towards +z)."""
    verts: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    faces: list[tuple[int, int, int]] = []
    J = len(MANO_PARENTS)
    joint_rings: dict[int, list[int]] = {}
    tips: dict[str, int] = {}

    def add(p: np.ndarray, w: dict[int, float]) -> int:
        row = np.zeros(J)
        for j, val in w.items():
            row[j] = val
        verts.append(np.asarray(p, dtype=np.float64))
        weights.append(row)
        return len(verts) - 1

    # palm: top (y+) and bottom (y-) grids, rigid to the wrist
    nx, nz = palm_grid
    xs, zs = np.linspace(*_PALM_X, nx), np.linspace(*_PALM_Z, nz)
    for y, flip in ((_PALM_Y[1], False), (_PALM_Y[0], True)):
        ids = np.array([[add(np.array([x, y, z]), {0: 1.0}) for z in zs] for x in xs])
        for a in range(nx - 1):
            for b in range(nz - 1):
                q = (ids[a, b], ids[a + 1, b], ids[a + 1, b + 1], ids[a, b + 1])
                tri = [(q[0], q[1], q[2]), (q[0], q[2], q[3])]
                faces += [(t[0], t[2], t[1]) for t in tri] if not flip else tri
    wrist_edge = [i for i, v in enumerate(verts) if abs(v[0] - _WRIST_X) < 1e-12]
    joint_rings[0] = wrist_edge

    for f, (name, base, direction, lengths, radius) in enumerate(_FINGERS):
        joints = [1 + 3 * f + k for k in range(3)]
        d = np.asarray(direction) / np.linalg.norm(direction)
        u, w = _frame(d)
        start = np.asarray(base, dtype=np.float64)
        rings: list[list[int]] = []
        s0 = 0.0
        for k, length in enumerate(lengths):
            parent = MANO_PARENTS[joints[k]]
            for step in range(per_segment):
                t = step / per_segment
                s = s0 + t * length
                r = radius * (1.0 - 0.25 * s / sum(lengths))
                wts = {parent: 0.4, joints[k]: 0.6} if step == 0 else {joints[k]: 1.0}
                c = start + s * d
                ang = 2 * np.pi * np.arange(ring) / ring
                ids = [add(c + r * (np.cos(a) * u + np.sin(a) * w), wts) for a in ang]
                rings.append(ids)
                if step == 0:
                    joint_rings[joints[k]] = ids
            s0 += length
        c = start + (s0 - 0.6 * radius) * d  # last ring just short of the tip
        ang = 2 * np.pi * np.arange(ring) / ring
        rings.append([add(c + 0.7 * radius * (np.cos(a) * u + np.sin(a) * w), {joints[2]: 1.0}) for a in ang])
        apex = add(start + s0 * d, {joints[2]: 1.0})
        tips[name] = apex
        for r0, r1 in itertools.pairwise(rings):
            for i in range(ring):
                a, b, c2, e = r0[i], r0[(i + 1) % ring], r1[(i + 1) % ring], r1[i]
                faces += [(a, c2, b), (a, e, c2)]
        faces += [(rings[-1][i], apex, rings[-1][(i + 1) % ring]) for i in range(ring)]

    V = len(verts)
    regressor = np.zeros((J, V))
    for j, ids in joint_rings.items():
        regressor[j, ids] = 1.0 / len(ids)
    return {
        "v_template": np.stack(verts),
        "weights": np.stack(weights),
        "f": np.asarray(faces, dtype=np.uint32),
        "J_regressor": regressor,
        "tips": np.array([tips[n] for n in _TIP_ORDER], dtype=np.int64),
    }


def _pad_vertices(hand: dict[str, np.ndarray], num_vertices: int) -> None:
    """Append copies of palm vertices (not in any face) up to num_vertices, for timing runs that
    need the official MANO size (778)."""
    V = len(hand["v_template"])
    if num_vertices < V:
        raise ValueError(f"num_vertices={num_vertices} is below the procedural hand's {V} vertices")
    extra = np.arange(num_vertices - V) % V
    hand["v_template"] = np.concatenate([hand["v_template"], hand["v_template"][extra]])
    hand["weights"] = np.concatenate([hand["weights"], hand["weights"][extra]])
    hand["J_regressor"] = np.concatenate(
        [hand["J_regressor"], np.zeros((len(hand["J_regressor"]), len(extra)))], 1
    )


def mirror_pose_sign() -> np.ndarray:
    """[45] signs that mirror a MANO articulation vector across x: (a, b, c) -> (a, -b, -c)."""
    return np.tile([1.0, -1.0, -1.0], 15)


def synthetic_mano_arrays(
    side: str = "right", seed: int = 0, num_vertices: int | None = None
) -> dict[str, np.ndarray]:
    """The arrays `write_synthetic_mano_pickle` writes (plain numpy; posedirs [V,3,135] as in the
    official files; the left shapedirs carry MANO_LEFT's un-mirrored x components)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    hand = _right_hand(ring=6, per_segment=2, palm_grid=(6, 5)) if num_vertices is None else None
    if hand is None:
        hand = _right_hand(ring=10, per_segment=4, palm_grid=(6, 5))
        _pad_vertices(hand, num_vertices)
    v, W = hand["v_template"], hand["weights"]
    V, J = W.shape
    rng = np.random.default_rng(seed)
    centre = v.mean(0)
    # shape basis: smooth (affine in position) deformations, ~mm to cm per unit beta
    shapedirs = np.stack([(v - centre) @ (rng.normal(0, 0.03, (3, 3))) for _ in range(10)], -1)
    shapedirs[..., 0] = (v - centre) * 0.06  # beta 0 ~ overall size
    # pose correctives: joint j's 9 rows act only on vertices skinned to joint j
    posedirs = np.zeros((V, 3, 9 * (J - 1)))
    for j in range(1, J):
        mask = W[:, j] > 0
        posedirs[mask, :, 9 * (j - 1) : 9 * j] = rng.normal(0, 0.002, (int(mask.sum()), 3, 9))
    components, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    hands_mean = rng.normal(0, 0.1, 45)
    kintree = np.array([[2**32 - 1, *MANO_PARENTS[1:]], list(range(J))], dtype=np.int64)
    faces = hand["f"]
    if side == "left":
        m = MIRROR
        v = v * m
        faces = faces[:, [0, 2, 1]]
        shapedirs = shapedirs * m[None, :, None]
        shapedirs[:, 0, :] *= -1  # MANO_LEFT's bug: x components not mirrored
        # (R' - I)_{ab} = m_a m_b (R - I)_{ab}; offsets mirror with m_c
        row_sign = np.tile(np.outer(m, m).reshape(9), J - 1)
        posedirs = posedirs * m[None, :, None] * row_sign[None, None, :]
        components = components * mirror_pose_sign()[None, :]
        hands_mean = hands_mean * mirror_pose_sign()
    return {
        "v_template": v,
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": hand["J_regressor"],
        "weights": W,
        "kintree_table": kintree,
        "f": faces,
        "J": hand["J_regressor"] @ v,
        "hands_components": components,
        "hands_mean": hands_mean,
        "hands_coeffs": rng.normal(0, 1, (8, 45)),
        SYNTHETIC_TIPS_KEY: hand["tips"],
    }


def write_synthetic_mano_pickle(
    path: str | os.PathLike, side: str = "right", seed: int = 0, num_vertices: int | None = None
) -> dict[str, np.ndarray]:
    """Write a MANO-format pickle (chumpy-style arrays, sparse J_regressor, latin1-readable) of the
    synthetic hand to `path`; returns the arrays written (see `synthetic_mano_arrays`).
    num_vertices: pad to this size (e.g. 778 = real MANO) for representative timings."""
    arrays = synthetic_mano_arrays(side, seed, num_vertices)
    as_ch = ("v_template", "shapedirs", "posedirs", "weights", "J")
    payload: dict[str, Any] = {k: _FakeCh(a) if k in as_ch else a for k, a in arrays.items()}
    payload["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    payload["bs_style"] = "lbs"
    payload["bs_type"] = "lrotmin"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with _chumpy_importable(), open(path, "wb") as fh:
        pickle.dump(payload, fh, protocol=2)
    return arrays
