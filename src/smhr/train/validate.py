"""Held-out scoring during training: the real inference path (letterbox -> network -> NMS ->
decode -> original pixels), matched to the ground truth by keypoint similarity.

Why not just the training losses on held-out data: those are measured at GT centres with GT sides,
so they never see a missed, duplicated or wrongly-handed detection. These numbers do (the full
protocols live in `smhr.eval`; this is their quick subset for training curves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from smhr.data.sample import SampleDataset
from smhr.eval.matching import match_by_similarity
from smhr.eval.metrics import average_precision, keypoint_similarity, pa_mpjpe
from smhr.eval.protocols import MATCH_OKS, OKS_KAPPA
from smhr.eval.real import Detection, RealScores
from smhr.geometry.letterbox import letterbox_image
from smhr.model.decode import decode
from smhr.model.normalize import normalize_images
from smhr.records import DEFAULT_THRESHOLD

__all__ = ["validate"]


@torch.no_grad()
def validate(
    net: nn.Module, hand_models: Sequence[nn.Module], dataset: SampleDataset, input_size: int,
    device: torch.device, max_hands: int = 10, limit: int | None = 256, batch_size: int = 16,
    threshold: float = 0.05,
) -> dict[str, Any]:
    """Scores on up to `limit` samples, with the same letterbox, decode and matcher as inference and
    `smhr eval`: AP50 at OKS 0.5 (the `smhr eval dataset` rule) with handedness accuracy, mean 2D
    keypoint error (px, original image) and PA-MPJPE (mm, where 3D labels exist) of the matched
    hands; and the real-photo scores (`smhr.eval.real`: keypoint-box IoU 0.5 matching, recall,
    precision, PCK@0.2 of the box) of the detections scoring at least DEFAULT_THRESHOLD (0.3)."""
    was_training = net.training
    net.eval()
    n = len(dataset) if limit is None else min(limit, len(dataset))
    scores, tps, num_gt = [], [], 0
    kp_err, pa, side_ok = [], [], []
    real = RealScores()
    for start in range(0, n, batch_size):
        samples = [dataset[i] for i in range(start, min(n, start + batch_size))]
        boxed = [letterbox_image(s.image, input_size) for s in samples]
        images = torch.stack([torch.from_numpy(b).permute(2, 0, 1) for b, _ in boxed]).to(device)
        affines = np.stack([A for _, A in boxed])
        Ks = [s.K for s in samples]
        K = np.stack(Ks) if all(k is not None for k in Ks) else None
        preds = decode(net, normalize_images(images), hand_models, max_hands=max_hands, threshold=threshold,
                       affine=affines, K=K)
        for s, hands in zip(samples, preds, strict=True):
            kept = [Detection(h.keypoints2d, h.side, h.score) for h in hands if h.score >= DEFAULT_THRESHOLD]
            real.add(s, kept)
            gts = s.hands
            num_gt += len(gts)
            if not hands:
                continue
            sc = np.array([h.score for h in hands])
            scores.append(sc)
            if not gts:
                tps.append(np.zeros(len(hands), bool))
                continue
            gt_uv = np.stack([g.keypoints2d for g in gts])
            vis = np.stack([g.visibility for g in gts])
            lo, hi = gt_uv.min(1), gt_uv.max(1)
            area = np.prod(np.maximum(hi - lo, 1.0), axis=1)
            pred_uv = np.stack([h.keypoints2d for h in hands])
            sim = keypoint_similarity(pred_uv, gt_uv, area, OKS_KAPPA, gt_vis=vis)
            match = match_by_similarity(sim, sc, MATCH_OKS)
            tps.append(match.tp)
            for i, j in match.pairs:
                g, h = gts[j], hands[i]
                side_ok.append(h.side == g.side)
                if g.visibility.any():
                    dist = np.linalg.norm(h.keypoints2d - g.keypoints2d, axis=1)
                    kp_err.append(float(dist[g.visibility].mean()))
                if g.joints3d is not None:
                    pa.append(1000.0 * pa_mpjpe(h.joints3d[None], g.joints3d[None]))
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    all_tp = np.concatenate(tps) if tps else np.zeros(0, bool)
    net.train(was_training)
    r = real.summary()
    return {
        "images": n,
        "hands": num_gt,
        "ap50": average_precision(all_scores, all_tp, num_gt) if num_gt else float("nan"),
        "recall": float(all_tp.sum() / num_gt) if num_gt else float("nan"),
        "handedness_acc": float(np.mean(side_ok)) if side_ok else float("nan"),
        "kp2d_px": float(np.mean(kp_err)) if kp_err else float("nan"),
        "pa_mpjpe_mm": float(np.mean(pa)) if pa else float("nan"),
        "box_recall": r["recall"],
        "box_precision": r["precision"],
        "box_pck0.2": r["pck0.2_all"],
        "box_handedness_acc": r["handedness_acc"],
    }
