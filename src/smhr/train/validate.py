"""Held-out scoring during training: the real inference path (`smhr.runtime.Reconstructor` around the
net being trained: letterbox -> peaks -> NumPy decode -> original pixels), matched to the ground
truth by keypoint similarity.

Why not just the training losses on held-out data: those are measured at GT centres with GT sides,
so they never see a missed, duplicated or wrongly-handed detection. These numbers do (the full
protocols live in `smhr.eval`; this is their quick subset for training curves).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from smhr.data.sample import SampleDataset
from smhr.eval.protocols import Tally, score_image, summarise
from smhr.eval.real import Detection, RealScores
from smhr.model.net import SMHRNet
from smhr.model.peaks import TorchPeaks
from smhr.records import DEFAULT_THRESHOLD
from smhr.runtime.reconstructor import Reconstructor

__all__ = ["trained_sources", "validate"]

TRAINED, NEVER = "trained on", "never trained on"


def trained_sources(data: Any) -> set[str]:
    """Folder names of every set a training data config (a DataConfig's fields, or the "data" dict a
    checkpoint records) draws from: any `roots` / `background_roots` list and any single `root` at
    any depth (mixture parts included; `kind: freihand, root: ...` configs), never `val_roots`; a
    labelled set counts by its folder name and, where its meta.json can be read, its source name.
    This is how the validation report and benchmarks/bench_real.py tell "trained on" from "never
    trained on"."""
    from smhr.data.labelled import previous_source_name

    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "root" and isinstance(value, (str, Path)):
                    value = [value]
                if key in ("roots", "background_roots", "root") and isinstance(value, (list, tuple)):
                    found.update(Path(str(r)).name for r in value)
                    found.update(n for r in value if (n := previous_source_name(r)))
                else:
                    walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(data)
    return found


def validate(
    net: SMHRNet, dataset: SampleDataset, *, hand: str | None = None,
    mano_dir: str | os.PathLike | None = None, max_hands: int = 10, limit: int | None = 256,
    batch_size: int = 16, threshold: float = 0.05, trained: set[str] | None = None,
) -> dict[str, Any]:
    """Scores on up to `limit` samples, with the same predictor as inference and the scoring of
    `smhr eval dataset` (its `score_image`): AP50 at OKS 0.5 with handedness accuracy, mean 2D
    keypoint error (px, original image) and PA-MPJPE (mm, where 3D labels exist) of the matched
    hands; and the real-photo scores (`smhr.eval.real`: keypoint-box IoU 0.5 matching, recall,
    precision, PCK@0.2 of the box) of the detections scoring at least DEFAULT_THRESHOLD (0.3), pooled
    and per source (`sources`: each marked "trained on" when its name is in `trained`, the sets the
    run trains on, else "never trained on")."""
    rec = Reconstructor.for_network(TorchPeaks(net, max_hands), threshold=threshold, max_hands=max_hands,
                                    hand=hand, mano_dir=mano_dir)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    tally, real = Tally(), RealScores()
    per_source: dict[str, RealScores] = {}
    for start in range(0, n, batch_size):
        samples = [dataset[i] for i in range(start, min(n, start + batch_size))]
        Ks = [s.K for s in samples]
        known = all(k is not None for k in Ks)
        preds = rec.predict_batch([s.image for s in samples], K=Ks if known else None)
        for s, hands in zip(samples, preds, strict=True):
            kept = [Detection.from_hand(h) for h in hands if h.score >= DEFAULT_THRESHOLD]
            real.add(s, kept)
            per_source.setdefault(s.source, RealScores()).add(s, kept)
            score_image(tally, hands, s)
    o = {k: float("nan") if v is None else v for k, v in summarise(tally, "multihand").items()}
    r = real.summary()
    return {
        "images": n,
        "hands": tally.num_gt,
        "ap50": o["ap50"],
        "recall": o["recall"],
        "handedness_acc": o["handedness_accuracy"],
        "kp2d_px": o["kp2d_error_px"],
        "pa_mpjpe_mm": o["pa_mpjpe_mm"],
        "box_recall": r["recall"],
        "box_precision": r["precision"],
        "box_pck0.2": r["pck0.2_all"],
        "box_handedness_acc": r["handedness_acc"],
        "sources": {name: _source_row(sc.summary(), name in (trained or set()))
                    for name, sc in sorted(per_source.items())},
    }


def _source_row(r: dict[str, Any], trained: bool) -> dict[str, Any]:
    keep = ("images", "hands", "recall", "precision", "pck0.2_all", "handedness_acc")
    return {"status": TRAINED if trained else NEVER, **{k: r[k] for k in keep}}
