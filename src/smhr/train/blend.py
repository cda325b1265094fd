"""A network between two checkpoints: the weights of a fine-tuned run blended with those it started from.

Why: a run continued from the shipped weights on more data (v4s from v2) gains on what it trained on
and loses elsewhere (the side of large hands on photos never trained on, docs/training.md "Weights
v4s"). Interpolating the fine-tuned weights with the ones they started from ("WiSE-FT", Wortsman et
al. 2022, "Robust fine-tuning of zero-shot models") often keeps most of the gain and most of the
start's robustness: both lie in one basin, so the straight line between them stays low in loss.
It costs no training, only a choice of `alpha` on the decision sets.

    blended = (1 - alpha) * start + alpha * tuned    for every float tensor both hold

A tensor only the tuned network has belongs to a module added in fine-tuning (the keypoint-aligned
refinement). Such modules start from an output layer of zeros, so that a new net answers what the
old one did; here the tensors that are zero in a freshly built net are blended from zero (the
module's output is scaled by `alpha`) and the others are the tuned network's, so alpha 0 answers as
the start does (up to the tuned config's keypoint definition) and alpha 1 is the tuned network.
Integer tensors (batch-norm step counts) are the tuned network's.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from smhr.io.torchfiles import load_smhr_checkpoint
from smhr.model.net import SMHRConfig, SMHRNet

__all__ = ["blend_checkpoints", "blend_states"]


def blend_states(start: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float,
                 zero_at_start: Collection[str] = ()) -> dict[str, torch.Tensor]:
    """The state dict `(1 - alpha) * start + alpha * tuned` (float32 for float tensors), keyed as `tuned`.

    Keys only in `tuned` are taken from it, scaled by `alpha` when listed in `zero_at_start`; a key
    only in `start`, or one whose shape differs, is a ValueError: the blend would drop or guess it."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (0: the start, 1: the tuned network), got {alpha}")
    dropped = sorted(set(start) - set(tuned))
    if dropped:
        raise ValueError(f"the start has tensors the tuned network lacks ({dropped[:4]}): not a run "
                         "continued from it; blend a run with the weights it started from")
    out: dict[str, torch.Tensor] = {}
    for key, b in tuned.items():
        if not b.is_floating_point():
            out[key] = b.clone()
            continue
        b32 = b.float()
        if key not in start:
            out[key] = alpha * b32 if key in zero_at_start else b32.clone()
            continue
        a = start[key]
        if a.shape != b.shape:
            raise ValueError(f"tensor {key}: shape {tuple(a.shape)} in the start, {tuple(b.shape)} in the "
                             "tuned network; blend two checkpoints of one architecture")
        out[key] = torch.lerp(a.float(), b32, alpha)
    return out


def zero_initialised(config: dict[str, Any]) -> set[str]:
    """Names of the float tensors that are all zeros in a freshly built net of `config` (zero-started
    output layers: the refinement's last layer)."""
    fresh = SMHRNet(SMHRConfig.from_dict(config)).state_dict()
    return {k for k, v in fresh.items() if v.is_floating_point() and v.numel() and not v.any()}


def blend_checkpoints(start: str | Path, tuned: str | Path, alpha: float) -> dict[str, Any]:
    """A checkpoint (config, model, meta) of the blend of `tuned` with `start`, the weights it was
    fine-tuned from; its config and meta are the tuned one's, without packaged calibration values
    (the blend is a new network: package it with its own), plus a "blend" record of both files."""
    a, b = load_smhr_checkpoint(start), load_smhr_checkpoint(tuned)
    try:
        state = blend_states(a["model"], b["model"], alpha, zero_initialised(b["config"]))
    except ValueError as exc:
        raise ValueError(f"{tuned} with {start}: {exc}") from None
    meta = {k: v for k, v in dict(b.get("meta") or {}).items()
            if k in ("smhr_version", "stage", "step", "hand_model", "input_size", "train_config")}
    meta["blend"] = {"start": str(start), "tuned": str(tuned), "alpha": float(alpha)}
    return {"config": dict(b["config"]), "model": state, "meta": meta}
