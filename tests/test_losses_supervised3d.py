"""3D losses: root-relative and scale-aligned known values, masking."""

import pytest
import torch

from smhr.losses.supervised3d import align_to_root, joints3d_loss, vertices3d_loss


def joints(B: int = 1, K: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(B, K, 21, 3, generator=g) * 0.1


def test_scale_alignment_removes_scale_and_translation():
    gt = joints()
    pred = 2.0 * gt + torch.tensor([0.1, -0.2, 0.5])
    valid = torch.ones(1, 2, dtype=torch.bool)
    assert joints3d_loss(pred, gt, valid, align="scale").item() < 1e-7
    # root-only alignment keeps the factor 2: error = mean |J - J9| of the GT
    expected = (gt - gt[..., 9:10, :]).abs().mean().item()
    assert joints3d_loss(pred, gt, valid, align="root").item() == pytest.approx(expected, rel=1e-5)


def test_vertices_use_their_own_joints_and_masks():
    gt_j = joints()
    g = torch.Generator().manual_seed(1)
    gt_v = torch.rand(1, 2, 30, 3, generator=g) * 0.1
    shift = torch.tensor([0.3, 0.0, 0.2])
    valid = torch.tensor([[True, False]])
    pred_v, pred_j = gt_v + shift + 0.01, gt_j + shift
    loss = vertices3d_loss(pred_v, gt_v, pred_j, gt_j, valid, align="root")
    assert loss.item() == pytest.approx(0.01, rel=1e-4)
    pred_v[0, 1] = float("nan")  # empty slot: no effect on the value or the gradient
    pred_v.requires_grad_(True)
    loss = vertices3d_loss(pred_v, gt_v, pred_j, gt_j, valid, align="scale")
    assert loss.item() == pytest.approx(0.01, rel=1e-4)
    loss.backward()
    assert torch.isfinite(pred_v.grad).all() and pred_v.grad[0, 1].abs().sum() == 0
    assert joints3d_loss(pred_j, gt_j, torch.zeros(1, 2, dtype=torch.bool)).item() == 0.0
    aligned = align_to_root(gt_j, gt_j)
    assert aligned[..., 9, :].abs().max() == 0
