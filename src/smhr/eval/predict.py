"""Run a trained checkpoint over a FreiHAND-layout split and produce the official pred.json arrays.

Why its own step: the FreiHAND protocol scores a file (`[xyz_list, verts_list]`), so a checkpoint
is first turned into exactly that file and then scored by the same code as anyone's predictions.
FreiHAND shows one right hand per image, so each image's best-scoring detection is decoded with
the right-hand parameter set and model (as the official single-hand evaluation did) in the
dataset's own camera K, i.e. metric camera-frame joints and vertices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smhr.data.freihand import FreiHAND
from smhr.runtime.reconstructor import Reconstructor

__all__ = ["predict_freihand"]


def predict_freihand(
    rec: Reconstructor, root: str | Path, split: str = "eval", batch_size: int = 16,
    limit: int | None = None, progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(xyz [N,21,3], verts [N,V,3]) metres, camera frame, one per image of `split`, predicted by
    `rec` (either backend) with threshold 0 and every hand decoded as a right hand."""
    ds = FreiHAND(root, split, load_masks=False)
    n = len(ds) if limit is None else min(limit, len(ds))
    rec = Reconstructor(rec.network, rec.hand_models, threshold=0.0, max_hands=1,
                        fit_translation=rec.fit_translation)
    xyz = np.zeros((n, 21, 3), np.float32)
    verts = np.zeros((n, rec.hand_models[1].num_vertices, 3), np.float32)
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="FreiHAND predict", unit="batch")
    for start in starts:
        samples = [ds[i] for i in range(start, min(n, start + batch_size))]
        hands = rec.predict_batch([s.image for s in samples], K=[s.K for s in samples], side=1)
        for j, found in enumerate(hands):
            xyz[start + j] = found[0].joints3d
            verts[start + j] = found[0].vertices
    return xyz, verts
