"""Pose prior: anatomical frames, joint limits, the pose sampler, shape and orientation samplers."""

import pytest
import roma
import torch

from smhr.hands.model import HandModel
from smhr.hands.prior import (
    PosePrior,
    joint_limit_violation,
    sample_global_orient,
    sample_poses,
    sample_shapes,
)

MIRROR_POSE = torch.tensor([1.0, -1.0, -1.0]).repeat(15)
TIPS = [4, 8, 12, 16, 20]


@pytest.fixture(scope="module", params=["anny", "mano"])
def pair(request, mano_pair):
    """{side: model} for the bundled Anny hand and the synthetic MANO pair."""
    if request.param == "anny":
        return {s: HandModel.load("anny", s) for s in ("left", "right")}
    return dict(zip(("left", "right"), mano_pair, strict=True))


def test_frames_are_orthonormal_and_mirror_consistent(pair):
    priors = {s: PosePrior.from_model(m) for s, m in pair.items()}
    for p in priors.values():
        eye = torch.einsum("jab,jcb->jac", p.frames, p.frames)
        assert (eye - torch.eye(3)).abs().max().item() < 1e-5
        assert torch.linalg.det(p.frames).sub(1).abs().max().item() < 1e-5  # right-handed
    pose = 0.5 * torch.randn(64, 45, generator=torch.Generator().manual_seed(0))
    left_local = priors["left"].to_local(pose * MIRROR_POSE)
    assert (left_local - priors["right"].to_local(pose)).abs().max().item() < 1e-5


def test_flexion_curls_towards_the_palm_and_abduction_towards_the_thumb(pair):
    """+0.3 rad flexion at every joint moves every fingertip towards the palm side; +0.3 rad index
    MCP abduction moves the index tip towards the thumb (both sides)."""
    for model in pair.values():
        prior = PosePrior.from_model(model)
        zero = torch.zeros(1, 3)
        rest = model(zero, torch.zeros(1, 45)).joints[0]
        palm = rest[9] - rest[0]
        palm = torch.linalg.cross(palm, rest[5] - rest[17])
        palm = (-palm if model.side == "right" else palm) / palm.norm()
        local = torch.zeros(1, 15, 3)
        local[..., 0] = 0.3
        bent = model(zero, prior.from_local(local)).joints[0]
        assert ((bent[TIPS] - rest[TIPS]) @ palm).min().item() > 0.005, model.side
        local = torch.zeros(1, 15, 3)
        local[0, 0, 1] = 0.3  # index MCP
        spread = model(zero, prior.from_local(local)).joints[0]
        radial = rest[4] - rest[20]
        assert ((spread[8] - rest[8]) @ radial).item() > 0


def test_violation_is_zero_inside_and_measures_excess_outside():
    model = HandModel.load("anny", "right")
    prior = PosePrior.from_model(model)
    assert prior.violation(torch.zeros(2, 45)).abs().max().item() == 0.0
    local = torch.zeros(1, 15, 3)
    local[0, 4, 0] = prior.limits[4, 0, 1] + 0.25  # middle PIP over-flexed by 0.25 rad
    local[0, 0, 1] = prior.limits[0, 1, 0] - 0.1  # index MCP abducted 0.1 rad too far
    v = prior.violation(prior.from_local(local))
    assert v.sum().item() == pytest.approx(0.35, abs=1e-4)
    pose = prior.from_local(local).requires_grad_()
    prior.violation(pose).sum().backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    wild = 2.0 * torch.randn(100, 45, generator=torch.Generator().manual_seed(1))
    assert prior.violation(prior.clip(wild)).max().item() < 1e-5
    assert joint_limit_violation(wild, "anny", "right").allclose(prior.violation(wild))


def test_sampler_is_deterministic_inside_limits_and_varied():
    g = torch.Generator().manual_seed(0)
    pose = sample_poses(2000, "right", "anny", generator=g)
    again = sample_poses(2000, "right", "anny", generator=torch.Generator().manual_seed(0))
    assert pose.shape == (2000, 45) and torch.equal(pose, again)
    prior = PosePrior.from_model(HandModel.load("anny", "right"))
    assert prior.violation(pose).max().item() < 1e-5
    local = prior.to_local(pose)
    finger_flex = local[:, :12, 0].mean(1)  # mean flexion of the four fingers' joints
    assert (finger_flex < 0.25).float().mean() > 0.15  # open hands
    assert (finger_flex > 1.0).float().mean() > 0.15  # fists
    # PIP and DIP flexion of a finger move together (synergy), MCP spread shrinks with curl
    pip, dip = local[:, 1, 0], local[:, 2, 0]
    assert torch.corrcoef(torch.stack([pip, dip]))[0, 1] > 0.8
    assert local[finger_flex < 0.25, 0, 1].abs().mean() > 2 * local[finger_flex > 1.0, 0, 1].abs().mean()


def test_shape_and_orientation_samplers():
    g = torch.Generator().manual_seed(0)
    betas = sample_shapes(5000, g)
    assert betas.shape == (5000, 10) and betas.abs().max() <= 2.5
    assert betas.std().item() == pytest.approx(1.0, abs=0.05)
    rot = roma.rotvec_to_rotmat(sample_global_orient(20000, g))
    assert rot.mean(0).abs().max().item() < 0.03  # uniform on SO(3): E[R] = 0
    angles = sample_global_orient(20000, g).norm(dim=1)
    assert angles.max().item() <= torch.pi + 1e-5
    # the angle of a uniform rotation has density (1 - cos t) / pi: mean = pi/2 + 2/pi
    assert angles.mean().item() == pytest.approx(torch.pi / 2 + 2 / torch.pi, abs=0.02)
