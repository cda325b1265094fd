"""One training process of tests/test_distributed.py: run by `torchrun --nproc-per-node 2` (gloo,
CPU) and, for the reference, as one plain process with the same global batch.

The network is tiny and has no BatchNorm: a plain strided-convolution backbone and a 1x1 neck,
registered here the way a user adds a backbone and a neck (one registration line each). Without
batch statistics, two ranks of batch B that average their gradients compute exactly what one
process computes on the 2B images, so the test can demand equality, not a loose resemblance.

usage: ddp_worker.py SETTINGS.json OUT_PREFIX  (writes OUT_PREFIX<rank>.pt)
"""

import json
import sys
from pathlib import Path

import torch
from torch import nn

from smhr.model.backbones import BackboneSpec, register_backbone
from smhr.model.neck import NECKS


def _plain_net() -> nn.Sequential:
    layers = []
    for cin in (3, 8, 8, 8, 8):  # five stride-2 convolutions: strides 2, 4, 8, 16, 32
        layers += [nn.Conv2d(cin, 8, 3, stride=2, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


class PlainNeck(nn.Module):
    """Stride-8 map -> 1x1 convolution -> 2x nearest upsampling: stride 4, no normalisation."""

    out_stride = 4
    uses_stride4 = False

    def __init__(self, channels4: tuple[int, ...], out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels4[1], out_channels, 1)
        self.out_channels = out_channels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return nn.functional.interpolate(self.proj(feats[0]), scale_factor=2.0, mode="nearest")


register_backbone("plain_test", BackboneSpec(_plain_net, lambda n: [n[:6], n[6:8], n[8:10]], 4, (8, 8, 8, 8)))
NECKS.register("plain_test", PlainNeck)


def main() -> None:
    from smhr.train.config import load_config
    from smhr.train.loop import Trainer

    settings = json.loads(Path(sys.argv[1]).read_text())
    trainer = Trainer(load_config(None, settings), resume=False)
    history = trainer.fit()
    state = {k: v.detach().clone() for k, v in trainer.net.state_dict().items()}
    torch.save({"state": state, "history": history, "world": trainer.world},
               f"{sys.argv[2]}{trainer.rank}.pt")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
