"""smhr.hands: hand models (assets and their registry, LBS in PyTorch and NumPy), keypoint orders
and the pose prior. The names below load on first use (`HandModel` needs PyTorch, which the
torch-free runtime and the command line's `--help` should not pay for)."""

from __future__ import annotations

from smhr.lazy import lazy_attributes

_LAZY = {
    "HAND_MODELS": "smhr.hands.assets",
    "HandModel": "smhr.hands.model",
    "HandModelError": "smhr.hands.errors",
    "NumpyHandModel": "smhr.hands.numpy_model",
    "register_hand_model": "smhr.hands.assets",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_attributes("smhr.hands", _LAZY)
