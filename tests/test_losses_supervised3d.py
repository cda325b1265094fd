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


def test_rotating_the_3d_label_onto_the_virtual_ray_brings_it_to_its_own_2d_label():
    """A hand off the image centre, labelled in a camera of focal 300 px, placed in the 512-px virtual
    camera at the depth that gives it its labelled size: turned onto the virtual ray through its
    root's 2D label it lands on its 2D labels ~3x closer than when only moved onto that ray."""
    from smhr.losses.supervised3d import rotate_to_virtual_ray

    g = torch.Generator().manual_seed(0)
    shape = (torch.rand(21, 3, generator=g) - 0.5) * 0.12
    root = torch.tensor([0.18, -0.12, 0.6])
    labelled = shape - shape[9] + root
    f_label, f_virtual, c = 300.0, 512.0, 128.0

    def pixels(points, f):
        return points[..., :2] / points[..., 2:] * f + c

    kp = pixels(labelled, f_label)
    turned = rotate_to_virtual_ray(labelled[None, None], kp[None, None, 9], 256, f_virtual)[0, 0]
    assert (pixels(turned[9], f_virtual) - kp[9]).abs().max() < 1e-3  # the root is on the virtual ray
    def lengths(points):  # each joint's distance from the root: kept by a rotation
        return (points - points[9]).norm(dim=-1)

    assert torch.allclose(lengths(turned), lengths(labelled), atol=1e-6)

    def miss(points):  # px, at the virtual depth that gives the labelled size (root_depth_loss's target)
        at_depth = points - points[9] + points[9] * (f_virtual / f_label)
        return (pixels(at_depth, f_virtual) - kp).norm(dim=-1).median()

    ray = torch.cat([(kp[9] - c) / f_virtual, torch.ones(1)])
    moved = labelled - root + ray / ray.norm() * root.norm()
    assert miss(turned) < 0.4 * miss(moved)
    assert miss(moved) > 2.5  # px: what the unturned label costs this hand
    valid = torch.ones(1, 1, dtype=torch.bool)
    assert joints3d_loss(turned[None, None], turned[None, None], valid).item() < 1e-7
    empty = rotate_to_virtual_ray(torch.zeros(1, 1, 21, 3), torch.zeros(1, 1, 2), 256, f_virtual)
    assert torch.isfinite(empty).all() and empty.abs().max() == 0  # padded slots stay zero, no NaN


def test_the_3d_frame_is_checked_by_the_config_and_the_objective(tmp_path):
    from smhr.train.config import load_config
    from smhr.train.objective import Objective

    p = tmp_path / "c.yaml"
    p.write_text("stage: '3'\njoints3d_frame: sideways\n")
    with pytest.raises(ValueError, match="joints3d_frame must be one of"):
        load_config(p)
    with pytest.raises(ValueError, match="joints3d_frame must be one of"):
        Objective([], {}, joints3d_frame="sideways")
    p.write_text("stage: '3'\njoints3d_frame: virtual_ray\n")
    assert load_config(p).joints3d_frame == "virtual_ray"
    # checkpoints written before the key existed compared in the label's frame: resuming them is no change
    from smhr.train.config import config_differences

    old = load_config(None, {"stage": "3"}).to_dict()
    del old["joints3d_frame"]
    assert config_differences(old, load_config(None, {"stage": "3"}).to_dict()) == []
    assert config_differences(old, load_config(p).to_dict()) == ["joints3d_frame: 'label' -> 'virtual_ray'"]
