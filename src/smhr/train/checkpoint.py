"""Training checkpoints: atomic writes, exact resume, and strict (listed) weight initialisation.

Why atomic: a run killed while writing (a 10-minute GPU slot ending, a pre-empted node) must leave
the previous checkpoint intact, so we write `name.tmp` and `os.replace` it (atomic on POSIX).
Why strict: the official loader skipped tensors whose shapes did not match and kept the random
init for missing ones, silently (spec §11). Here every mismatch is listed in the error; only heads
that the previous stage did not have (named by the caller) may start fresh, and they are reported.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["CheckpointMismatchError", "load_checkpoint", "load_init_weights", "rng_state", "save_checkpoint",
           "set_rng_state"]


class CheckpointMismatchError(ValueError):
    """A checkpoint's tensors do not fit the model; the message lists every offending tensor."""


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and every CUDA device) generator states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save `state` to `path` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint written by `save_checkpoint` (one-line error when unusable)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        # RNG states hold numpy arrays / tuples, so this is not a weights-only file.
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc}); "
                         "delete it or point --resume at another file") from exc


def load_init_weights(
    net: nn.Module, ckpt: dict[str, Any] | str | Path, new_heads: Iterable[str] = (),
    source: str | None = None,
) -> list[str]:
    """Copy a checkpoint's 'model' weights into `net`.

    Every tensor must exist in both with equal shapes, except tensors under the module prefixes in
    `new_heads` (e.g. "texture.", "light." when stage 2 adds appearance heads), which may be missing
    from the checkpoint and keep their initialisation. Returns the names that kept their init.
    Raises CheckpointMismatchError listing every missing, unexpected and mis-shaped tensor.
    """
    if not isinstance(ckpt, dict):
        source = source or str(ckpt)
        ckpt = torch.load(ckpt, map_location="cpu", weights_only=False)
    source = source or "checkpoint"
    weights = ckpt.get("model", ckpt)
    own = net.state_dict()
    prefixes = tuple(new_heads)
    missing = [k for k in own if k not in weights]
    fresh = [k for k in missing if k.startswith(prefixes)] if prefixes else []
    missing = [k for k in missing if k not in fresh]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k} {tuple(weights[k].shape)} vs model {tuple(own[k].shape)}"
              for k in weights if k in own and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(
            f"{source} does not fit the model: missing {missing}, unexpected {unexpected}, "
            f"shape mismatch {shapes} (same backbone / hand model / appearance setting?)"
        )
    net.load_state_dict({**own, **{k: weights[k] for k in weights}})
    return fresh


def package_weights(src: str | Path, dst: str | Path, half: bool = True, **extra_meta: Any) -> Path:
    """A `model.pt` made small enough to ship: floating tensors stored as float16 (loading casts
    them back to the network's float32), metadata kept and extended with `extra_meta` (e.g. the
    measured metrics). Returns dst."""
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    if "config" not in ckpt or "model" not in ckpt:
        raise ValueError(f"{src}: not an smhr model.pt (needs 'config' and 'model')")
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    meta = {**ckpt.get("meta", {}), **extra_meta, "stored_dtype": "float16" if half else "float32"}
    return save_checkpoint(dst, {"config": ckpt["config"], "model": state, "meta": meta})
