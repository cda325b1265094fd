"""A trained network and its hand models from a checkpoint, with one-line errors naming the file.

Why in `smhr.model`: inference (the API), evaluation and export all load checkpoints the same way;
the loader belongs to the layer that defines the network, below everything that uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smhr.hands.assets import user_files
from smhr.hands.model import HandModel
from smhr.io.torchfiles import MODEL_FIX, load_smhr_checkpoint, reason
from smhr.model.net import SMHRNet

__all__ = ["load_network", "network_from_checkpoint"]


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


def load_network(checkpoint: str | Path | dict[str, Any], hand: str | None = None,
                 mano_dir: str | Path | None = None, device: str = "cpu",
                 source: str | None = None) -> tuple[SMHRNet, list[HandModel]]:
    """Network from a `model.pt` / training checkpoint (a path, or its already loaded dict with
    `source` naming it in errors) and its (left, right) hand models (the checkpoint's
    `hand_model` unless `hand` overrides it)."""
    source = source or ("checkpoint" if isinstance(checkpoint, dict) else str(checkpoint))
    if not isinstance(checkpoint, dict):
        checkpoint = load_smhr_checkpoint(checkpoint)  # weights only, one-line error naming the file
    net = network_from_checkpoint(checkpoint, source).to(device).eval()
    kind = hand or net.config.hand_model
    path = user_files(kind, mano_dir)
    models = [HandModel.load(kind, side, path=path).to(device) for side in ("left", "right")]
    if models[1].num_vertices != net.config.num_vertices:
        raise ValueError(
            f"{source}: the network predicts textures for {net.config.num_vertices} vertices but the "
            f"{kind} hand has {models[1].num_vertices}; pass --hand {net.config.hand_model}"
        )
    return net, models
