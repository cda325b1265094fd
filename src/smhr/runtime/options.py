"""Checks of the options a `Reconstructor` is loaded with, before any file is read: one-line
errors naming the option, instead of a failure deep inside PyTorch (a device string, a CUDA
request on a machine without one) or a predictor that silently finds nothing (threshold outside
[0, 1], max_hands < 1)."""

from __future__ import annotations

import importlib.util
import numbers
import re

import numpy as np

__all__ = ["MIRROR", "ZOOM_OUT", "check_cuda", "check_large_side", "check_max_hands", "check_min_hand_side",
           "check_options", "check_score", "check_side", "check_views"]

ZOOM_OUT = 0.0  # photo mode's zoomed-out view by default: 0 (off: it costs never-trained-on handedness)
MIRROR = False  # photo mode's mirrored side vote by default (off: +-2-4 hands a set, docs/evaluation.md)

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_options(device: str, threshold: float | None, max_hands: int) -> None:
    """ValueError (one line) for a bad device string, threshold or max_hands."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    check_score("threshold", threshold)
    check_max_hands(max_hands)


def check_max_hands(max_hands: int) -> None:
    """A one-line ValueError for a hand count that is no integer >= 1 (0 or -1 would silently cut the
    slots the network returns)."""
    if isinstance(max_hands, bool) or not isinstance(max_hands, (int, np.integer)) or max_hands < 1:
        raise ValueError(f"max_hands must be an integer >= 1, got {max_hands!r}")


def _real(value: object) -> bool:
    """A real number that is no bool: Python's and NumPy's scalars alike (np.float32 is no `float`)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def check_score(name: str, value: float | None, note: str = "") -> None:
    """A one-line ValueError naming option `name` when `value` (None: unset) is no score in [0, 1]."""
    if value is not None and not (_real(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} is a detection score in [0, 1]{note}, got {value!r}")


def _check_share(name: str, value: float, of: str, top: float) -> None:
    if not _real(value) or not 0.0 < value <= top:
        raise ValueError(f"{name} is a share of {of}, in (0, {top:g}], got {value!r}")


def check_side(side: int | None) -> None:
    """A one-line ValueError for a forced side other than None (each hand's own), 0 (left) or 1 (right):
    any other value matches no hand model and would give hands without a mesh."""
    if side is not None and (isinstance(side, bool | np.bool_) or side not in (0, 1)):
        raise ValueError(f"side must be None (each hand's own), 0 (left) or 1 (right), got {side!r}")


def check_large_side(value: float) -> None:
    """A one-line ValueError for a large-hand span outside (0, 1] (a share of the view's long side)."""
    _check_share("large_side", value, "the view's long side", 1.0)


def check_min_hand_side(value: float | None) -> None:
    """A one-line ValueError for a smallest hand (None: no limit) outside (0, 0.5] of the input side."""
    if value is not None:
        _check_share("min_hand_side", value, "the network input's side (None: no limit)", 0.5)


def check_cuda(device: str, cli: bool = False) -> None:
    """RuntimeError (one line naming the option and the fix: `--device` on the command line,
    `device=` in Python) for a CUDA device PyTorch cannot use, instead of PyTorch's driver message.
    Without PyTorch installed it says nothing: loading the torch backend names the missing extra."""
    if not device.startswith("cuda") or importlib.util.find_spec("torch") is None:
        return
    import torch

    said, fix = f"device={device!r}", "device='cpu'"
    if cli:
        said, fix = f"--device {device}", "--device cpu (or auto)"
    if not torch.cuda.is_available():
        raise RuntimeError(f"{said}: PyTorch finds no CUDA device on this machine (no GPU, no driver, or a "
                           f"CPU-only torch build); use {fix}")
    n = torch.cuda.device_count()
    if device.startswith("cuda:") and int(device[5:]) >= n:
        raise RuntimeError(f"{said}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}")


def check_views(zoom_out: float, mirror: bool) -> None:
    """A one-line ValueError for photo-mode view options out of range."""
    if not (zoom_out == 0 or 0.0 < zoom_out < 1.0):
        raise ValueError(f"zoom_out must be 0 (off) or in (0, 1) (the share of the canvas the shrunk "
                         f"photo fills), got {zoom_out}")
    if not isinstance(mirror, bool | np.bool_):
        raise ValueError(f"mirror must be True or False, got {mirror!r}")
