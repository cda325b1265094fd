"""Run a trained checkpoint over a FreiHAND-layout split and produce the official pred.json arrays.

Why its own step: the FreiHAND protocol scores a file (`[xyz_list, verts_list]`), so a checkpoint
is first turned into exactly that file and then scored by the same code as anyone's predictions.
FreiHAND shows one right hand per image, so each image's best-scoring detection is decoded with
the right-hand parameter set and model (as the official single-hand evaluation did) in the
dataset's own camera K, i.e. metric camera-frame joints and vertices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from smhr.data.augment import letterbox
from smhr.data.freihand import FreiHAND
from smhr.hands.model import HandModel
from smhr.io.torchfiles import MODEL_FIX, load_smhr_checkpoint, reason
from smhr.model.decode import decode
from smhr.model.net import SMHRNet
from smhr.model.normalize import normalize_images

__all__ = ["load_network", "network_from_checkpoint", "predict_freihand"]


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
    models = [HandModel.load(kind, side, path=mano_dir if kind == "mano" else None).to(device)
              for side in ("left", "right")]
    if models[1].num_vertices != net.config.num_vertices:
        raise ValueError(
            f"{source}: the network predicts textures for {net.config.num_vertices} vertices but the "
            f"{kind} hand has {models[1].num_vertices}; pass --hand {net.config.hand_model}"
        )
    return net, models


@torch.no_grad()
def predict_freihand(
    net: SMHRNet, hand_models: list[HandModel], root: str | Path, split: str = "eval", batch_size: int = 16,
    limit: int | None = None, progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(xyz [N,21,3], verts [N,V,3]) metres, camera frame, one per image of `split`."""
    ds = FreiHAND(root, split, load_masks=False)
    n = len(ds) if limit is None else min(limit, len(ds))
    device = next(net.parameters()).device
    R = net.config.input_size
    xyz = np.zeros((n, 21, 3), np.float32)
    verts = np.zeros((n, hand_models[1].num_vertices, 3), np.float32)
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="FreiHAND predict", unit="batch")
    for start in starts:
        samples = [ds[i] for i in range(start, min(n, start + batch_size))]
        boxed = [letterbox(s, R) for s in samples]
        images = torch.stack([torch.from_numpy(b.image).permute(2, 0, 1) for b, _ in boxed]).to(device)
        affines = np.stack([np.vstack([A, [0.0, 0.0, 1.0]]) for _, A in boxed])
        K = np.stack([s.K for s in samples])
        hands = decode(net, normalize_images(images), hand_models, max_hands=1, threshold=0.0, affine=affines,
                       K=K, side=1)
        for j, found in enumerate(hands):
            xyz[start + j] = found[0].joints3d
            verts[start + j] = found[0].vertices
    return xyz, verts
