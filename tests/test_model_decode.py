"""Decoding: NMS / top-K / threshold / handedness / side parameters / translation / letterbox undo."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from smhr.geometry.cameras import project
from smhr.model.decode import decode, decode_tensors, gather_feat, hands_from_params, nms, select_side, topk
from smhr.model.net import SMHRNet

S, R = 16, 64  # output grid and input size (stride 4)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


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


class FakeNet(nn.Module):
    """Returns hand-crafted maps; gather reads per-cell parameters/offsets from a dense map."""

    stride = 4

    def __init__(self, center, handedness, params, offsets):
        super().__init__()
        self.maps = (center, handedness, torch.cat([params, offsets], 1))

    def forward(self, images):
        c, h, f = self.maps
        return {"features": f, "center": c, "handedness": h}

    def gather(self, features, ind):
        g = gather_feat(features, ind)
        return {"params": g[..., :122], "kp_offsets": g[..., 122:].reshape(*ind.shape, 21, 2)}


def crafted_net() -> FakeNet:
    """Image 0: peaks A (x3,y4) p=.9 left, D (x4,y4) p=.7 (NMS-suppressed by A), B (x12,y10) p=.8
    right, C (x8,y13) p=.2 (below threshold). Image 1: no hand."""
    center = torch.full((2, 1, S, S), -10.0)
    hand = torch.zeros(2, 2, S, S)
    params = torch.zeros(2, 122, S, S)
    offsets = torch.zeros(2, 42, S, S)
    for (x, y), p in {(3, 4): 0.9, (4, 4): 0.7, (12, 10): 0.8, (8, 13): 0.2}.items():
        center[0, 0, y, x] = logit(p)
    hand[0, :, 4, 3] = torch.tensor([2.0, -2.0])  # A left
    hand[0, :, 4, 4] = torch.tensor([-2.0, 2.0])
    hand[0, :, 10, 12] = torch.tensor([-2.0, 2.0])  # B right
    params[0, 58:61, 4, 3] = torch.tensor([1.5, -2.0, 0.2])  # A, left set (a, b, c)
    params[0, 61 + 58 : 61 + 61, 4, 3] = torch.tensor([0.0, 0.0, 5.0])  # A right set: must be ignored
    params[0, 48, 4, 3] = 0.5  # A left betas[0]
    params[0, 61 + 58 : 61 + 61, 10, 12] = torch.tensor([-1.0, 0.5, 0.0])  # B, right set
    params[0, 58:61, 10, 12] = torch.tensor([0.0, 0.0, 5.0])  # B left set: ignored
    offsets[0, :, 4, 3] = 0.25
    return FakeNet(center, hand, params, offsets)


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


def test_decode_handcrafted_heatmap_returns_exactly_the_right_hands():
    images = torch.zeros(2, 3, R, R)
    hands = decode(crafted_net(), images, HANDS, max_hands=4, threshold=0.5)
    assert len(hands) == 2 and hands[1] == []  # the hand-less image gives no hand
    a, b = hands[0]
    assert (a.side, b.side) == (0, 1)
    assert a.score == pytest.approx(0.9) and b.score == pytest.approx(0.8)
    np.testing.assert_allclose(a.center, [3.5 * 4, 4.5 * 4])  # cell centres
    np.testing.assert_allclose(b.center, [12.5 * 4, 10.5 * 4])
    # translation decode: the model origin (joint 0) lands at centre + (a, b), depth c + 0.8
    np.testing.assert_allclose(a.keypoints2d[0], [14 + 1.5, 18 - 2.0], atol=1e-4)
    np.testing.assert_allclose(b.keypoints2d[0], [50 - 1.0, 42 + 0.5], atol=1e-4)
    assert a.transl[2] == pytest.approx(1.0) and b.transl[2] == pytest.approx(0.8)
    assert a.betas[0] == pytest.approx(0.5) and b.betas[0] == 0
    # left model for the left hand (mirrored x), joints3d/keypoints consistent with K
    np.testing.assert_allclose(a.joints3d, HANDS[0].joints.numpy() * 1.5 + a.transl, atol=1e-6)
    np.testing.assert_allclose(a.vertices[0], a.transl, atol=1e-6)
    proj = project(torch.from_numpy(a.joints3d), torch.from_numpy(a.K)).numpy()
    np.testing.assert_allclose(proj, a.keypoints2d, atol=1e-3)
    np.testing.assert_allclose(a.K, [[512, 0, 32], [0, 512, 32], [0, 0, 1]])
    np.testing.assert_allclose(a.local_keypoints2d, np.tile([(3 + 0.25) * 4, (4 + 0.25) * 4], (21, 1)))


def test_decode_undoes_letterbox_and_reexpresses_with_real_intrinsics():
    # 80x48 image -> 64x64 network input: scale 0.8, padded 12.8 px top and bottom (pixel centres at
    # integers: u' = (u + 0.5) 0.8 - 0.5 + pad)
    A = np.array([[0.8, 0.0, -0.1], [0.0, 0.8, 12.7], [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(A)
    K_orig = np.array([[100.0, 0, 40], [0, 100.0, 24], [0, 0, 1]])
    net = crafted_net()
    images = torch.zeros(2, 3, R, R)
    virt = decode(net, images, HANDS, max_hands=4, threshold=0.5, affine=A[:2])[0][0]
    np.testing.assert_allclose(virt.center, inv[:2, :2] @ [14.0, 18.0] + inv[:2, 2], atol=1e-4)
    np.testing.assert_allclose(virt.keypoints2d[0], inv[:2, :2] @ [15.5, 16.0] + inv[:2, 2], atol=1e-3)
    proj = project(torch.from_numpy(virt.joints3d), torch.from_numpy(virt.K)).numpy()
    np.testing.assert_allclose(proj, virt.keypoints2d, atol=1e-3)
    # real intrinsics, one affine per image: same pixel ray, depth scaled by f_net / 512
    affines = np.stack([A, A])
    real = decode(net, images, HANDS, max_hands=4, threshold=0.5, affine=affines, K=K_orig)[0][0]
    assert real.transl[2] == pytest.approx(1.0 * (100 * 0.8) / 512, rel=1e-5)
    np.testing.assert_allclose(real.K, K_orig, atol=1e-5)
    origin_px = project(torch.from_numpy(real.transl)[None], torch.from_numpy(K_orig).float())[0].numpy()
    np.testing.assert_allclose(origin_px, virt.keypoints2d[0], atol=1e-3)
    proj = project(torch.from_numpy(real.joints3d), torch.from_numpy(K_orig).float()).numpy()
    np.testing.assert_allclose(proj, real.keypoints2d, atol=1e-3)
    np.testing.assert_allclose(real.joints3d - real.transl, virt.joints3d - virt.transl, atol=1e-6)


def test_decode_real_network_fixed_slots_and_threshold():
    torch.manual_seed(0)
    net = SMHRNet(backbone="mobilenet_v2", num_vertices=30, input_size=R).eval()
    images = torch.randn(2, 3, R, R)
    t = decode_tensors(net, images, HANDS, max_hands=3, threshold=0.0, with_appearance=True)
    assert t["keep"].all() and t["vertices"].shape == (2, 3, 30, 3) and t["texture"].shape == (2, 3, 30, 3)
    assert t["transl"][..., 2].sub(0.8).abs().max() < 0.01  # zero-initialised heads: depth ~ 0.8 m
    hands = decode(net, images, HANDS, max_hands=3, threshold=0.0)
    assert [len(h) for h in hands] == [3, 3]
    assert decode(net, images, HANDS, threshold=1.0) == [[], []]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tb = decode_tensors(net, images, HANDS, max_hands=3, threshold=0.0)
    assert tb["transl"].dtype == torch.float32 and tb["joints3d"].dtype == torch.float32


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


def test_decode_with_synthetic_mano_hand_models(tmp_path):
    from smhr.hands.model import HandModel
    from smhr.hands.testing import write_synthetic_mano_pickle

    models = []
    for side in ("left", "right"):
        path = tmp_path / f"MANO_{side.upper()}.pkl"
        write_synthetic_mano_pickle(path, side)
        models.append(HandModel.load("mano", side, path=path))
    a, b = decode(crafted_net(), torch.zeros(2, 3, R, R), models, max_hands=4, threshold=0.5)[0]
    for hand, model in ((a, models[0]), (b, models[1])):
        args = (hand.global_orient, hand.pose, hand.betas, hand.transl)
        ref = model(*(torch.from_numpy(x)[None] for x in args))
        np.testing.assert_allclose(hand.joints3d, ref.joints[0].numpy(), atol=1e-6)
        assert hand.vertices.shape == (model.num_vertices, 3)
    # zero pose/shape: the model origin is at transl, i.e. on the ray through centre + (a, b)
    origin = project(torch.from_numpy(b.transl)[None], torch.from_numpy(b.K))[0].numpy()
    np.testing.assert_allclose(origin, [50 - 1.0, 42 + 0.5], atol=1e-4)


def test_cpu_decode_reads_handedness_only_at_peaks_with_the_dense_maps_answer():
    torch.manual_seed(1)
    net = SMHRNet(backbone="mobilenet_v2", num_vertices=30, input_size=R, appearance=False).eval()
    for p in net.handedness.parameters():  # a handedness head whose answer differs between cells
        torch.nn.init.normal_(p, std=0.3)
    images = torch.randn(2, 3, R, R)
    t = decode_tensors(net, images, HANDS, max_hands=6, threshold=0.0)
    with torch.no_grad():
        out = net(images)
        _, ind = topk(nms(torch.sigmoid(out["center"]), 5), 6)
        dense_sides = gather_feat(out["handedness"], ind).argmax(-1)
    assert "handedness" not in net(images, handedness=False)
    assert torch.equal(t["side"], dense_sides) and 0 < int(dense_sides.sum()) < dense_sides.numel()
