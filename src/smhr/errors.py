"""User-input errors, in a module of their own so that every layer (image reading, the API, the
torch-free runtime, datasets) can raise them without importing the layer above."""

from __future__ import annotations

__all__ = ["TRAIN_EXTRA", "BadInput", "MissingExtra", "require_torch"]


class BadInput(ValueError):  # noqa: N818 - the name the demo and the docs use
    """One input file cannot be used (unreadable / corrupt image); the message names the file."""


TRAIN_EXTRA = "pip install 'smhr[train]'"


class MissingExtra(ImportError):  # noqa: N818 - reads as what it is
    """A feature needs PyTorch (training, evaluation, export, the torch backend), which the light
    `pip install smhr` leaves out; the message names the extra that adds it."""


def require_torch(what: str) -> None:
    """Raise `MissingExtra` naming `what` and the extra when PyTorch cannot be imported."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        message = f"{what} needs PyTorch, which the light install leaves out: {TRAIN_EXTRA}"
        raise MissingExtra(message) from exc
