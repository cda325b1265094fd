"""Evaluation metrics for 3D hand pose/mesh, 2D keypoints and multi-hand detection.

Inputs may be numpy arrays or torch tensors; computation runs in torch float64 (CPU unless the input
lives on a GPU) and results come back as Python floats or numpy arrays. Units follow the input:
3D inputs are metres (package convention), so errors come out in metres and thresholds are in
metres — multiply by 1000 for the customary millimetres (`eval.report` does that). 2D inputs are
pixels.

Conventions worth knowing:
- PCK / AUC follow the official FreiHAND `EvalUtil`: a point is correct when its error is <= the
  threshold; the curve is computed per keypoint (over the samples where it is valid) and then
  averaged over keypoints; AUC = trapz(curve, thresholds) / trapz(1, thresholds).
- F-score follows the FreiHAND script: nearest-neighbour distances in both directions, a point
  counts when its distance is STRICTLY below the threshold. Here precision = fraction of predicted
  points near the GT, recall = fraction of GT points near the prediction (the official script names
  the two the other way round; F = 2PR / (P + R) is symmetric, so the numbers agree).
- Detection AP: greedy matching by descending score, each GT used once (COCO style); AP either by
  COCO's 101-point interpolation (default) or the VOC all-points area.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from smhr.eval.matching import match_by_similarity
from smhr.geometry.procrustes import procrustes_align

ArrayLike = np.ndarray | torch.Tensor

FREIHAND_THRESHOLDS = np.linspace(0.0, 0.05, 100)  # metres; official PCK/AUC range 0-50 mm, 100 steps


def _t(x: ArrayLike | Sequence, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def _mask(mask: ArrayLike | None, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    m = _t(mask).to(device) > 0.5
    if tuple(m.shape) != tuple(shape):
        raise ValueError(f"mask must have shape {tuple(shape)}, got {tuple(m.shape)}")
    return m


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, name: str) -> None:
    if pred.shape != gt.shape or pred.ndim < 2:
        raise ValueError(f"{name}: pred and gt must have the same [..., N, D] shape, got "
                         f"{tuple(pred.shape)} and {tuple(gt.shape)}")


# ----------------------------------------------------------------------------- 3D errors
def point_errors(pred: ArrayLike, gt: ArrayLike) -> np.ndarray:
    """Euclidean distance per point: [..., N, D] x2 -> [..., N] (input units)."""
    p, g = _t(pred), _t(gt)
    _check_pair(p, g, "point_errors")
    return torch.linalg.vector_norm(p - g, dim=-1).cpu().numpy()


def _masked_mean(err: np.ndarray, mask: ArrayLike | None) -> float:
    m = _mask(mask, err.shape, torch.device("cpu")).numpy()
    if not m.any():
        raise ValueError("no valid points to average (mask is all zero)")
    return float(err[m].mean())


def mpjpe(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None, root: int | None = None) -> float:
    """Mean per-joint position error over all valid points of [B, N, 3] (input units).

    root: if given, both sets are first made relative to that joint (e.g.
    `smhr.hands.keypoints.ROOT_INDEX` = 9).
    """
    p, g = _t(pred), _t(gt)
    _check_pair(p, g, "mpjpe")
    if root is not None:
        p = p - p[..., root : root + 1, :]
        g = g - g[..., root : root + 1, :]
    return _masked_mean(point_errors(p, g), mask)


def pa_errors(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> np.ndarray:
    """Per-point errors [B, N] after similarity Procrustes of each pred onto its gt (input units).

    The fit uses only valid points (mask [B, N]); errors are returned for all points.
    """
    p, g = _t(pred), _t(gt)
    _check_pair(p, g, "pa_errors")
    if p.ndim == 2:
        p, g = p[None], g[None]
        m = None if mask is None else _t(mask)[None]
        aligned, _ = procrustes_align(p, g, m)
        return point_errors(aligned, g)[0]
    aligned, _ = procrustes_align(p, g, None if mask is None else _t(mask))
    return point_errors(aligned, g)


def pa_mpjpe(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Procrustes-aligned mean point error: the mean of `pa_errors` over valid points of [B, N, 3]
    (input units). For joints this is PA-MPJPE; for same-topology vertices it is PA-MPVPE (each
    set aligned with its own fit, as the FreiHAND script does for MANO meshes)."""
    return _masked_mean(pa_errors(pred, gt, mask), mask)


# ----------------------------------------------------------------------------- PCK / AUC
def pck_curve(errors: ArrayLike, thresholds: ArrayLike = FREIHAND_THRESHOLDS,
              mask: ArrayLike | None = None) -> np.ndarray:
    """PCK curve [T] from per-point errors [B, N] (same unit as thresholds [T]).

    Per point index n: fraction of valid samples with error <= t; then the mean over point indices
    that have at least one valid sample (FreiHAND EvalUtil semantics).
    """
    e = _t(errors)
    if e.ndim == 1:
        e = e[None]
    m = _mask(mask, tuple(e.shape), e.device)
    thr = _t(thresholds)
    valid = m.sum(dim=0)  # [N]
    keep = valid > 0
    if not keep.any():
        raise ValueError("pck_curve: no valid points")
    hits = ((e[None] <= thr[:, None, None]) & m[None]).sum(dim=1).to(torch.float64)  # [T, N]
    per_point = hits[:, keep] / valid[keep].to(torch.float64)
    return per_point.mean(dim=1).cpu().numpy()


def auc(curve: ArrayLike, thresholds: ArrayLike = FREIHAND_THRESHOLDS) -> float:
    """Normalised area under a PCK curve: trapz(curve, thr) / (thr[-1] - thr[0]); in [0, 1]."""
    c = np.asarray(_t(curve).cpu().numpy(), dtype=np.float64)
    x = np.asarray(_t(thresholds).cpu().numpy(), dtype=np.float64)
    if c.shape != x.shape or x.size < 2:
        raise ValueError(f"auc: curve and thresholds must be equal-length 1-D, got {c.shape}, {x.shape}")
    return float(np.trapezoid(c, x) / np.trapezoid(np.ones_like(x), x))


def pck_2d(pred_uv: ArrayLike, gt_uv: ArrayLike, threshold_px: float, mask: ArrayLike | None = None) -> float:
    """Fraction of valid 2D keypoints within `threshold_px` pixels (<=) of the GT; [..., N, 2] inputs."""
    err = point_errors(pred_uv, gt_uv)
    m = _mask(mask, err.shape, torch.device("cpu")).numpy()
    if not m.any():
        raise ValueError("pck_2d: no valid keypoints")
    return float((err[m] <= threshold_px).mean())


# ----------------------------------------------------------------------------- F-score
def nearest_distances(a: ArrayLike, b: ArrayLike, chunk: int = 4096) -> np.ndarray:
    """For each point of a [M, 3], the distance to its nearest neighbour in b [K, 3] -> [M].

    Exact (no matrix-multiplication shortcut), chunked over a to bound memory at chunk x K.
    """
    ta, tb = _t(a), _t(b)
    if ta.ndim != 2 or tb.ndim != 2 or ta.shape[1] != tb.shape[1]:
        raise ValueError(
            f"nearest_distances: need [M, D] and [K, D], got {tuple(ta.shape)}, {tuple(tb.shape)}"
        )
    if ta.shape[0] == 0 or tb.shape[0] == 0:
        return np.full(ta.shape[0], np.inf)
    out = [
        torch.cdist(ta[i : i + chunk], tb, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values
        for i in range(0, ta.shape[0], chunk)
    ]
    return torch.cat(out).cpu().numpy()


def fscore_batched(pred: ArrayLike, gt: ArrayLike, thresholds: Sequence[float]) -> np.ndarray:
    """Per-sample F-scores [B, T] for pred [B, K, 3] vs gt [B, M, 3] at each threshold (see `fscore`)."""
    tp, tg = _t(pred), _t(gt)
    if tp.ndim != 3 or tg.ndim != 3 or tp.shape[0] != tg.shape[0] or tp.shape[2] != tg.shape[2]:
        raise ValueError(f"fscore_batched: need [B,K,D], [B,M,D]; got {tuple(tp.shape)}, {tuple(tg.shape)}")
    d_pred_l, d_gt_l = [], []
    for i in range(0, tp.shape[0], 16):  # one exact distance matrix per sample serves both directions
        D = torch.cdist(tp[i : i + 16], tg[i : i + 16], compute_mode="donot_use_mm_for_euclid_dist")
        d_pred_l.append(D.min(dim=2).values)
        d_gt_l.append(D.min(dim=1).values)
    d_pred = torch.cat(d_pred_l).numpy()  # [B, K]
    d_gt = torch.cat(d_gt_l).numpy()  # [B, M]
    thr = np.asarray(thresholds, dtype=np.float64)
    precision = (d_pred[:, None, :] < thr[None, :, None]).mean(axis=2)  # [B, T]
    recall = (d_gt[:, None, :] < thr[None, :, None]).mean(axis=2)
    denom = precision + recall
    return np.where(denom > 0, 2.0 * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)


def fscore(pred: ArrayLike, gt: ArrayLike, threshold: float) -> tuple[float, float, float]:
    """F-score between two point sets at a distance threshold (input units).

    pred [K, 3], gt [M, 3] (any sizes; no correspondence needed). Returns (F, precision, recall);
    precision = fraction of pred points whose nearest GT point is < threshold, recall = fraction of
    GT points whose nearest pred point is < threshold. Empty sets give (0, 0, 0).
    """
    d_pred = nearest_distances(pred, gt)
    d_gt = nearest_distances(gt, pred)
    if d_pred.size == 0 or d_gt.size == 0:
        return 0.0, 0.0, 0.0
    precision = float((d_pred < threshold).mean())
    recall = float((d_gt < threshold).mean())
    f = 2.0 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return f, precision, recall


# ----------------------------------------------------------------------------- hands, two-hand
def handedness_accuracy(pred: ArrayLike, gt: ArrayLike) -> float:
    """Fraction of hands whose predicted side (0 left, 1 right) equals the GT side; [K] each."""
    p, g = _t(pred).round(), _t(gt).round()
    if p.shape != g.shape or p.numel() == 0:
        raise ValueError(
            f"handedness_accuracy: need equal non-empty shapes, got {tuple(p.shape)}, {tuple(g.shape)}"
        )
    return float((p == g).to(torch.float64).mean())


def mrrpe(pred_left_root: ArrayLike, pred_right_root: ArrayLike,
          gt_left_root: ArrayLike, gt_right_root: ArrayLike) -> float:
    """Mean relative-root position error between two hands (InterHand2.6M / IntagHand usage).

    Inputs [B, 3] (input units). Error = |(pred_right - pred_left) - (gt_right - gt_left)|, averaged.
    """
    pl, pr, gl, gr = (_t(x) for x in (pred_left_root, pred_right_root, gt_left_root, gt_right_root))
    if not (pl.shape == pr.shape == gl.shape == gr.shape) or pl.shape[-1] != 3:
        raise ValueError("mrrpe: all four root arrays must be [B, 3]")
    return float(torch.linalg.vector_norm((pr - pl) - (gr - gl), dim=-1).mean())


# ----------------------------------------------------------------------------- detection
def box_iou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """IoU matrix [P, G] between boxes a [P, 4] and b [G, 4] in (x1, y1, x2, y2) pixels."""
    ta, tb = _t(a).reshape(-1, 4), _t(b).reshape(-1, 4)
    lt = torch.maximum(ta[:, None, :2], tb[None, :, :2])
    rb = torch.minimum(ta[:, None, 2:], tb[None, :, 2:])
    inter = (rb - lt).clamp_min(0).prod(dim=-1)
    area_a = (ta[:, 2:] - ta[:, :2]).clamp_min(0).prod(dim=-1)
    area_b = (tb[:, 2:] - tb[:, :2]).clamp_min(0).prod(dim=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(union)).numpy()


def keypoint_similarity(pred_uv: ArrayLike, gt_uv: ArrayLike, gt_area: ArrayLike,
                        kappa: float | ArrayLike = 0.05, gt_vis: ArrayLike | None = None) -> np.ndarray:
    """COCO-style object keypoint similarity matrix [P, G].

    pred_uv [P, N, 2], gt_uv [G, N, 2] pixels; gt_area [G] px^2 (e.g. box area); kappa: per-keypoint
    falloff k_n (COCO's 2 * sigma_n), scalar or [N]. OKS = mean over visible GT keypoints of
    exp(-d^2 / (2 * area * k_n^2)). The default kappa = 0.05 is this package's choice (uniform over
    the 21 hand keypoints), not a published constant; pass the set you compare against.
    """
    p, g, area = _t(pred_uv), _t(gt_uv), _t(gt_area).reshape(-1)
    if p.ndim != 3 or g.ndim != 3 or p.shape[1:] != g.shape[1:] or area.shape[0] != g.shape[0]:
        raise ValueError("keypoint_similarity: need pred [P, N, 2], gt [G, N, 2], gt_area [G]")
    k = _t(kappa).reshape(-1)
    vis = _mask(gt_vis, tuple(g.shape[:2]), g.device).to(torch.float64)
    d2 = ((p[:, None] - g[None]) ** 2).sum(-1)  # [P, G, N]
    e = torch.exp(-d2 / (2.0 * area[None, :, None].clamp_min(1e-12) * k.square()))
    nv = vis.sum(dim=1).clamp_min(1.0)  # [G]
    return ((e * vis[None]).sum(-1) / nv[None]).numpy()


def average_precision(scores: ArrayLike, true_positive: ArrayLike, num_gt: int,
                      method: Literal["coco101", "voc"] = "coco101") -> float:
    """AP from pooled detections (all images): scores [D], true_positive [D] bool, num_gt total GTs.

    coco101: mean over recall r in {0, 0.01, ..., 1} of the maximum precision at recall >= r (0 if
    unreached), as pycocotools. voc: area under the monotone precision envelope at every recall step
    (VOC2010+ "all points"). No GT at all -> nan (undefined).
    """
    if num_gt <= 0:
        return float("nan")
    sc = np.asarray(_t(scores).numpy(), dtype=np.float64).reshape(-1)
    tp = np.asarray(_t(true_positive).numpy()).reshape(-1) > 0.5
    if sc.shape != tp.shape:
        raise ValueError("average_precision: scores and true_positive must have the same length")
    if sc.size == 0:
        return 0.0
    order = np.argsort(-sc, kind="stable")
    tp_c = np.cumsum(tp[order])
    fp_c = np.cumsum(~tp[order])
    recall = tp_c / float(num_gt)
    precision = tp_c / np.maximum(tp_c + fp_c, 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # max precision at recall >= here
    if method == "coco101":
        levels = np.linspace(0.0, 1.0, 101)
        idx = np.searchsorted(recall, levels, side="left")
        vals = np.where(idx < recall.size, envelope[np.minimum(idx, recall.size - 1)], 0.0)
        return float(vals.mean())
    if method == "voc":
        r = np.concatenate([[0.0], recall])
        return float(np.sum((r[1:] - r[:-1]) * envelope))
    raise ValueError(f"average_precision: method must be 'coco101' or 'voc', got {method!r}")


def detection_ap(per_image_similarity: Sequence[ArrayLike], per_image_scores: Sequence[ArrayLike],
                 per_image_num_gt: Sequence[int], threshold: float,
                 method: Literal["coco101", "voc"] = "coco101") -> float:
    """AP over a set of images at one similarity threshold (e.g. IoU 0.5 or OKS 0.5).

    per_image_similarity[i]: [P_i, G_i] (box_iou or keypoint_similarity); per_image_scores[i]: [P_i];
    per_image_num_gt[i] = G_i. Matches greedily per image, pools detections, then `average_precision`.
    """
    if not (len(per_image_similarity) == len(per_image_scores) == len(per_image_num_gt)):
        raise ValueError("detection_ap: the three per-image lists must have the same length")
    all_scores, all_tp = [], []
    for sim, sc, g in zip(per_image_similarity, per_image_scores, per_image_num_gt, strict=True):
        sc = np.asarray(_t(sc).numpy()).reshape(-1)
        sim = np.asarray(_t(sim).numpy()).reshape(sc.size, int(g))
        all_scores.append(sc)
        all_tp.append(match_by_similarity(sim, sc, threshold).tp)
    return average_precision(np.concatenate(all_scores) if all_scores else np.zeros(0),
                             np.concatenate(all_tp) if all_tp else np.zeros(0, bool),
                             int(sum(per_image_num_gt)), method)
