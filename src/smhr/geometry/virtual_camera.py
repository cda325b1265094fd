"""The network's virtual camera, as plain numbers: both decoders (PyTorch `smhr.model.camera` and the
torch-free `smhr.runtime.decode`) import them from here, so the two cannot drift apart."""

from __future__ import annotations

__all__ = ["DEPTH_OFFSET", "VIRTUAL_FOCAL"]

VIRTUAL_FOCAL = 512.0  # px, the official fixed focal for every input size
DEPTH_OFFSET = 0.8  # m, Z = c + 0.8 so a zero-initialised head starts 0.8 m away
