"""MANO pickles with the exact structure of the official v1.2 files, for tests (no MANO data).

Why: the official MANO_RIGHT.pkl / MANO_LEFT.pkl are not plain `Ch` pickles. They are Python-2
protocol-2 pickles in which
- every `str` (dict keys, numpy's raw array bytes) is a Python-2 `str`, readable only with
  `encoding="latin1"`, and numpy is referenced as `numpy.core.multiarray`;
- `shapedirs` is a `chumpy.reordering.Select` whose state is {a: `chumpy.ch.Ch` (state {x: float64
  [778,3,20]}), idxs: int64 [23340], preferred_shape: (778,3,10)}, value
  `a.x.ravel()[idxs].reshape(preferred_shape)`;
- `v_template`, `posedirs`, `weights`, `J` are `chumpy.ch.Ch`;
- `J_regressor` is a `scipy.sparse.csc_matrix` pickled under scipy's old module path
  `scipy.sparse.csc`.
`write_official_structure_mano_pickle` writes the synthetic hand of `smhr.hands.testing` (padded to
778 vertices, no extra keys, so the loader uses the official fingertip ids) in exactly that
structure. The stand-in classes below pickle like the originals and are written under the original
module names by `Py2Pickler`, which emits what Python 2's pickler emitted; nothing is registered in
`sys.modules`.
"""

from __future__ import annotations

import os
import pickle
import struct
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from smhr.hands.mano import SYNTHETIC_TIPS_KEY
from smhr.hands.testing import _FakeCh as _Ch  # the plain chumpy `Ch` stand-in, pickled the same way
from smhr.hands.testing import synthetic_mano_arrays

__all__ = ["Py2Pickler", "official_select", "write_official_structure_mano_pickle"]

_CHUMPY_BOOKKEEPING = {"_dirty_vars": set(), "_itr": None, "_depends_on_deps": {}}


class _Select:
    """Stand-in for `chumpy.reordering.Select`: value `a.ravel()[idxs].reshape(preferred_shape)`."""

    def __init__(self, a: _Ch, idxs: np.ndarray, preferred_shape: tuple[int, ...]) -> None:
        self.a, self.idxs, self.preferred_shape = a, np.asarray(idxs, np.int64), tuple(preferred_shape)

    def __getstate__(self) -> dict[str, Any]:
        return {"a": self.a, "idxs": self.idxs, "preferred_shape": self.preferred_shape,
                **_CHUMPY_BOOKKEEPING}


class _CscMatrix:
    """Stand-in for an old scipy's `scipy.sparse.csc.csc_matrix` (its pickled `__dict__`)."""

    def __init__(self, dense: np.ndarray) -> None:
        cols = [np.nonzero(dense[:, j])[0] for j in range(dense.shape[1])]
        self.state = {
            "_shape": tuple(int(s) for s in dense.shape),
            "maxprint": 50,
            "format": "csc",
            "data": np.concatenate([dense[r, j] for j, r in enumerate(cols)]).astype(np.float64),
            "indices": np.concatenate(cols).astype(np.int32),
            "indptr": np.concatenate([[0], np.cumsum([len(r) for r in cols])]).astype(np.int32),
            "_has_sorted_indices": True,
        }

    def __getstate__(self) -> dict[str, Any]:
        return self.state


OFFICIAL_NAMES: dict[Any, tuple[str, str]] = {
    _Ch: ("chumpy.ch", "Ch"),
    _Select: ("chumpy.reordering", "Select"),
    _CscMatrix: ("scipy.sparse.csc", "csc_matrix"),
}
"""Stand-in class -> (module, name) it is pickled as."""


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickles as Python 2 wrote them: `str` and `bytes` as Python-2 `str` (BINSTRING,
    latin-1 bytes), globals under Python-2 / numpy-1 module names, and the classes of `names` under
    the names given there (so no module has to be importable to write them)."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)

    def __init__(self, file: Any, names: dict[Any, tuple[str, str]] | None = None) -> None:
        super().__init__(file, protocol=2)
        self.names = dict(OFFICIAL_NAMES if names is None else names)

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin-1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module, qualname = self.names.get(obj) or (obj.__module__, name or obj.__qualname__)
        module = {"builtins": "__builtin__", "copyreg": "copy_reg"}.get(module, module)
        if module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core") :]
        self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("ascii"))
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str
    dispatch[types.FunctionType] = save_global


def official_select(shapedirs: np.ndarray, seed: int = 0) -> _Select:
    """shapedirs [V,3,S] as the official files hold it: a Select of S columns out of a Ch of 2S
    (the columns shuffled among random decoys), `preferred_shape` [V,3,S]."""
    V, C, S = shapedirs.shape
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 0.01, (V, C, 2 * S))
    columns = rng.permutation(2 * S)[:S]
    base[:, :, columns] = shapedirs
    idxs = np.arange(base.size).reshape(base.shape)[:, :, columns].ravel()
    return _Select(_Ch(base), idxs, (V, C, S))


def write_official_structure_mano_pickle(
    path: str | os.PathLike, side: str = "right", seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the 778-vertex synthetic hand with the official files' structure (module docstring);
    returns its plain arrays (`synthetic_mano_arrays`, without the synthetic tip key), which a
    correct reader must give back."""
    arrays = synthetic_mano_arrays(side, seed, num_vertices=778)
    del arrays[SYNTHETIC_TIPS_KEY]
    payload: dict[str, Any] = {k: _Ch(a) if k in ("v_template", "posedirs", "weights", "J") else a
                               for k, a in arrays.items()}  # fmt: skip
    payload["shapedirs"] = official_select(arrays["shapedirs"], seed)
    payload["J_regressor"] = _CscMatrix(arrays["J_regressor"])
    payload["f"] = arrays["f"].astype(np.uint32)
    payload["kintree_table"] = arrays["kintree_table"].astype(np.int64)
    payload["bs_style"], payload["bs_type"] = "lbs", "lrotmin"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        Py2Pickler(fh).dump(payload)
    return arrays
