"""2D losses: known values, masking of empty slots / invisible keypoints, hand-less batches."""

import math

import pytest
import torch

from smhr.losses.keypoints import (
    FREIHAND_BONES,
    MIN_SIZE_PX,
    SIZE_REFERENCE_PX,
    bone_direction_loss,
    hand_size_px,
    keypoint_consistency_loss,
    keypoint_offset_loss,
    reprojection_loss,
)


def hand_keypoints(B: int = 2, K: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(B, K, 21, 2, generator=g) * 200 + 20


def test_bones_are_the_20_freihand_bones():
    assert len(FREIHAND_BONES) == 20
    assert FREIHAND_BONES[:4] == ((0, 1), (1, 2), (2, 3), (3, 4))
    assert FREIHAND_BONES[16:] == ((0, 17), (17, 18), (18, 19), (19, 20))


def test_reprojection_two_pixel_offset_and_masks():
    gt = hand_keypoints()
    pred = gt + torch.tensor([2.0, 0.0])
    valid = torch.tensor([[True, True, False], [True, False, False]])
    pred[0, 2] = float("nan")  # garbage in an empty slot must not leak
    gt[1, 1] = 1e6
    assert reprojection_loss(pred, gt, valid).item() == pytest.approx(2.0)  # (2^2 + 0^2) / 2 px^2
    vis = torch.ones(2, 3, 21, dtype=torch.bool)
    pred[0, 0, 5] += torch.tensor([0.0, 10.0])
    vis[0, 0, 5] = False  # invisible keypoint: not supervised
    assert reprojection_loss(pred, gt, valid, vis).item() == pytest.approx(2.0)
    # with it visible: (3 * 21 * 4 + 100) / (3 * 21 * 2)
    vis[0, 0, 5] = True
    assert reprojection_loss(pred, gt, valid, vis).item() == pytest.approx((63 * 4 + 100) / 126)


def test_hand_size_is_the_longer_side_of_the_supervised_box():
    gt = torch.zeros(1, 4, 21, 2)
    gt[0, 0, :, 0] = torch.linspace(10, 210, 21)  # 200 px wide, 50 px tall
    gt[0, 0, :, 1] = torch.linspace(0, 50, 21)
    gt[0, 1] = gt[0, 0] * 0.05  # 10 px long: counts as MIN_SIZE_PX
    gt[0, 2] = gt[0, 0]
    gt[0, 2, 20] = 1e6  # an invisible outlier does not widen the box
    valid = torch.tensor([[True, True, True, False]])
    vis = torch.ones(1, 4, 21, dtype=torch.bool)
    vis[0, 2, 20] = False
    size = hand_size_px(gt, valid, vis)
    assert size[0].tolist() == pytest.approx([200.0, MIN_SIZE_PX, 190.0, MIN_SIZE_PX])
    vis[0, 0] = False  # no visible keypoint: the floor, not +-inf
    assert hand_size_px(gt, valid, vis)[0, 0].item() == MIN_SIZE_PX


def test_reprojection_in_hand_size_units_holds_every_size_to_the_same_relative_error():
    base = hand_keypoints(1, 1)[0, 0]
    base = (base - base.min(0).values) / (base.max(0).values - base.min(0).values).max()  # longer side 1
    gt = torch.stack([base * 24.0 + 5, base * SIZE_REFERENCE_PX + 5, base * 240.0 + 5])[None]  # [1,3,21,2]
    pred = (gt - 5) * 1.1 + 5  # every hand drawn 10 % too large
    valid = torch.ones(1, 3, dtype=torch.bool)
    size = hand_size_px(gt, valid)
    assert size[0].tolist() == pytest.approx([24.0, SIZE_REFERENCE_PX, 240.0])
    per_hand = [reprojection_loss(pred[:, i:i + 1], gt[:, i:i + 1], valid[:, :1], hand_size=size[:, i:i + 1])
                for i in range(3)]
    assert per_hand[0].item() == pytest.approx(per_hand[1].item(), rel=1e-4)
    assert per_hand[2].item() == pytest.approx(per_hand[1].item(), rel=1e-4)
    px = [reprojection_loss(pred[:, i:i + 1], gt[:, i:i + 1], valid[:, :1]) for i in range(3)]
    assert px[1].item() == pytest.approx(per_hand[1].item(), rel=1e-5)  # the reference size keeps px^2
    assert px[2].item() / px[0].item() == pytest.approx(100.0, rel=1e-3)  # plain px^2: 10x longer, 100x


def test_bone_direction_known_values():
    gt = hand_keypoints(1, 1)
    assert bone_direction_loss(gt + 5.0, gt, torch.ones(1, 1, dtype=torch.bool)).item() < 1e-8  # translation
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # every bone turned by 90 deg: |d1 - d2|^2 = 2
    pred = gt @ rot.T
    v = gt[..., [c for _, c in FREIHAND_BONES], :] - gt[..., [p for p, _ in FREIHAND_BONES], :]
    n2 = v.pow(2).sum(-1)
    expected = (2 * n2 / (n2 + 1e-4)).mean().item()  # exact with the 1e-4 stabiliser
    assert bone_direction_loss(pred, gt, torch.ones(1, 1, dtype=torch.bool)).item() == pytest.approx(expected)
    assert expected == pytest.approx(2.0, abs=1e-6)
    # a bone is supervised only if both ends are visible: hide joint 20 -> bone 19-20 dropped
    vis = torch.ones(1, 1, 21, dtype=torch.bool)
    vis[0, 0, 20] = False
    pred2 = gt.clone()
    pred2[0, 0, 20] = gt[0, 0, 19] - (gt[0, 0, 20] - gt[0, 0, 19])  # reverse the last bone
    assert bone_direction_loss(pred2, gt, torch.ones(1, 1, dtype=torch.bool), vis).item() < 1e-8
    full = bone_direction_loss(pred2, gt, torch.ones(1, 1, dtype=torch.bool)).item()
    assert full == pytest.approx(4.0 / 20, rel=1e-4)  # one reversed bone: |2d|^2 = 4 over 20 bones


def test_offset_and_consistency_losses_known_values_and_gradients():
    glob = hand_keypoints().requires_grad_(True)
    local = (glob.detach() + torch.tensor([3.0, 0.0])).requires_grad_(True)
    valid = torch.tensor([[True, False, False], [True, True, False]])
    loss = keypoint_consistency_loss(local, glob, valid)  # default: local is the teacher
    assert loss.item() == pytest.approx(1.5)  # |3| and |0| per coordinate, L1 px
    loss.backward()
    assert local.grad is None and glob.grad.abs().sum() > 0
    assert glob.grad[0, 1].abs().sum() == 0  # empty slot: no gradient
    g2 = hand_keypoints().requires_grad_(True)
    l2 = (g2.detach() + 1).requires_grad_(True)
    keypoint_consistency_loss(l2, g2, valid, detach="global").backward()
    assert g2.grad is None and l2.grad.abs().sum() > 0
    off = torch.zeros(2, 3, 21, 2)
    assert keypoint_offset_loss(off + 0.5, off, valid).item() == pytest.approx(0.5)


def test_handless_batch_gives_zero_finite_losses_and_gradients():
    pred = hand_keypoints().requires_grad_(True)
    gt = torch.full_like(pred, float("nan"))
    none = torch.zeros(2, 3, dtype=torch.bool)
    losses = [
        reprojection_loss(pred, gt, none),
        bone_direction_loss(pred, gt, none),
        keypoint_offset_loss(pred, gt, none),
        keypoint_consistency_loss(pred, gt, none, detach="none"),
    ]
    total = sum(losses)
    total.backward()
    assert all(x.item() == 0.0 for x in losses) and math.isfinite(total.item())
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() == 0
