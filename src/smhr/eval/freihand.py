"""FreiHAND evaluation protocol, numerically matching the official script (lmb-freiburg/freihand,
`eval.py` + `utils/eval_util.py`), re-implemented batched in torch float64 without open3d.

Inputs, in the official layouts:
- predictions `pred.json` = [xyz_list, verts_list]: N entries of 21x3 joints and N entries of Vx3
  vertices, metres, camera frame. V = 778 (MANO topology) or anything else (e.g. the Anny hand);
- ground truth `<root>/evaluation_xyz.json` (N x 21 x 3) and `<root>/evaluation_verts.json`
  (N x 778 x 3) of the FreiHAND evaluation split (the official script reads `%s_xyz.json` /
  `%s_verts.json` with set_name 'evaluation').

What is computed (per sample, then averaged exactly as the official EvalUtil does):
- joints: unaligned, Procrustes-aligned (`align_w_scale`: similarity fit that may include a
  reflection, as scipy's orthogonal_procrustes) and scale-translation-aligned (`align_sc_tr`, from
  the HO3D / CodaLab variant of the script: scale by the wrist-to-thumb-tip length |J4 - J0|, then
  move the wrist onto the GT wrist) errors -> mean / median (mean over keypoints of per-keypoint
  medians) EPE and the PCK curve over np.linspace(0, 0.05, 100) m with its AUC;
- vertices, only when the prediction has the ground truth's topology (the official `shape_is_mano`,
  V == 778 for FreiHAND; 1609 for Anny-hand `smhr synth` sets): unaligned and independently
  Procrustes-aligned errors -> mean EPE, PCK, AUC. Our extension: scale-translation-aligned vertices
  (the joints' sc-tr transform applied to the vertices);
- F-scores at 5 mm and 15 mm between GT and predicted vertices, unaligned and aligned (strict `<`,
  as the official open3d-based `calculate_fscore`). For non-MANO topologies the official script
  aligns the vertices with `align_by_trafo`, which drops the prediction's normalisation scale and
  mixes centroids; we reproduce that for the official keys and ALSO report F-scores with the
  correct joint-derived similarity (`fscore_nonmano_fixed`).

Differences from the official script: it always iterates over db_size('evaluation') = 3960 samples
(a GT file of another length is either truncated or crashes); we evaluate every sample in the GT
files and require the prediction counts to match them, as its asserts do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from smhr.eval import metrics
from smhr.geometry.procrustes import procrustes_align
from smhr.hands.keypoints import NUM_KEYPOINTS

F_THRESHOLDS = (0.005, 0.015)  # metres (official f_threshs)
OFFICIAL_NUM_SAMPLES = 3960  # utils/fh_utils.py db_size('evaluation')
_NORM_EPS = 1e-8  # official align_w_scale adds this to both Frobenius norms


class FreiHandInputError(ValueError):
    """Bad prediction / ground-truth file; the message is one line naming the file and the fix."""


# ----------------------------------------------------------------------------- loading
def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise FreiHandInputError(f"{path}: file not found")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise FreiHandInputError(f"{path}: not readable JSON ({e})") from e


def _stack(entries: Any, path: Path, what: str, n_points: int | None) -> np.ndarray:
    """List of N [P, 3] lists -> float64 array [N, P, 3]; P fixed to n_points if given."""
    if not isinstance(entries, list) or len(entries) == 0:
        raise FreiHandInputError(f"{path}: {what} must be a non-empty list of [P, 3] point lists")
    try:
        arr = np.asarray(entries, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is None or arr.ndim != 3 or arr.shape[2] != 3:
        shapes = sorted({np.asarray(e, dtype=object).shape for e in entries[:1000]})[:3]
        raise FreiHandInputError(f"{path}: {what} entries must all be [P, 3] with one P; saw shapes {shapes}")
    if n_points is not None and arr.shape[1] != n_points:
        raise FreiHandInputError(f"{path}: {what} must have {n_points} points per sample, got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise FreiHandInputError(f"{path}: {what} contains NaN or inf")
    return arr


def load_ground_truth(root: str | Path, set_name: str = "evaluation",
                      keypoints: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read `<root>/<set>_xyz.json` [N, 21, 3] and `<root>/<set>_verts.json` [N, V, 3] (metres):
    V = 778 for FreiHAND itself, 1609 for `smhr synth --hand anny` sets. keypoints: the joints in
    that keypoint definition (the predicting net's, `SMHRConfig.keypoints`; matters for `smhr synth`
    sets only, `smhr.data.freihand.keypoints_in_definition`); None = as written."""
    root = Path(root)
    xyz_path, verts_path = root / f"{set_name}_xyz.json", root / f"{set_name}_verts.json"
    xyz = _stack(_read_json(xyz_path), xyz_path, "joints", NUM_KEYPOINTS)
    verts = _stack(_read_json(verts_path), verts_path, "vertices", None)
    if xyz.shape[0] != verts.shape[0]:
        raise FreiHandInputError(
            f"{verts_path}: {verts.shape[0]} samples, but {xyz_path.name} has {xyz.shape[0]} (mismatch)"
        )
    if keypoints is not None:
        from smhr.data.freihand import keypoints_in_definition

        xyz = keypoints_in_definition(root, xyz, keypoints)
    return xyz, verts


def load_predictions(path: str | Path, num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Read pred.json = [xyz_list (N x 21 x 3), verts_list (N x V x 3)] and check N == num_samples."""
    path = Path(path)
    pred = _read_json(path)
    if not isinstance(pred, list) or len(pred) != 2:
        raise FreiHandInputError(f"{path}: expected a JSON list [xyz_list, verts_list] of length 2")
    for i, what in enumerate(("xyz_list", "verts_list")):
        if not isinstance(pred[i], list) or len(pred[i]) != num_samples:
            got = len(pred[i]) if isinstance(pred[i], list) else type(pred[i]).__name__
            raise FreiHandInputError(
                f"{path}: {what} must have {num_samples} entries (one per GT sample), got {got}"
            )
    xyz = _stack(pred[0], path, "xyz_list", NUM_KEYPOINTS)
    verts = _stack(pred[1], path, "verts_list", None)
    return xyz, verts


def write_predictions(path: str | Path, xyz: np.ndarray, verts: np.ndarray) -> None:
    """Write predictions in the official submission layout [xyz_list, verts_list] (metres)."""
    with open(path, "w") as f:
        json.dump([np.asarray(xyz, np.float64).tolist(), np.asarray(verts, np.float64).tolist()], f)


# ----------------------------------------------------------------------------- alignments
def _t(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def align_procrustes_official(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Batched official `align_w_scale`: [B, P, 3] pred onto gt. Returns aligned pred and the pieces
    the official `return_trafo` exposes (needed by `align_by_trafo_official`).

    The official normalises both centred sets by (Frobenius norm + 1e-8) before the orthogonal
    Procrustes; up to that epsilon this is the optimal similarity with reflections allowed, which is
    what `procrustes_align(..., allow_reflection=True)` computes. We reproduce the epsilon exactly.
    """
    p, g = _t(pred), _t(gt)
    t_g, t_p = g.mean(dim=1, keepdim=True), p.mean(dim=1, keepdim=True)
    s_g = torch.linalg.vector_norm(g - t_g, dim=(1, 2)) + _NORM_EPS  # official s1
    s_p = torch.linalg.vector_norm(p - t_p, dim=(1, 2)) + _NORM_EPS  # official s2
    gn = (g - t_g) / s_g[:, None, None]
    pn = (p - t_p) / s_p[:, None, None]
    _, (s, R, _) = procrustes_align(pn, gn, allow_reflection=True)
    # procrustes_align's scale is sum(sv of cov/P) / (|pn|^2/P); the official one is sum(sv of cov)
    s_official = s * pn.square().sum(dim=(1, 2))
    aligned = (pn @ R.transpose(1, 2)) * s_official[:, None, None] * s_g[:, None, None] + t_g
    trafo = {"R": R, "s": s_official, "s1": s_g, "s2": s_p, "t_gt": t_g[:, 0], "t_pred": t_p[:, 0]}
    return aligned.numpy(), {k: v.numpy() for k, v in trafo.items()}


def align_by_trafo_official(verts_pred: np.ndarray, trafo: dict[str, np.ndarray]) -> np.ndarray:
    """The official `align_by_trafo` for non-MANO meshes, reproduced as is (including its flaws):
    (v - mean(v)) R^T * s * s1 + (t_gt - t_pred_joints) + mean(v). It omits the 1/s2 normalisation
    applied to the joints, so the aligned mesh is mis-scaled by |joints_pred - mean|_F."""
    v = verts_pred
    mv = v.mean(axis=1, keepdims=True)
    R, s, s1 = trafo["R"], trafo["s"], trafo["s1"]
    rot = np.einsum("bij,bkj->bki", R, v - mv)
    return rot * (s * s1)[:, None, None] + (trafo["t_gt"] - trafo["t_pred"])[:, None] + mv


def align_by_joints_fixed(verts_pred: np.ndarray, trafo: dict[str, np.ndarray]) -> np.ndarray:
    """The joint-derived similarity applied correctly to other points (what align_by_trafo meant)."""
    R, s, s1, s2 = trafo["R"], trafo["s"], trafo["s1"], trafo["s2"]
    rot = np.einsum("bij,bkj->bki", R, verts_pred - trafo["t_pred"][:, None])
    return rot * (s * s1 / s2)[:, None, None] + trafo["t_gt"][:, None]


def align_scale_translation(xyz_pred: np.ndarray, xyz_gt: np.ndarray,
                            other: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Batched `align_sc_tr`: scale pred so |J4 - J0| matches the GT's (skipped when the pred length
    is 0), then translate so the wrists coincide. `other` points (e.g. vertices [B, V, 3]) receive the
    same transform. Returns (aligned joints, aligned other or None)."""
    # Same order of operations as the official code (divide, multiply, subtract the wrist, add the GT
    # wrist), so the wrist error is exactly 0 and PCK at threshold 0 agrees bit for bit.
    s_p = np.sqrt(np.sum(np.square(xyz_pred[:, 4] - xyz_pred[:, 0]), axis=-1))[:, None, None]
    s_g = np.sqrt(np.sum(np.square(xyz_gt[:, 4] - xyz_gt[:, 0]), axis=-1))[:, None, None]
    div = np.where(s_p > 0, s_p, 1.0)
    scaled = xyz_pred / div * s_g
    wrist = scaled[:, :1]
    aligned = scaled - wrist + xyz_gt[:, :1]
    if other is None:
        return aligned, None
    return aligned, other / div * s_g - wrist + xyz_gt[:, :1]


# ----------------------------------------------------------------------------- evaluation
@dataclass
class ErrorStats:
    """EvalUtil.get_measures output for one error set (metres)."""

    mean: float  # mean over keypoints of the per-keypoint mean EPE
    median: float  # mean over keypoints of the per-keypoint median EPE
    auc: float
    pck: np.ndarray  # [100] PCK curve on metrics.FREIHAND_THRESHOLDS

    @classmethod
    def from_errors(cls, errors: np.ndarray) -> ErrorStats:
        curve = metrics.pck_curve(errors, metrics.FREIHAND_THRESHOLDS)
        return cls(
            mean=float(errors.mean(axis=0).mean()),
            median=float(np.median(errors, axis=0).mean()),
            auc=metrics.auc(curve, metrics.FREIHAND_THRESHOLDS),
            pck=curve,
        )

    def as_dict(self) -> dict[str, float]:
        return {"mean_mm": self.mean * 1000.0, "median_mm": self.median * 1000.0, "auc_0_50mm": self.auc}


def _errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def _fscores(verts_gt: np.ndarray, verts_pred: np.ndarray, bar: Any = None) -> dict[str, float]:
    """Mean F@5mm / F@15mm over samples; the nearest-neighbour search dominates the run time
    (~2-3 min for the 3960-sample set on one CPU thread), so it reports progress to `bar`."""
    chunk, parts = 64, []
    for i in range(0, verts_gt.shape[0], chunk):
        parts.append(metrics.fscore_batched(verts_pred[i : i + chunk], verts_gt[i : i + chunk], F_THRESHOLDS))
        if bar is not None:
            bar.update(parts[-1].shape[0])
    f = np.concatenate(parts).mean(axis=0)
    return {f"f@{round(t * 1000)}mm": float(v) for t, v in zip(F_THRESHOLDS, f, strict=True)}


def evaluate(xyz_gt: np.ndarray, verts_gt: np.ndarray, xyz_pred: np.ndarray,
             verts_pred: np.ndarray, progress: bool = False) -> dict[str, Any]:
    """Evaluate predictions against FreiHAND GT. All arrays metres, float64:
    xyz_gt [N, 21, 3], verts_gt [N, 778, 3], xyz_pred [N, 21, 3], verts_pred [N, V, 3].
    progress: show a tqdm bar (stderr) over the F-score computation.

    Returns the report dict (errors in mm, AUC in [0, 1], F in [0, 1]); see docs/evaluation.md.
    """
    n = xyz_gt.shape[0]
    if not (xyz_pred.shape == xyz_gt.shape and verts_gt.shape[0] == n and verts_pred.shape[0] == n):
        raise FreiHandInputError(
            f"evaluate: inconsistent shapes xyz_gt {xyz_gt.shape}, verts_gt {verts_gt.shape}, "
            f"xyz_pred {xyz_pred.shape}, verts_pred {verts_pred.shape}"
        )
    is_mano = verts_pred.shape[1] == verts_gt.shape[1]

    xyz_pa, trafo = align_procrustes_official(xyz_pred, xyz_gt)
    xyz_sctr, verts_sctr = align_scale_translation(xyz_pred, xyz_gt, verts_pred)
    joints = {
        "unaligned": ErrorStats.from_errors(_errors(xyz_pred, xyz_gt)),
        "procrustes": ErrorStats.from_errors(_errors(xyz_pa, xyz_gt)),
        "scale_translation": ErrorStats.from_errors(_errors(xyz_sctr, xyz_gt)),
    }
    if is_mano:
        verts_pa, _ = align_procrustes_official(verts_pred, verts_gt)
        verts = {
            "unaligned": ErrorStats.from_errors(_errors(verts_pred, verts_gt)),
            "procrustes": ErrorStats.from_errors(_errors(verts_pa, verts_gt)),
            "scale_translation": ErrorStats.from_errors(_errors(verts_sctr, verts_gt)),
        }
    else:
        verts_pa = align_by_trafo_official(verts_pred, trafo)
        verts = None

    extra = 1 if not is_mano else 0
    with tqdm(total=(3 + extra) * n, desc="F-scores", unit="sample", disable=not progress) as bar:
        fs = {
            "unaligned": _fscores(verts_gt, verts_pred, bar),
            "procrustes": _fscores(verts_gt, verts_pa, bar),
            "scale_translation": _fscores(verts_gt, verts_sctr, bar),
        }
        fixed = _fscores(verts_gt, align_by_joints_fixed(verts_pred, trafo), bar) if not is_mano else None
    report: dict[str, Any] = {
        "protocol": "freihand",
        "num_samples": int(n),
        "official_num_samples": OFFICIAL_NUM_SAMPLES,
        "pred_vertices": int(verts_pred.shape[1]),
        "mesh_is_mano": bool(is_mano),
        "summary": {
            "pa_mpjpe_mm": joints["procrustes"].mean * 1000.0,
            "pa_mpvpe_mm": verts["procrustes"].mean * 1000.0 if verts else None,
            "f@5mm": fs["procrustes"]["f@5mm"],
            "f@15mm": fs["procrustes"]["f@15mm"],
            "auc_joints_pa": joints["procrustes"].auc,
            "auc_vertices_pa": verts["procrustes"].auc if verts else None,
        },
        "joints": {k: v.as_dict() for k, v in joints.items()},
        "vertices": {k: v.as_dict() for k, v in verts.items()} if verts else None,
        "fscore": fs,
    }
    if not is_mano:
        report["fscore_nonmano_fixed"] = fixed
    report["official_scores_txt"] = _official_keys(joints, verts, fs)
    report["pck"] = {
        "thresholds_mm": (metrics.FREIHAND_THRESHOLDS * 1000.0).tolist(),
        **{f"joints_{k}": v.pck.tolist() for k, v in joints.items()},
        **({f"vertices_{k}": v.pck.tolist() for k, v in verts.items()} if verts else {}),
    }
    return report


def _official_keys(joints: dict[str, ErrorStats], verts: dict[str, ErrorStats] | None,
                   fs: dict[str, dict[str, float]]) -> dict[str, float]:
    """The values the official script writes to scores.txt, in its units (cm) and names."""
    out = {
        "xyz_mean3d": joints["unaligned"].mean * 100.0,
        "xyz_auc3d": joints["unaligned"].auc,
        "xyz_al_mean3d": joints["procrustes"].mean * 100.0,
        "xyz_al_auc3d": joints["procrustes"].auc,
        "xyz_scale_trans_al_mean3d": joints["scale_translation"].mean * 100.0,
        "xyz_scale_trans_al_auc3d": joints["scale_translation"].auc,
        "mesh_mean3d": verts["unaligned"].mean * 100.0 if verts else -100.0,
        "mesh_auc3d": verts["unaligned"].auc if verts else -1.0,
        "mesh_al_mean3d": verts["procrustes"].mean * 100.0 if verts else -100.0,
        "mesh_al_auc3d": verts["procrustes"].auc if verts else -1.0,
    }
    for t in F_THRESHOLDS:
        mm = round(t * 1000)
        out[f"f_score_{mm}"] = fs["unaligned"][f"f@{mm}mm"]
        out[f"f_al_score_{mm}"] = fs["procrustes"][f"f@{mm}mm"]
    return out


def evaluate_files(pred_path: str | Path, root: str | Path, progress: bool = False,
                   keypoints: str | None = None) -> dict[str, Any]:
    """Load GT from `root` (joints in the keypoint definition `keypoints`, see `load_ground_truth`)
    and predictions from `pred_path`, then `evaluate`."""
    xyz_gt, verts_gt = load_ground_truth(root, keypoints=keypoints)
    xyz_pred, verts_pred = load_predictions(pred_path, xyz_gt.shape[0])
    report = evaluate(xyz_gt, verts_gt, xyz_pred, verts_pred, progress=progress)
    report["pred_file"] = str(pred_path)
    report["gt_root"] = str(root)
    return report
