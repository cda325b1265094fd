"""Focal loss: hand-computed 3x3 value, perfect prediction ~ 0, hand-less images finite."""

import math

import pytest
import torch

from smhr.losses.focal import focal_loss


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_focal_loss_hand_computed_3x3():
    target = torch.tensor([[0.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 0.0]])[None, None]
    logits = torch.full((1, 1, 3, 3), logit(0.1))
    logits[0, 0, 1, 1] = logit(0.8)
    pos = (1 - 0.8) ** 2 * math.log(0.8)  # 1 positive
    half = (1 - 0.5) ** 4 * 0.1**2 * math.log(0.9)  # 4 cells with y = 0.5
    zero = 1.0 * 0.1**2 * math.log(0.9)  # 4 cells with y = 0
    expected = -(pos + 4 * half + 4 * zero) / 1
    assert expected == pytest.approx(0.0134035, abs=1e-6)
    assert focal_loss(logits, target).item() == pytest.approx(expected, rel=1e-5)


def test_focal_loss_perfect_prediction_is_near_zero_and_wrong_is_large():
    target = torch.zeros(2, 2, 8, 8)
    target[0, 1, 3, 4] = 1.0
    target[1, 0, 6, 1] = 1.0
    perfect = torch.where(target == 1, torch.tensor(20.0), torch.tensor(-20.0))
    assert focal_loss(perfect, target).item() < 1e-6
    assert focal_loss(-perfect, target).item() > 10.0


def test_focal_loss_batch_normalisation_and_handless_images():
    target = torch.zeros(2, 1, 4, 4)
    target[0, 0, 1, 1] = 1.0  # image 1 has no hand
    logits = torch.zeros(2, 1, 4, 4)  # p = 0.5 everywhere
    loss = focal_loss(logits, target)
    neg = -(0.25 * math.log(0.5))
    pos = -(0.25 * math.log(0.5))
    assert loss.item() == pytest.approx(pos + 31 * neg, rel=1e-5)  # N_pos = 1 for the whole batch
    per = focal_loss(logits, target, per_sample=True)
    assert per.shape == (2,) and per.mean().item() == pytest.approx(loss.item(), rel=1e-6)
    # a batch with no hand at all: finite, un-normalised negatives only, gradients finite
    logits.requires_grad_(True)
    empty = focal_loss(logits, torch.zeros(2, 1, 4, 4))
    empty.backward()
    assert empty.item() == pytest.approx(32 * neg, rel=1e-5)
    assert torch.isfinite(logits.grad).all()
