"""FreiHAND protocol: numbers equal to the official eval.py logic, file checks, and the CLI."""

import json

import numpy as np
import pytest
import roma
import torch
from scipy.linalg import orthogonal_procrustes
from typer.testing import CliRunner

from smhr.eval import freihand
from smhr.eval.cli import eval_app


# ----------------------------------------------------------------------------- the official logic
def _official_align_w_scale(gt, pred, return_trafo=False):
    """lmb-freiburg/freihand eval.py align_w_scale, restated per sample with scipy."""
    t1, t2 = gt.mean(0), pred.mean(0)
    a, b = gt - t1, pred - t2
    s1 = np.linalg.norm(a) + 1e-8
    s2 = np.linalg.norm(b) + 1e-8
    R, s = orthogonal_procrustes(a / s1, b / s2)
    if return_trafo:
        return R, s, s1, t1 - t2
    return (b / s2) @ R.T * s * s1 + t1


def _official_by_trafo(v, trafo):
    R, s, s1, t = trafo
    m = v.mean(0)
    return (v - m) @ R.T * s * s1 + t + m


def _official_sc_tr(gt, pred):
    s = np.linalg.norm(pred[4] - pred[0])
    p = pred / s if s > 0 else pred.copy()
    p = p * np.linalg.norm(gt[4] - gt[0])
    return p - p[0:1] + gt[0:1]


def _official_fscore(gt, pr, th):
    d_gt = np.array([np.min(np.linalg.norm(pr - g, axis=1)) for g in gt])
    d_pr = np.array([np.min(np.linalg.norm(gt - p, axis=1)) for p in pr])
    recall, precision = np.mean(d_pr < th), np.mean(d_gt < th)
    return 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0


def _official_measures(dists):
    """EvalUtil.get_measures(0, 0.05, 100) on per-keypoint distance lists [samples, kp]."""
    thr = np.linspace(0.0, 0.05, 100)
    norm = np.trapezoid(np.ones_like(thr), thr)
    means, aucs = [], []
    for k in range(dists.shape[1]):
        d = dists[:, k]
        means.append(d.mean())
        aucs.append(np.trapezoid([np.mean(d <= t) for t in thr], thr) / norm)
    return float(np.mean(means)), float(np.mean(aucs))


def _official_scores(xyz, verts, xyz_p, verts_p):
    mano = verts_p.shape[1] == verts.shape[1]
    e = {k: [] for k in ("xyz", "xyz_al", "xyz_sctr", "mesh", "mesh_al")}
    f, fa = [], []
    for i in range(len(xyz)):
        e["xyz"].append(np.linalg.norm(xyz[i] - xyz_p[i], axis=1))
        e["xyz_sctr"].append(np.linalg.norm(xyz[i] - _official_sc_tr(xyz[i], xyz_p[i]), axis=1))
        e["xyz_al"].append(np.linalg.norm(xyz[i] - _official_align_w_scale(xyz[i], xyz_p[i]), axis=1))
        if mano:
            e["mesh"].append(np.linalg.norm(verts[i] - verts_p[i], axis=1))
            va = _official_align_w_scale(verts[i], verts_p[i])
            e["mesh_al"].append(np.linalg.norm(verts[i] - va, axis=1))
        else:
            va = _official_by_trafo(verts_p[i], _official_align_w_scale(xyz[i], xyz_p[i], True))
        f.append([_official_fscore(verts[i], verts_p[i], t) for t in (0.005, 0.015)])
        fa.append([_official_fscore(verts[i], va, t) for t in (0.005, 0.015)])
    out = {}
    for key, name in (("xyz", "xyz"), ("xyz_al", "xyz_al"), ("xyz_sctr", "xyz_scale_trans_al")):
        m, a = _official_measures(np.array(e[key]))
        out[f"{name}_mean3d"], out[f"{name}_auc3d"] = m * 100, a
    for key, name in (("mesh", "mesh"), ("mesh_al", "mesh_al")):
        m, a = _official_measures(np.array(e[key])) if mano else (-1.0, -1.0)
        out[f"{name}_mean3d"], out[f"{name}_auc3d"] = m * 100, a
    f, fa = np.array(f).mean(0), np.array(fa).mean(0)
    out.update(f_score_5=f[0], f_al_score_5=fa[0], f_score_15=f[1], f_al_score_15=fa[1])
    return out


# ----------------------------------------------------------------------------- fixtures
def _gt(n=3, seed=0):
    rng = np.random.default_rng(seed)
    verts = rng.normal(scale=0.03, size=(n, 778, 3)) + np.array([0.0, 0.0, 0.7])
    xyz = verts[:, rng.choice(778, 21, replace=False)] + rng.normal(scale=0.002, size=(n, 21, 3))
    return xyz, verts


def _write_root(tmp_path, xyz, verts):
    root = tmp_path / "FreiHAND"
    root.mkdir()
    (root / "evaluation_xyz.json").write_text(json.dumps(xyz.tolist()))
    (root / "evaluation_verts.json").write_text(json.dumps(verts.tolist()))
    return root


def _noisy(xyz, verts, seed=1):
    rng = np.random.default_rng(seed)
    R = roma.random_rotmat(len(xyz), dtype=torch.float64).numpy()
    xp = 1.1 * np.einsum("bij,bnj->bni", R, xyz) + rng.normal(scale=0.006, size=xyz.shape) + 0.05
    vp = 1.1 * np.einsum("bij,bnj->bni", R, verts) + rng.normal(scale=0.004, size=verts.shape) + 0.05
    return xp, vp


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("mano", [True, False])
def test_matches_official_logic(mano):
    xyz, verts = _gt()
    xp, vp = _noisy(xyz, verts)
    if not mano:
        vp = vp[:, :300]  # another topology: the official non-MANO branch
    ours = freihand.evaluate(xyz, verts, xp, vp)
    ref = _official_scores(xyz, verts, xp, vp)
    assert set(ref) <= set(ours["official_scores_txt"])
    for k, v in ref.items():
        assert ours["official_scores_txt"][k] == pytest.approx(v, abs=1e-9), k
    assert 0.0 < ref["f_al_score_5"] < 1.0  # the fixture exercises the threshold, not a corner
    assert ours["mesh_is_mano"] is mano
    if not mano:
        assert ours["vertices"] is None and "fscore_nonmano_fixed" in ours


def test_exact_similarity_gives_perfect_aligned_scores():
    xyz, verts = _gt()
    R = roma.random_rotmat(3, dtype=torch.float64).numpy()
    def sim(p):
        return 0.6 * np.einsum("bij,bnj->bni", R, p) + [0.1, 0.2, 0.3]
    rep = freihand.evaluate(xyz, verts, sim(xyz), sim(verts))
    s = rep["summary"]
    # not exactly 0: the official +1e-8 on both Frobenius norms leaves nanometre-level residuals
    assert s["pa_mpjpe_mm"] < 1e-4 and s["pa_mpvpe_mm"] < 1e-4
    assert s["f@5mm"] == 1.0 and s["f@15mm"] == 1.0
    # errors are ~1e-9 m > 0, so only the threshold-0 point of the PCK curve misses: AUC = 1 - 0.5/99
    assert s["auc_joints_pa"] == pytest.approx(1 - 0.5 / 99)
    assert s["auc_vertices_pa"] == pytest.approx(1 - 0.5 / 99)
    assert rep["joints"]["unaligned"]["mean_mm"] > 50.0


def test_constant_offsets_give_computable_errors():
    xyz, verts = _gt()
    # translation by 10 mm: unaligned errors exactly 10 mm, sc-tr and PA remove it
    shift = np.array([0.0, 0.006, 0.008])
    rep = freihand.evaluate(xyz, verts, xyz + shift, verts + shift)
    assert rep["joints"]["unaligned"]["mean_mm"] == pytest.approx(10.0)
    assert rep["vertices"]["unaligned"]["mean_mm"] == pytest.approx(10.0)
    assert rep["joints"]["scale_translation"]["mean_mm"] == pytest.approx(0.0, abs=1e-9)
    # AUC of a constant 10 mm error on linspace(0, 50 mm, 100): PCK 1 from the first threshold >= 10 mm
    thr = np.linspace(0, 0.05, 100)
    i = int(np.argmax(thr >= 0.010))
    expected = (thr[-1] - thr[i] + 0.5 * (thr[i] - thr[i - 1])) / 0.05
    assert rep["joints"]["unaligned"]["auc_0_50mm"] == pytest.approx(expected)


def test_fscore_of_a_grid_shifted_by_10mm():
    g = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(8), indexing="ij"), -1).reshape(-1, 3)
    verts = (g[:778] * 0.03)[None].repeat(2, 0)
    xyz = verts[:, :21]
    d = np.array([0.01, 0.0, 0.0])
    rep = freihand.evaluate(xyz, verts, xyz + d, verts + d)
    assert rep["fscore"]["unaligned"] == {"f@5mm": 0.0, "f@15mm": 1.0}
    assert rep["fscore"]["procrustes"] == {"f@5mm": 1.0, "f@15mm": 1.0}


def test_cli_writes_report_and_curve(tmp_path):
    xyz, verts = _gt()
    root = _write_root(tmp_path, xyz, verts)
    xp, vp = _noisy(xyz, verts)
    pred = tmp_path / "pred.json"
    freihand.write_predictions(pred, xp, vp)
    out, png = tmp_path / "out" / "report.json", tmp_path / "pck.png"
    res = CliRunner().invoke(eval_app, ["freihand", "--pred", str(pred), "--root", str(root),
                                        "--out", str(out), "--curve", str(png)])
    assert res.exit_code == 0, res.output
    assert "PA-MPJPE" in res.output
    rep = json.loads(out.read_text())
    assert rep["num_samples"] == 3 and rep["pred_vertices"] == 778
    assert set(rep["summary"]) == {"pa_mpjpe_mm", "pa_mpvpe_mm", "f@5mm", "f@15mm",
                                   "auc_joints_pa", "auc_vertices_pa"}
    ref = _official_scores(xyz, verts, xp, vp)
    assert rep["summary"]["pa_mpjpe_mm"] == pytest.approx(ref["xyz_al_mean3d"] * 10, abs=1e-9)
    assert rep["summary"]["pa_mpvpe_mm"] == pytest.approx(ref["mesh_al_mean3d"] * 10, abs=1e-9)
    assert rep["summary"]["f@15mm"] == pytest.approx(ref["f_al_score_15"])
    assert len(rep["pck"]["thresholds_mm"]) == 100 and len(rep["pck"]["joints_procrustes"]) == 100
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_inputs_give_one_line_errors(tmp_path):
    xyz, verts = _gt()
    root = _write_root(tmp_path, xyz, verts)
    pred = tmp_path / "pred.json"
    freihand.write_predictions(pred, xyz[:2], verts[:2])
    res = CliRunner().invoke(eval_app, ["freihand", "--pred", str(pred), "--root", str(root)])
    assert res.exit_code == 2
    assert str(pred) in res.output and "3 entries" in res.output
    pred.write_text(json.dumps([xyz[:, :20].tolist(), verts.tolist()]))
    res = CliRunner().invoke(eval_app, ["freihand", "--pred", str(pred), "--root", str(root)])
    assert res.exit_code == 2 and "21 points" in res.output
    res = CliRunner().invoke(eval_app, ["freihand", "--pred", str(pred), "--root", str(tmp_path)])
    assert res.exit_code == 2 and "evaluation_xyz.json: file not found" in res.output


def test_eval_is_registered_on_the_root_cli():
    from smhr.cli import app

    res = CliRunner().invoke(app, ["eval", "freihand", "--help"])
    assert res.exit_code == 0 and "--root" in res.output


def test_anny_topology_ground_truth_gets_vertex_scores(tmp_path):
    """`smhr synth --hand anny` sets hold 1609-vertex meshes: read them and score vertex-wise."""
    rng = np.random.default_rng(3)
    verts = rng.normal(scale=0.03, size=(2, 1609, 3)) + np.array([0.0, 0.0, 0.7])
    xyz = verts[:, :21].copy()
    root = _write_root(tmp_path, xyz, verts)
    gx, gv = freihand.load_ground_truth(root)
    assert gv.shape == (2, 1609, 3)
    rep = freihand.evaluate(gx, gv, xyz + 0.01, verts + 0.01)
    assert rep["mesh_is_mano"] and rep["summary"]["pa_mpvpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert rep["vertices"]["unaligned"]["mean_mm"] == pytest.approx(10.0 * np.sqrt(3))
