"""A trained network from a checkpoint, with one-line errors naming the file.

Why in `smhr.model`: inference (the API), evaluation and export all load checkpoints the same way;
the loader belongs to the layer that defines the network, below everything that uses it.
"""

from __future__ import annotations

from typing import Any

from smhr.io.torchfiles import MODEL_FIX, reason
from smhr.model.net import SMHRNet

__all__ = ["network_from_checkpoint"]


def network_from_checkpoint(checkpoint: dict[str, Any], source: str) -> SMHRNet:
    """`SMHRNet.from_checkpoint` whose every failure (a config it cannot build, tensors of the
    wrong shape) is a one-line ValueError naming `source`."""
    try:
        return SMHRNet.from_checkpoint(checkpoint, source)
    except ValueError as exc:
        if source in str(exc):
            raise
        raise ValueError(f"{source}: {exc}") from exc  # e.g. an unknown backbone in its config
    except (TypeError, KeyError, AttributeError, RuntimeError) as exc:
        raise ValueError(f"{source}: its weights do not fit its config ({reason(exc)}); {MODEL_FIX}") from exc

