"""Pose/shape priors: known values for both parameter sets, limit callable per side, fallback L2."""

import pytest
import torch

from smhr.losses.priors import default_limit_violation, hand_prior_loss, pose_prior, shape_prior


def test_shape_prior_masks_empty_slots():
    betas = torch.full((2, 2, 10), 2.0)
    betas[1, 1] = 100.0
    valid = torch.tensor([[True, True], [True, False]])
    assert shape_prior(betas, valid).item() == pytest.approx(4.0)
    assert shape_prior(betas, torch.zeros(2, 2, dtype=torch.bool)).item() == 0.0


def test_pose_prior_with_limit_callable_uses_the_side():
    calls = []

    def violation(pose, side):  # right hands: limit [-1, 1]; left: [-0.5, 0.5]
        calls.append(side)
        lim = 1.0 if side == 1 else 0.5
        return (pose.abs() - lim).clamp(min=0)

    pose = torch.full((1, 2, 45), 1.5)
    valid = torch.tensor([[True, False]])
    assert pose_prior(pose, 1, valid, violation).item() == pytest.approx(0.5)
    assert pose_prior(pose, 0, valid, violation).item() == pytest.approx(1.0)
    assert calls == [1, 0]
    assert pose_prior(pose, 1, valid).item() == pytest.approx(2.25)  # L2 fallback: mean(theta^2)


def test_hand_prior_both_sets_known_value():
    params = torch.zeros(1, 2, 122)
    params[..., 61 + 48 : 61 + 58] = 1.0  # right betas = 1 -> 0.1 * 1
    params[..., 3:48] = 0.2  # left articulation -> L2 fallback 0.04
    params[..., 0:3] = 5.0  # global orientation is not constrained
    params[..., 58:61] = 5.0  # nor translation
    valid = torch.tensor([[True, False]])
    assert hand_prior_loss(params, valid).item() == pytest.approx(0.1 + 0.04)
    assert hand_prior_loss(params, torch.zeros(1, 2, dtype=torch.bool)).item() == 0.0


def test_default_limit_violation_uses_each_sides_limits(mano_pair):
    """Bound to the loaded [left, right] models: zero inside the limits, and a hyper-extension
    (negative flexion) beyond the range is penalised by the amount it exceeds it, on both sides."""
    from smhr.hands.prior import PosePrior

    fn = default_limit_violation(mano_pair)
    assert fn(torch.zeros(3, 45), 1).abs().max().item() == 0.0
    for side, model in enumerate(mano_pair):
        prior = PosePrior.from_model(model)
        local = torch.zeros(1, 15, 3)
        local[0, 1, 0] = prior.limits[1, 0, 0] - 0.3  # index PIP bent 0.3 rad backwards past its limit
        v = fn(prior.from_local(local), side)
        assert v.shape == (1, 45) and (v >= 0).all()
        assert v.sum().item() == pytest.approx(0.3, abs=1e-4)
