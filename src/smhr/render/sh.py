"""The SH-9 lighting basis, defined once for the PyTorch renderer (`smhr.render.shading`) and the
NumPy one of the inference install (`smhr.render.textured`, no PyTorch): the Deep3DFaceRecon real SH
basis with the clamped-cosine constants a_k * c_k folded in, in the official code's order and signs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["SH_CONSTANTS", "sh_basis_terms"]

_A0, _A1, _A2 = math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0)
_C0 = 1 / math.sqrt(4 * math.pi)
_C1 = math.sqrt(3.0) / math.sqrt(4 * math.pi)
_C2 = 3 * math.sqrt(5.0) / math.sqrt(12 * math.pi)
_D0 = 0.5 / math.sqrt(3.0)
SH_CONSTANTS = {"a0c0": _A0 * _C0, "a1c1": _A1 * _C1, "a2c2": _A2 * _C2, "d0": _D0}


def sh_basis_terms(nx: Any, ny: Any, nz: Any, full_like: Callable[[Any, float], Any]) -> list[Any]:
    """The 9 basis values of unit normals with components nx, ny, nz (NumPy arrays or torch tensors
    of one shape), as a list for the caller's own stack; full_like: np.full_like or torch.full_like."""
    k = SH_CONSTANTS
    return [
        full_like(nx, k["a0c0"]),
        -k["a1c1"] * ny,
        k["a1c1"] * nz,
        -k["a1c1"] * nx,
        k["a2c2"] * nx * ny,
        -k["a2c2"] * ny * nz,
        k["a2c2"] * k["d0"] * (3 * nz * nz - 1),
        -k["a2c2"] * nx * nz,
        k["a2c2"] * 0.5 * (nx * nx - ny * ny),
    ]
