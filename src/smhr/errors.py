"""User-input errors, in a module of their own so that every layer (image reading, the API, the
torch-free runtime, datasets) can raise them without importing the layer above."""

from __future__ import annotations

__all__ = ["BadInput"]


class BadInput(ValueError):  # noqa: N818 - the name the demo and the docs use
    """One input file cannot be used (unreadable / corrupt image); the message names the file."""
