"""Unpickle the official MANO files without chumpy and without the scipy that wrote them.

Why a stub unpickler: MANO_RIGHT.pkl / MANO_LEFT.pkl (v1.2) are Python-2 pickles written with
chumpy (which does not install on Python >= 3.11) and an old scipy. `StubUnpickler` resolves every
`chumpy.*` class to a `ChumpyStub` and every `scipy.sparse.*` class (old paths such as
`scipy.sparse.csc`, new ones such as `scipy.sparse._csc`) to a `SparseStub`; both only keep the
pickled state. `plain_value` then rebuilds the numpy array each stub stands for:

- chumpy objects pickle their `__dict__`: a `Ch` holds its value under "x"; derived objects hold
  their inputs (e.g. `Select`: "a", "idxs", "preferred_shape", value
  `a.ravel()[idxs].reshape(preferred_shape)` -- MANO's shapedirs is one). `CHUMPY_RULES` lists the
  classes whose value follows from that state; any other class is an error naming it and the key.
- sparse matrices pickle data / indices / indptr (csc, csr) or row / col (coo) and their shape.

Python-2 `str` objects (dict keys, numpy's raw array bytes) need `encoding="latin1"`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from smhr.hands.errors import HandModelError

__all__ = ["CHUMPY_RULES", "ChumpyStub", "SparseStub", "StubUnpickler", "load_stubbed", "plain_value"]

MAX_DEPTH = 32
"""Deepest chain of chumpy objects we follow (guards against cyclic or absurd pickles)."""


class _Stub:
    """Keeps the pickled state of a class we must not (or cannot) import."""

    origin = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def field(self, name: str) -> Any:
        """One entry of the pickled `__dict__`, or KeyError."""
        if isinstance(self.state, dict) and name in self.state:
            return self.state[name]
        raise KeyError(name)


class ChumpyStub(_Stub):
    """Stands in for any chumpy class (`origin` = "chumpy.module.Class")."""


class SparseStub(_Stub):
    """Stands in for a scipy.sparse matrix or array under any module path."""


def _stub_class(base: type[_Stub], module: str, name: str) -> type[_Stub]:
    return type(name, (base,), {"origin": f"{module}.{name}"})


ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"), ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"),
    ("__builtin__", "frozenset"),
}  # fmt: skip
"""The only other globals a MANO pickle needs: numpy arrays, sets, Python 3's bytes. Anything else
(os.system, ...) is refused, because unpickling a global can run code."""


class StubUnpickler(pickle.Unpickler):
    """Resolves chumpy and scipy.sparse classes to stubs, numpy arrays and sets as usual, and refuses
    every other global (`ALLOWED_GLOBALS`)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _stub_class(ChumpyStub, module, name)
        if module == "scipy.sparse" or module.startswith("scipy.sparse."):
            return _stub_class(SparseStub, module, name)
        if (module, name) in ALLOWED_GLOBALS or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}: a MANO file holds only numpy, chumpy and "
                                     "scipy.sparse objects, and others could run code")


def load_stubbed(fh: IO[bytes]) -> Any:
    """The unpickled object, stubs still in place (latin1: Python-2 str -> str / numpy bytes)."""
    return StubUnpickler(fh, encoding="latin1").load()


def _select(get: Callable[[str], np.ndarray], stub: ChumpyStub) -> np.ndarray:
    out = get("a").ravel()[get("idxs").astype(np.int64).ravel()]
    try:
        shape = stub.field("preferred_shape")
    except KeyError:
        return out
    return out.reshape(tuple(int(s) for s in shape))


CHUMPY_RULES: dict[str, Callable[[Callable[[str], np.ndarray], ChumpyStub], np.ndarray]] = {
    "Ch": lambda get, _: get("x"),
    "Select": _select,
    "Reshape": lambda get, s: get("a").reshape(tuple(int(n) for n in s.field("newshape"))),
    "transpose": lambda get, s: np.transpose(get("a"), s.state.get("axes")),
    "add": lambda get, _: get("a") + get("b"),
    "subtract": lambda get, _: get("a") - get("b"),
    "multiply": lambda get, _: get("a") * get("b"),
}
"""chumpy class name -> its value from the pickled inputs (`get(name)` = an input as an array)."""


def _chumpy_to_array(stub: ChumpyStub, where: str, depth: int) -> np.ndarray:
    name = stub.origin.rsplit(".", 1)[-1]
    rule = CHUMPY_RULES.get(name)
    if rule is None:
        raise HandModelError(
            f"{where} is a chumpy {stub.origin} object, which cannot be rebuilt without chumpy (readable: "
            f"{', '.join(CHUMPY_RULES)}); convert it to a numpy array with chumpy on Python <= 3.10"
        )

    def get(field: str) -> np.ndarray:
        try:
            value = stub.field(field)
        except KeyError:
            raise HandModelError(f"{where}: chumpy {stub.origin} object without its {field!r} value; "
                                 "the file is damaged: download it again") from None
        return np.asarray(plain_value(value, f"{where}.{field}", depth + 1))

    try:
        return np.asarray(rule(get, stub))
    except HandModelError:
        raise
    except (IndexError, ValueError, TypeError, KeyError, AttributeError) as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise HandModelError(f"{where}: chumpy {stub.origin} object does not yield an array ({why}); "
                             "the file is damaged: download it again") from exc


def _sparse_to_dense(stub: SparseStub, where: str) -> np.ndarray:
    st = stub.state if isinstance(stub.state, dict) else {}
    fmt = stub.origin.rsplit(".", 1)[-1][:3]
    shape = st.get("_shape", st.get("shape"))
    if shape is None or fmt not in ("csc", "csr", "coo"):
        raise HandModelError(f"{where} is an unsupported sparse matrix {stub.origin} "
                             "(readable: csc, csr, coo)")
    n_rows, n_cols = (int(s) for s in shape)
    out = np.zeros((n_rows, n_cols), dtype=np.float64)
    try:
        data = np.asarray(st["data"], dtype=np.float64)
        if fmt == "coo":
            rows, cols = st["coords"] if "coords" in st else (st["row"], st["col"])
            np.add.at(out, (np.asarray(rows), np.asarray(cols)), data)  # coo may repeat entries
            return out
        indices, indptr = np.asarray(st["indices"]), np.asarray(st["indptr"])
        major = out.T if fmt == "csc" else out  # csc: indptr runs over columns
        for i in range(len(indptr) - 1):
            sl = slice(int(indptr[i]), int(indptr[i + 1]))
            major[i, indices[sl]] += data[sl]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise HandModelError(f"{where}: sparse matrix {stub.origin} is damaged ({why}); "
                             "download the file again") from exc
    return out


def plain_value(value: Any, where: str, depth: int = 0) -> Any:
    """Stubs -> numpy arrays (recursively through chumpy inputs); anything else unchanged.
    `where` names the value in errors (e.g. "MANO_RIGHT.pkl: 'shapedirs'")."""
    if depth > MAX_DEPTH:
        raise HandModelError(f"{where}: chumpy objects nested deeper than {MAX_DEPTH}; the file is damaged")
    if isinstance(value, ChumpyStub):
        return _chumpy_to_array(value, where, depth)
    if isinstance(value, SparseStub):
        return _sparse_to_dense(value, where)
    return value
