"""Hand-model asset arrays from their files, without torch: the registry of hand-model kinds.

Why a module of its own: the PyTorch layer (`HandModel`) and the torch-free runtime
(`NumpyHandModel`, used by fast CPU inference) must read the same arrays (docs/hand-asset-format.md)
from the same files. A kind is a reader `(side, path) -> arrays`; adding a hand model is one reader
plus one `register_hand_model` line (docs/architecture.md).
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from smhr.hands.errors import HandModelError, HandModelNotFoundError
from smhr.hands.keypoints import SIDE_NAMES
from smhr.registry import Registry

__all__ = [
    "ASSET_KEYS", "HAND_MODELS", "SIDES", "anny_asset_path", "load_hand_arrays", "register_hand_model",
    "user_files",
]

SIDES = SIDE_NAMES  # ("left", "right"), indexed by side id
ASSET_KEYS = (
    "v_template", "faces", "shapedirs", "posedirs", "J_regressor", "weights", "parents",
    "tip_vertex_ids", "part_labels", "hands_mean",
)  # fmt: skip

Reader = Callable[[str, "str | os.PathLike | None"], dict[str, Any]]
HAND_MODELS: Registry[Reader] = Registry("hand model")
USER_FILE_KINDS: set[str] = set()  # kinds whose files the user supplies (licence), e.g. MANO


def register_hand_model(kind: str, reader: Reader | str, user_supplied: bool = False) -> None:
    """Make `kind` loadable by `HandModel.load` / `NumpyHandModel.load` and the `--hand` options.
    reader: the function, or "smhr.hands.my_hand:read_my_hand" (imported on first use, so a reader
    in a new file needs no import line). user_supplied: its files come from the user
    (`--mano-dir` style options reach its reader)."""
    if isinstance(reader, str):
        HAND_MODELS.register(kind, ref=reader)
    else:
        HAND_MODELS.register(kind, reader)
    if user_supplied:
        USER_FILE_KINDS.add(kind)


def user_files(kind: str, folder: str | os.PathLike | None) -> str | os.PathLike | None:
    """The folder of a kind's user-supplied files (`--mano-dir`) when `kind` takes them, else None
    (the bundled asset): the one place that decides which kinds read the user's folder."""
    return folder if kind in USER_FILE_KINDS else None


def anny_asset_path(side: str) -> Path:
    """Path of the bundled Anny asset for `side` (it may not exist in a source checkout)."""
    return Path(str(importlib.resources.files("smhr.hands") / "assets" / f"anny_hand_{side}.npz"))


def read_anny(side: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The bundled Anny hand of `side` (or the .npz at / in `path`)."""
    p = Path(path).expanduser() if path is not None else anny_asset_path(side)
    if p.is_dir():
        p = p / f"anny_hand_{side}.npz"
    fix = "rebuild it with `smhr hands build-anny` (needs `pip install 'smhr[anny]'`)"
    if not p.is_file():
        raise HandModelNotFoundError(f"Anny hand asset {p} not found: {fix}")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise HandModelError(f"Anny hand asset {p} is unreadable ({type(exc).__name__}): {fix}") from exc
    missing = [k for k in ASSET_KEYS if k not in arrays]
    if missing:
        raise HandModelError(f"Anny hand asset {p} lacks {missing}: {fix}")
    if "side" in arrays and str(arrays["side"]) != side:
        raise HandModelError(f"Anny hand asset {p} is a {arrays['side']} hand, asked for {side}: {fix}")
    return arrays


def read_mano(side: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The user's MANO_{SIDE}.pkl (`path`, or $SMHR_MANO_DIR), converted to asset arrays."""
    from smhr.hands.mano import load_mano_arrays

    return load_mano_arrays(side, path)


register_hand_model("anny", read_anny)
register_hand_model("mano", read_mano, user_supplied=True)


def load_hand_arrays(kind: str, side: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Asset arrays of hand model `kind` for `side`; one-line HandModelError otherwise."""
    if kind not in HAND_MODELS:
        raise HandModelError(f"hand model kind must be one of {HAND_MODELS.choices()}, got {kind!r}")
    if side not in SIDES:
        raise HandModelError(f"side must be one of {SIDES}, got {side!r}")
    return HAND_MODELS[kind](side, path)
