"""Dataset protocols beyond FreiHAND: multi-hand detection, RHD, InterHand2.6M and HO3D scores of a
model run over one of our loaders (`smhr eval dataset`).

One scorer for every dataset, because they share the question "which predicted hand is which
labelled hand": predictions are matched to labels per image by object keypoint similarity (OKS,
kappa 0.1 for all 21 keypoints, area = labelled keypoint-box area), greedily by score at OKS >= 0.5.
Then, over matched hands:
- all: detection AP50 (COCO 101-point), recall, precision, duplicates (an unmatched prediction
  whose best OKS >= 0.5 is a hand already taken), handedness accuracy, mean 2D keypoint error (px,
  visible keypoints), PA-MPJPE (mm; hands with 3D labels), camera-frame MPJPE and wrist depth error
  (mm; metric only when predicted in the labels' true K);
- "rhd": 3D PCK AUC over 20-50 mm of root-relative joints with the labelled root (wrist) and scale
  (index MCP -> PIP bone), the usual protocol of Zimmermann & Brox;
- "interhand": root-relative MPJPE (mm, root = wrist) per hand and MRRPE (mm) between the left and
  right wrists of images where both labelled hands were matched;
- "ho3d" and "freihand" (single hand): also PA-AUC over 0-50 mm.
A box-level label (a box but no visible keypoint: teacher v2's hands too small for its landmark
model, HO3D's evaluation split) is found by a prediction whose keypoint-box centre lies in its box
(similarity = the OKS threshold, so a prediction prefers a label it matches by keypoints).
Predictions are made in each sample's own camera K, so 3D numbers are metric when the model's depth
is right; PA-MPJPE and the RHD protocol do not depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smhr.data.sample import Sample
from smhr.eval import metrics
from smhr.eval.matching import centre_in, is_box_label, keypoint_box, match_by_similarity

OKS_KAPPA = 0.1
MATCH_OKS = 0.5
PROTOCOLS = ("multihand", "rhd", "interhand", "ho3d", "freihand")
RHD_THRESHOLDS_MM = np.linspace(20.0, 50.0, 31)
PA_THRESHOLDS_MM = np.linspace(0.0, 50.0, 101)
WRIST, INDEX_MCP, INDEX_PIP = 0, 5, 6


@dataclass
class Tally:
    """Running sums over images (see `score_image`)."""

    scores: list[np.ndarray] = field(default_factory=list)
    true_pos: list[np.ndarray] = field(default_factory=list)
    num_gt: int = 0
    predicted: int = 0
    duplicates: int = 0
    side_ok: list[bool] = field(default_factory=list)
    kp2d_err: list[float] = field(default_factory=list)
    pa_err: list[np.ndarray] = field(default_factory=list)  # [21] per matched hand, metres
    rr_err: list[np.ndarray] = field(default_factory=list)  # root-relative errors, metres
    rhd_err: list[np.ndarray] = field(default_factory=list)  # root + scale aligned, metres
    mrrpe: list[float] = field(default_factory=list)
    abs_err: list[np.ndarray] = field(default_factory=list)  # camera-frame joint errors, metres
    root_depth_err: list[float] = field(default_factory=list)  # |wrist depth error|, metres


def _area(kp: np.ndarray) -> float:
    wh = kp.max(0) - kp.min(0)
    return float(max(wh[0] * wh[1], 1.0))


def score_image(tally: Tally, hands: Sequence[Any], sample: Sample) -> None:
    """Add one image: `hands` have side, score, keypoints2d [21,2], joints3d [21,3] (camera frame).
    Labels with no visible keypoint and no box cannot be matched and are no hand to find (as in
    `smhr.eval.real`); MRRPE needs exactly one matched hand of each side."""
    gts = [g for g in sample.hands if g.visibility.any() or is_box_label(g)]
    tally.num_gt += len(gts)
    tally.predicted += len(hands)
    scores = np.array([h.score for h in hands], np.float64)
    if not hands:
        tally.scores.append(scores)
        tally.true_pos.append(np.zeros(0, bool))
        return
    if gts:
        oks = metrics.keypoint_similarity(
            np.stack([h.keypoints2d for h in hands]),
            np.stack([g.keypoints2d for g in gts]),
            np.array([_area(g.keypoints2d) for g in gts]),
            OKS_KAPPA,
            np.stack([g.visibility for g in gts]),
        )
        for j, g in enumerate(gts):  # a box-level label (box, no keypoint): found by its box
            if is_box_label(g):
                found = [centre_in(keypoint_box(h.keypoints2d), g.bbox) for h in hands]
                oks[:, j] = [MATCH_OKS if f else 0.0 for f in found]
    else:
        oks = np.zeros((len(hands), 0))
    match = match_by_similarity(oks, scores, MATCH_OKS)
    tally.scores.append(scores)
    tally.true_pos.append(match.tp)
    tally.duplicates += len(match.duplicates)
    taken = {j: hands[i] for i, j in match.pairs}
    for j, h in taken.items():
        g = gts[j]
        tally.side_ok.append(int(h.side) == int(g.side))
        vis = g.visibility
        if vis.any():
            tally.kp2d_err.append(float(np.linalg.norm(h.keypoints2d - g.keypoints2d, axis=1)[vis].mean()))
        if g.joints3d is not None:
            gj, pj = g.joints3d.astype(np.float64), np.asarray(h.joints3d, np.float64)
            tally.pa_err.append(metrics.pa_errors(pj, gj))
            tally.rr_err.append(np.linalg.norm((pj - pj[WRIST]) - (gj - gj[WRIST]), axis=1))
            tally.abs_err.append(np.linalg.norm(pj - gj, axis=1))
            tally.root_depth_err.append(abs(float(pj[WRIST, 2] - gj[WRIST, 2])))
            scale = np.linalg.norm(gj[INDEX_PIP] - gj[INDEX_MCP]) / max(
                np.linalg.norm(pj[INDEX_PIP] - pj[INDEX_MCP]), 1e-9
            )
            tally.rhd_err.append(np.linalg.norm((pj - pj[WRIST]) * scale - (gj - gj[WRIST]), axis=1))
    sides = {int(gts[j].side): j for j in taken}
    if len(taken) == len(sides) == 2 and all(gts[sides[s]].joints3d is not None for s in (0, 1)):
        pl, pr = (np.asarray(taken[sides[s]].joints3d, np.float64)[WRIST] for s in (0, 1))
        gl, gr = (gts[sides[s]].joints3d.astype(np.float64)[WRIST] for s in (0, 1))
        tally.mrrpe.append(float(np.linalg.norm((pr - pl) - (gr - gl))))


def summarise(tally: Tally, protocol: str) -> dict[str, Any]:
    """The report of a protocol (metres -> millimetres; None where no hand had the needed labels)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    tp = np.concatenate(tally.true_pos) if tally.true_pos else np.zeros(0, bool)
    sc = np.concatenate(tally.scores) if tally.scores else np.zeros(0)
    matched = int(tp.sum())

    def mm(errs: list[np.ndarray]) -> float | None:
        return float(np.mean(np.concatenate(errs)) * 1e3) if errs else None

    out: dict[str, Any] = {
        "protocol": protocol,
        "labelled_hands": tally.num_gt,
        "predicted_hands": tally.predicted,
        "matched_hands": matched,
        "ap50": metrics.average_precision(sc, tp, tally.num_gt) if tally.num_gt else None,
        "recall": matched / tally.num_gt if tally.num_gt else None,
        "precision": matched / tally.predicted if tally.predicted else None,
        "duplicates": tally.duplicates,
        "handedness_accuracy": float(np.mean(tally.side_ok)) if tally.side_ok else None,
        "kp2d_error_px": float(np.mean(tally.kp2d_err)) if tally.kp2d_err else None,
        "pa_mpjpe_mm": mm(tally.pa_err),
        # camera-frame (metric) errors: meaningful only when predicted in the labels' true K
        "mpjpe_mm": mm(tally.abs_err),
        "root_depth_error_mm": float(np.mean(tally.root_depth_err) * 1e3) if tally.root_depth_err else None,
        "match": {"oks_kappa": OKS_KAPPA, "oks_threshold": MATCH_OKS},
    }
    if protocol == "rhd":
        out |= {"pck3d_auc_20_50mm": None, "epe3d_mm": None}
    if protocol in ("ho3d", "freihand"):
        out["auc_pa_0_50mm"] = None
    if protocol == "rhd" and tally.rhd_err:
        errs = np.stack(tally.rhd_err) * 1e3
        curve = metrics.pck_curve(errs, RHD_THRESHOLDS_MM)
        out |= {
            "pck3d_auc_20_50mm": metrics.auc(curve, RHD_THRESHOLDS_MM),
            "epe3d_mm": float(errs.mean()),
            "pck3d_curve": {"thresholds_mm": RHD_THRESHOLDS_MM.tolist(), "pck": curve.tolist()},
        }
    if protocol == "interhand":
        out |= {
            "mpjpe_root_relative_mm": mm(tally.rr_err),
            "mrrpe_mm": float(np.mean(tally.mrrpe) * 1e3) if tally.mrrpe else None,
            "two_hand_images_scored": len(tally.mrrpe),
        }
    if protocol in ("ho3d", "freihand") and tally.pa_err:
        errs = np.stack(tally.pa_err) * 1e3
        curve = metrics.pck_curve(errs, PA_THRESHOLDS_MM)
        out |= {
            "auc_pa_0_50mm": metrics.auc(curve, PA_THRESHOLDS_MM),
            "pck3d_curve": {"thresholds_mm": PA_THRESHOLDS_MM.tolist(), "pck": curve.tolist()},
        }
    return out


def evaluate_dataset(rec, dataset, protocol: str, limit: int | None = None, progress: bool = False) -> dict:
    """Run a `Reconstructor` over a SampleDataset (each image in its own K) and score it."""
    from tqdm import tqdm

    n = len(dataset) if limit is None else min(limit, len(dataset))
    tally = Tally()
    for i in tqdm(range(n), desc=f"eval {protocol}", unit="img", disable=not progress):
        s = dataset[i]
        score_image(tally, rec.predict(s.image, K=s.K), s)
    return {"num_images": n, **summarise(tally, protocol)}
