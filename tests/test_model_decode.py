"""Training-side decoding in PyTorch: NMS / top-K / side selection / differentiable hands at cells
(inference decodes in NumPy: tests/test_runtime_decode.py)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from smhr.model.decode import hands_from_params, nms, select_side, topk

S, R = 16, 64  # output grid and input size (stride 4)


class PointHand(nn.Module):
    """Stand-in hand model: fixed joints/vertices (joint 0 and vertex 0 at the model origin), x
    mirrored for the left side, scaled by (1 + betas[0]); no rotation. Same call signature and
    outputs as smhr.hands.model.HandModel."""

    def __init__(self, side: int, num_vertices: int = 30) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        joints = torch.rand(21, 3, generator=g) * 0.1 - 0.05
        verts = torch.rand(num_vertices, 3, generator=g) * 0.1 - 0.05
        joints[0] = 0
        verts[0] = 0
        mirror = torch.tensor([-1.0 if side == 0 else 1.0, 1.0, 1.0])
        self.register_buffer("joints", joints * mirror)
        self.register_buffer("verts", verts * mirror)
        self.num_vertices = num_vertices

    def forward(self, global_orient, pose, betas, transl):
        s = (1 + betas[:, :1])[:, :, None]
        t = transl[:, None]
        return SimpleNamespace(vertices=self.verts * s + t, joints=self.joints * s + t)


HANDS = [PointHand(0), PointHand(1)]


def test_nms_topk_select_side_toy():
    heat = torch.zeros(1, 1, 5, 5)
    heat[0, 0, 1, 1], heat[0, 0, 1, 2], heat[0, 0, 4, 4] = 0.9, 0.8, 0.5
    kept = nms(heat, kernel=3)
    assert kept[0, 0, 1, 2] == 0 and kept[0, 0, 1, 1] == 0.9 and kept[0, 0, 4, 4] == 0.5
    scores, ind = topk(kept, 2)
    assert scores[0].tolist() == pytest.approx([0.9, 0.5]) and ind.tolist() == [[6, 24]]
    params = torch.arange(122.0).expand(1, 2, 122)
    chosen = select_side(params, torch.tensor([[0, 1]]))
    assert chosen[0, 0, 0] == 0 and chosen[0, 1, 0] == 61


def test_hands_from_params_is_differentiable_and_uses_the_given_side():
    params = torch.zeros(1, 2, 122, requires_grad=True)
    ind = torch.tensor([[0, 17]])
    side = torch.tensor([[1, 0]])
    h = hands_from_params(params, ind, side, HANDS, input_size=R, grid_width=S)
    origin_px = h["keypoints2d"][0, :, 0].detach().numpy()  # joint 0 = model origin, at the cell centres
    np.testing.assert_allclose(origin_px, [[2.0, 2.0], [6.0, 6.0]], atol=1e-4)
    target = h["keypoints2d"].detach() + 2.0
    loss = (h["keypoints2d"] - target).pow(2).mean()
    loss.backward()
    g = params.grad[0]
    assert g[0, 61 + 58 : 61 + 60].abs().min() > 0 and g[0, :61].abs().max() == 0  # right set of slot 0
    assert g[1, 58:60].abs().min() > 0 and g[1, 61:].abs().max() == 0  # left set of slot 1
