"""CPU latency of network variants (the choice of the shipped one, docs/network.md); prints JSON.

    python benchmarks/bench_variants.py [--sizes 224 256 288 320] [--threads 2] [--repeats 40]

Times the network forward (BatchNorms folded, channels-last) plus the per-hand heads gathered at one
centre, untrained weights (speed does not depend on them), median and p90 over `--repeats` calls
after 5 warm-up calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from smhr.model.fuse import fuse_conv_bn
from smhr.model.net import SMHRNet

VARIANTS = {
    "preview: csp neck + conv centre head": {"neck": "csp", "center_head": "conv"},
    "lite neck + conv centre head": {"neck": "lite", "center_head": "conv"},
    "lite neck + separable centre head (shipped)": {"neck": "lite", "center_head": "separable",
                                                    "param_hidden": 256},
}


def time_variant(kw: dict, size: int, repeats: int) -> tuple[float, float]:
    net = SMHRNet(backbone="mobilenet_v2", neck_channels=64, head_hidden=64, appearance=False,
                  num_vertices=1609, input_size=max(size, 64), **kw)
    net, _ = fuse_conv_bn(net.eval(), inplace=True)
    net = net.to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    ind = torch.tensor([[((size // 4) // 2) * (size // 4) + (size // 8)]])
    ts = []
    with torch.no_grad():
        for i in range(repeats + 5):
            t = time.perf_counter()
            out = net(x, handedness=False)
            net.gather(out["features"], ind)
            if i >= 5:
                ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return round(statistics.median(ts), 2), round(ts[int(0.9 * len(ts))], 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 256, 288, 320])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    times = {name: {str(s): time_variant(kw, s, args.repeats) for s in args.sizes}
             for name, kw in VARIANTS.items()}
    out = {"threads": args.threads, "ms_median_p90": times}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
