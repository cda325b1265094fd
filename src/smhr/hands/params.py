"""The per-hand parameter vector: one layout, written once.

Every place that packs or unpacks a hand's parameters (the network's parameter head, the decoders,
the prior, the datasets' `HandParams`, the video smoother) uses these names and slices, so the
layout cannot drift between them. One side's set is 61 numbers:

    global_orient 3 (axis-angle) | pose 45 (15 finger joints, axis-angle, flat mean) |
    betas 10 (shape) | transl 3

`transl` is metres where a dataset gives it; in network outputs the same three numbers are the raw
(a, b, c) of the centre-anchored translation (`smhr.model.camera.decode_translation`). The network
predicts both sides' sets per hand centre, left first: [0:61] left, [61:122] right.
Works on numpy arrays and torch tensors alike (only slicing and concatenation).
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["FIELDS", "NUM_PARAMS", "PARAMS_PER_SIDE", "SLICES", "join_params", "select_side", "side_slice",
           "split_params"]

FIELDS: tuple[tuple[str, int], ...] = (("global_orient", 3), ("pose", 45), ("betas", 10), ("transl", 3))
PARAMS_PER_SIDE = sum(n for _, n in FIELDS)  # 61
NUM_PARAMS = 2 * PARAMS_PER_SIDE  # left set, then right set

SLICES: dict[str, slice] = {}
_start = 0
for _name, _n in FIELDS:
    SLICES[_name] = slice(_start, _start + _n)
    _start += _n

Array = TypeVar("Array")


def split_params(params: Array) -> dict[str, Array]:
    """One side's set [..., 61] -> {"global_orient" [...,3], "pose" [...,45], "betas" [...,10],
    "transl" [...,3]} (views)."""
    if params.shape[-1] != PARAMS_PER_SIDE:
        raise ValueError(f"a hand's parameter set has {PARAMS_PER_SIDE} numbers, got {params.shape[-1]}")
    return {name: params[..., s] for name, s in SLICES.items()}


def join_params(global_orient: Any, pose: Any, betas: Any, transl: Any) -> Any:
    """The inverse of `split_params`: [..., 61] (numpy if the inputs are numpy, else torch)."""
    parts = (global_orient, pose, betas, transl)
    if all(hasattr(p, "__array__") and not hasattr(p, "detach") for p in parts):
        import numpy as np

        return np.concatenate([np.asarray(p) for p in parts], -1)
    import torch

    return torch.cat([torch.as_tensor(p) for p in parts], -1)


def side_slice(side: int) -> slice:
    """Where side `side`'s set (0 left, 1 right) sits in the network's 122 outputs."""
    return slice(side * PARAMS_PER_SIDE, (side + 1) * PARAMS_PER_SIDE)


def select_side(params: Any, side: Any) -> Any:
    """Each slot's set from params [..., 122] by side [...] (0 left): [..., 61]; numpy or torch."""
    left, right = params[..., side_slice(0)], params[..., side_slice(1)]
    if hasattr(params, "detach"):
        import torch

        return torch.where((side == 0)[..., None], left, right)
    import numpy as np

    return np.where((np.asarray(side) == 0)[..., None], left, right)
