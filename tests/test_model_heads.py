"""Heads: the gathered path computes exactly the dense outputs at the chosen cells; initialisation."""

import pytest
import torch
from torch import nn

from smhr.model.decode import gather_feat
from smhr.model.heads import HEATMAP_BIAS, Head, gather_heads, neighbourhoods, padded_neighbourhoods
from smhr.model.net import SMHRNet


def _randomise(module: nn.Module, std: float = 0.05) -> None:
    g = torch.Generator().manual_seed(0)
    for p in module.parameters():
        p.data = torch.randn(p.shape, generator=g) * std


@pytest.mark.parametrize("channels_last", [False, True])
def test_neighbourhoods_match_unfold_with_zero_padding(channels_last):
    torch.manual_seed(0)
    feat = torch.randn(2, 5, 6, 7)
    if channels_last:
        feat = feat.contiguous(memory_format=torch.channels_last)
    ind = torch.tensor([[0, 6, 41], [20, 35, 13]])  # corners and interior of the 6x7 map
    patches = neighbourhoods(feat, ind)  # [B,K,9*C] ordered (ky, kx, c)
    unf = torch.nn.functional.unfold(feat, 3, padding=1)  # [B, C*9, H*W] ordered (c, ky, kx)
    ref = unf.view(2, 5, 9, 42).permute(0, 3, 2, 1).reshape(2, 42, 45)
    expected = torch.stack([ref[b, ind[b]] for b in range(2)])
    assert torch.equal(patches, expected)
    assert torch.equal(padded_neighbourhoods(feat, ind), expected)  # the inference reading: same values
    assert padded_neighbourhoods(feat, ind[:, :0]).shape == (2, 0, 45)  # no cell at all


def test_gather_heads_is_each_heads_gather_in_one_product():
    heads = [Head(16, 7, hidden=12), Head(16, 300, hidden=20), Head(16, 2, hidden=4)]
    for h in heads:
        _randomise(h)
    feat = torch.randn(2, 16, 9, 11, generator=torch.Generator().manual_seed(1))
    ind = torch.tensor([[0, 10, 98, 55], [88, 12, 50, 50]])
    for got, head in zip(gather_heads(heads, feat, ind), heads, strict=True):
        ref = head.gather(feat, ind)
        assert got.shape == ref.shape and ref.abs().max() > 0.01
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-6)


def test_head_dense_equals_gathered_including_borders():
    head = Head(16, 7, hidden=12)
    _randomise(head)
    feat = torch.randn(2, 16, 9, 11)
    ind = torch.tensor([[0, 10, 98, 55], [88, 12, 50, 50]])  # corners, edges, repeated cell
    dense = gather_feat(head(feat), ind)
    gathered = head.gather(feat, ind)
    assert gathered.shape == (2, 4, 7)
    assert dense.abs().max() > 0.1  # non-trivial numbers
    torch.testing.assert_close(gathered, dense, atol=1e-5, rtol=0)


def test_net_gather_equals_dense_heads_channels_last():
    net = SMHRNet(backbone="mobilenet_v2", num_vertices=30, input_size=64).eval()
    for name in ("params", "kp_offsets", "texture", "light"):
        _randomise(getattr(net, name))
    net = net.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64).to(memory_format=torch.channels_last)
    with torch.no_grad():
        out = net(x)
        feat = out["features"]
        ind = torch.tensor([[0, 17, 255], [100, 15, 240]])
        g = net.gather(feat, ind)
        shapes = {"params": (122,), "kp_offsets": (21, 2), "texture": (30, 3), "light": (27,)}
        for name, shape in shapes.items():
            dense = gather_feat(getattr(net, name)(feat), ind).reshape(2, 3, *shape)
            assert g[name].shape == (2, 3, *shape)
            torch.testing.assert_close(g[name], dense, atol=1e-5, rtol=1e-5)


def test_initialisation_regression_near_zero_and_heatmap_prior():
    torch.manual_seed(0)
    net = SMHRNet(backbone="resnet18", num_vertices=20, input_size=64).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 64))
        g = net.gather(out["features"], torch.tensor([[0, 100]]))
    assert net.center.out.bias.item() == pytest.approx(HEATMAP_BIAS)
    assert torch.allclose(net.handedness.out.bias, torch.full((2,), HEATMAP_BIAS))
    assert net.params.out.bias.abs().max() == 0 and 0.0005 < net.params.out.weight.std() < 0.0015
    for v in g.values():
        assert v.abs().max() < 1e-2  # every regression output ~ 0 at init
