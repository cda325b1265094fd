"""3D losses: root-relative and scale-aligned known values, masking, root depth."""

import pytest
import torch

from smhr.geometry.cameras import project
from smhr.losses.supervised3d import align_to_root, joints3d_loss, root_depth_loss


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


def test_empty_slots_change_neither_the_value_nor_the_gradient():
    gt = joints()
    valid = torch.tensor([[True, False]])
    pred = gt + torch.tensor([0.3, 0.0, 0.2])  # root alignment removes the shift
    pred[0, 0, 0, 0] += 0.021  # one coordinate of one joint off by 21 mm: mean over 21 x 3 = 1/3 mm
    assert joints3d_loss(pred, gt, valid, align="root").item() == pytest.approx(0.021 / 63, rel=1e-4)
    pred[0, 1] = float("nan")  # empty slot
    pred.requires_grad_(True)
    loss = joints3d_loss(pred, gt, valid, align="root")
    assert loss.item() == pytest.approx(0.021 / 63, rel=1e-4)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 1].abs().sum() == 0
    assert joints3d_loss(pred, gt, torch.zeros(1, 2, dtype=torch.bool)).item() == 0.0
    aligned = align_to_root(gt, gt)
    assert aligned[..., 9, :].abs().max() == 0


def test_root_depth_loss_known_values_masking_and_the_size_it_implies():
    gt = joints(1, 3) + torch.tensor([0.02, -0.01, 0.5])  # root depth ~0.55 m in a camera of focal 256
    root_z = gt[0, :, 9, 2]
    focal = torch.tensor([[256.0, 256.0, 0.0]])
    valid = torch.tensor([[True, True, False]])
    # the right virtual depth (f_virtual 512): twice the GT depth -> zero loss
    pred = gt.clone()
    pred[..., 2] += root_z[None, :, None] * 1.0
    assert root_depth_loss(pred, gt, focal, valid, 512.0).item() == pytest.approx(0.0, abs=1e-6)
    # slot 0 four times too far, slot 1 left at the GT depth (two times too near): mean(|log 4|, |log 0.5|)
    far = gt.clone()
    far[0, 0, :, 2] += root_z[0] * 7.0
    expected = (torch.log(torch.tensor(4.0)) + torch.log(torch.tensor(2.0))) / 2
    far[0, 2] = float("nan")  # invalid slots are ignored, gradients stay finite
    far.requires_grad_(True)
    loss = root_depth_loss(far, gt, focal, valid, 512.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert torch.isfinite(far.grad).all() and far.grad[0, 2].abs().sum() == 0
    # the depth it asks for gives the hand its GT image size in the virtual camera
    K_gt = torch.tensor([[256.0, 0, 64], [0, 256.0, 64], [0, 0, 1]])
    K_v = torch.tensor([[512.0, 0, 64], [0, 512.0, 64], [0, 0, 1]])
    uv_gt = project(gt[0, 0], K_gt)
    rel = gt[0, 0] - gt[0, 0, 9]
    z_v = root_z[0] * 512.0 / 256.0
    root_v = torch.cat([(uv_gt[9] - 64) * z_v / 512.0, z_v[None]])
    uv_v = project(rel + root_v, K_v)
    size = lambda uv: (uv.max(0).values - uv.min(0).values).norm()  # noqa: E731
    assert size(uv_v).item() == pytest.approx(size(uv_gt).item(), rel=0.05)
