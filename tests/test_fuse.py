"""Folding BatchNorm into convolutions for inference keeps every network output."""

import pytest
import torch

from smhr.model.fuse import fuse_conv_bn
from smhr.model.net import SMHRNet


@pytest.mark.parametrize("backbone", ["mobilenet_v2", "resnet18"])
def test_fused_network_gives_the_same_outputs_without_batchnorm(backbone: str) -> None:
    torch.manual_seed(0)
    net = SMHRNet(backbone=backbone, input_size=64, neck_channels=16, head_hidden=16, appearance=False)
    net.train()
    with torch.no_grad():  # non-trivial running statistics, so a wrong fold would show
        for _ in range(3):
            net(torch.randn(2, 3, 64, 64) * 2 + 0.5)
    net.eval()
    fused, count = fuse_conv_bn(net)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert count == n_bn > 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # the original is untouched
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = net(x), fused(x)
        ind = torch.tensor([[0, 17], [100, 255]])
        ga, gb = net.gather(a["features"], ind), fused.gather(b["features"], ind)
    for k in ("features", "center", "handedness"):
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=1e-4), k
    assert torch.allclose(ga["params"], gb["params"], atol=1e-4, rtol=1e-4)
