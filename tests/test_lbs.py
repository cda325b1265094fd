"""lbs(): rotations, kinematic chain and skinning against an independent per-joint 4x4 reference."""

import numpy as np
import pytest
import roma
import torch

from smhr.hands.keypoints import MANO_PARENTS
from smhr.hands.lbs import chain_levels, kinematic_chain, lbs, rotvec_to_rotmat


def test_rotvec_to_rotmat_matches_roma_and_is_orthonormal():
    g = torch.Generator().manual_seed(0)
    r = torch.randn(50, 3, generator=g, dtype=torch.float64) * 1.5
    r[0] = 0
    r[1] = 1e-6
    R = rotvec_to_rotmat(r)
    assert torch.allclose(R, roma.rotvec_to_rotmat(r), atol=1e-12)
    assert torch.allclose(
        R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(50, 3, 3), atol=1e-12
    )


def test_rotvec_gradient_at_zero_is_the_skew_generator():
    r = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    jac = torch.autograd.functional.jacobian(rotvec_to_rotmat, r)  # [3,3,3]
    assert torch.isfinite(jac).all()
    # dR/dr_x at 0 = [e_x]_x: entry (2,1) = 1, (1,2) = -1
    assert jac[2, 1, 0].item() == pytest.approx(1.0)
    assert jac[1, 2, 0].item() == pytest.approx(-1.0)
    assert jac[0, 2, 1].item() == pytest.approx(1.0)
    assert jac[1, 0, 2].item() == pytest.approx(1.0)


def test_chain_levels():
    assert chain_levels(MANO_PARENTS) == ((0,), (1, 4, 7, 10, 13), (2, 5, 8, 11, 14), (3, 6, 9, 12, 15))
    with pytest.raises(ValueError, match="parents must start with -1"):
        chain_levels((0, 0))
    with pytest.raises(ValueError, match="after its parent"):
        chain_levels((-1, 2, 0))


def random_model(V=40, P=135, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    J = 16
    w = torch.rand(V, J, generator=g, dtype=dtype) ** 4
    w = w / w.sum(1, keepdim=True)
    reg = torch.rand(J, V, generator=g, dtype=dtype)
    return dict(
        v_template=torch.randn(V, 3, generator=g, dtype=dtype) * 0.05,
        shapedirs=torch.randn(V, 3, 10, generator=g, dtype=dtype) * 0.01,
        posedirs=torch.randn(P, V * 3, generator=g, dtype=dtype) * 0.01,
        J_regressor=reg / reg.sum(1, keepdim=True),
        parents=torch.tensor(MANO_PARENTS),
        weights=w,
    )


def reference_lbs(betas, rot, m):
    """Per-sample, per-joint 4x4 chain in float64 (the textbook formulation)."""
    out_v, out_j = [], []
    V = m["v_template"].shape[0]
    for b in range(betas.shape[0]):
        vs = m["v_template"] + torch.einsum("vcs,s->vc", m["shapedirs"][..., : betas.shape[1]], betas[b])
        J = m["J_regressor"] @ vs
        if m["posedirs"].shape[0]:
            vs = vs + ((rot[b, 1:] - torch.eye(3, dtype=rot.dtype)).reshape(-1) @ m["posedirs"]).view(V, 3)
        G = []
        for j, p in enumerate(MANO_PARENTS):
            L = torch.eye(4, dtype=rot.dtype)
            L[:3, :3] = rot[b, j]
            L[:3, 3] = J[j] - (J[p] if p >= 0 else 0)
            G.append(L if p < 0 else G[p] @ L)
        G = torch.stack(G)
        rest = torch.eye(4, dtype=rot.dtype).repeat(16, 1, 1)
        rest[:, :3, 3] = -J
        A = G @ rest
        T = torch.einsum("vj,jab->vab", m["weights"], A)
        vh = torch.cat([vs, torch.ones(V, 1, dtype=rot.dtype)], 1)
        out_v.append((T @ vh[..., None])[:, :3, 0])
        out_j.append(G[:, :3, 3])
    return torch.stack(out_v), torch.stack(out_j)


@pytest.mark.parametrize("P", [135, 0])
def test_lbs_matches_reference(P):
    m = random_model(P=P)
    g = torch.Generator().manual_seed(1)
    betas = torch.randn(3, 7, generator=g, dtype=torch.float64)  # fewer than 10 betas
    rot = rotvec_to_rotmat(torch.randn(3, 16, 3, generator=g, dtype=torch.float64))
    v, j = lbs(betas, rot, **m)
    rv, rj = reference_lbs(betas, rot, m)
    assert v.dtype == torch.float32 and v.shape == (3, 40, 3) and j.shape == (3, 16, 3)
    assert torch.allclose(v.double(), rv, atol=1e-6)
    assert torch.allclose(j.double(), rj, atol=1e-6)


def test_lbs_identity_pose_is_shaped_rest_mesh_and_root_rotates_about_wrist():
    m = random_model()
    betas = torch.full((1, 10), 0.5, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(1, 16, 3, 3)
    v0, j0 = lbs(betas, eye, **m)
    vs = m["v_template"] + m["shapedirs"] @ betas[0]
    assert torch.allclose(v0[0].double(), vs, atol=1e-7)
    assert torch.allclose(j0[0].double(), m["J_regressor"] @ vs, atol=1e-7)
    R = roma.rotvec_to_rotmat(torch.tensor([0.3, -1.0, 0.7], dtype=torch.float64))
    rot = eye.clone()
    rot[0, 0] = R
    v1, j1 = lbs(betas, rot, **m)
    wrist = j0[0, 0].double()
    assert torch.allclose(j1[0, 0].double(), wrist, atol=1e-7)
    assert torch.allclose(v1[0].double(), (vs - wrist) @ R.T + wrist, atol=1e-6)


def test_kinematic_chain_parents_as_tensor_or_tuple():
    g = torch.Generator().manual_seed(2)
    rot = rotvec_to_rotmat(torch.randn(2, 16, 3, generator=g))
    joints = torch.randn(2, 16, 3, generator=g)
    a = kinematic_chain(rot, joints, torch.tensor(MANO_PARENTS))
    b = kinematic_chain(rot, joints, MANO_PARENTS)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # a leaf joint's position = parent's position + parent's world rotation @ rest offset
    R, t = a
    assert torch.allclose(
        t[:, 3], t[:, 2] + (R[:, 2] @ (joints[:, 3] - joints[:, 2])[..., None])[..., 0], atol=1e-6
    )


def test_lbs_empty_batch_bf16_and_too_many_betas():
    m = {k: (v.float() if v.is_floating_point() else v) for k, v in random_model().items()}
    v, j = lbs(torch.zeros(0, 10), torch.zeros(0, 16, 3, 3), **m)
    assert v.shape == (0, 40, 3) and j.shape == (0, 16, 3)
    g = torch.Generator().manual_seed(3)
    betas = torch.randn(2, 10, generator=g)
    rot = rotvec_to_rotmat(torch.randn(2, 16, 3, generator=g))
    ref, _ = lbs(betas, rot, **m)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = lbs(betas.bfloat16(), rot, **m)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - ref).abs().max().item() < 2e-3  # only the bf16 rounding of the betas
    with pytest.raises(ValueError, match="betas has 11 components but the model has 10"):
        lbs(torch.zeros(1, 11), rot[:1], **m)


def test_lbs_is_translation_equivariant():
    """Translating the template translates the output (rows of weights sum to 1, regressor rows too)."""
    m = random_model()
    g = torch.Generator().manual_seed(4)
    betas = torch.randn(2, 10, generator=g, dtype=torch.float64)
    rot = rotvec_to_rotmat(torch.randn(2, 16, 3, generator=g, dtype=torch.float64))
    v, _ = lbs(betas, rot, **m)
    shift = torch.tensor(np.array([0.1, -0.2, 0.3]))
    m2 = dict(m, v_template=m["v_template"] + shift)
    v2, _ = lbs(betas, rot, **m2)
    assert torch.allclose((v2 - v).double(), shift.expand_as(v2), atol=1e-6)


def _chain_reference(rot, joints, parents):
    """Joint by joint, 4x4 matrices: the textbook forward kinematics."""
    B, J = rot.shape[:2]
    G = [None] * J
    for j in range(J):
        T = torch.zeros(B, 4, 4, dtype=rot.dtype)
        T[:, :3, :3], T[:, 3, 3] = rot[:, j], 1.0
        T[:, :3, 3] = joints[:, j] - (joints[:, parents[j]] if parents[j] >= 0 else 0)
        G[j] = T if parents[j] < 0 else G[parents[j]] @ T
    G = torch.stack(G, 1)
    return G[..., :3, :3], G[..., :3, 3]


@pytest.mark.parametrize("parents", [MANO_PARENTS, (-1, 0, 0, 1, 2, 1, 3, 0, 7)])
def test_kinematic_chain_matches_the_joint_by_joint_reference(parents):
    """The hand tree (every level a strided slice) and an irregular tree (index-tensor fallback)."""
    from smhr.hands.lbs import _chain_plan

    g = torch.Generator().manual_seed(3)
    J = len(parents)
    rot = rotvec_to_rotmat(torch.randn(3, J, 3, generator=g, dtype=torch.float64))
    joints = torch.randn(3, J, 3, generator=g, dtype=torch.float64)
    R, t = kinematic_chain(rot, joints, parents)
    R_ref, t_ref = _chain_reference(rot, joints, parents)
    assert torch.allclose(R, R_ref, atol=1e-12) and torch.allclose(t, t_ref, atol=1e-12)
    slices = all(isinstance(i, slice) for level in _chain_plan(tuple(parents)) for i in level)
    assert slices == (tuple(parents) == tuple(MANO_PARENTS))
    rot.requires_grad_(True)
    kinematic_chain(rot, joints, parents)[1].sum().backward()
    assert torch.isfinite(rot.grad).all() and rot.grad[:, 1:].abs().sum() > 0
