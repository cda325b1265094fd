"""Training throughput (samples/s) of a config's network on this machine, printed as JSON.

Times optimisation steps (forward, losses, backward, Adam) on one fixed batch drawn from the
config's own data pipeline, so the number is the network's cost alone (data preparation runs in a
DataLoader worker beside it during real training; docs/training.md). Compares configs side by side,
alternating, with and without channels-last memory format, and checks that both formats give the
same losses.

    python benchmarks/bench_train.py configs/preview-cpu.yaml configs/real-cpu.yaml --steps 10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from smhr.train.config import load_config, parse_overrides
from smhr.train.data import collate_targets
from smhr.train.loop import Trainer


def make_trainer(config: Path, overrides: list[str], channels_last: bool, out: Path) -> Trainer:
    sets = [
        "optim.steps=1000000",
        f"out_dir={out}",
        f"channels_last={str(channels_last).lower()}",
        *overrides,
    ]
    cfg = load_config(config, parse_overrides(sets))
    return Trainer(cfg, resume=False)


def fixed_batch(trainer: Trainer, n: int) -> dict[str, torch.Tensor]:
    ds = trainer.train_set
    ds.set_epoch(0)
    return collate_targets([ds[i] for i in range(n)])


def time_steps(trainer: Trainer, batch: dict[str, torch.Tensor], steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        trainer.train_step(batch)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="+", type=Path)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per run (after 2 warm-up steps)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per config and format")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="override for every config, KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path("/tmp/smhr-bench-train")
    runs = {}
    for cfg in args.configs:
        for cl in (False, True):
            tr = make_trainer(cfg, args.set, cl, out / f"{cfg.stem}-{int(cl)}-{time.time_ns()}")
            batch = fixed_batch(tr, tr.cfg.optim.batch_size)
            runs[(cfg.stem, cl)] = (tr, batch)
    # same losses in both memory formats (same initial weights: copy them across)
    parity = {}
    for name in {k[0] for k in runs}:
        a, batch = runs[(name, False)]
        b, _ = runs[(name, True)]
        b.net.load_state_dict(a.net.state_dict())
        with torch.no_grad():
            la = a.objective(a.model, {k: v.to(a.device) for k, v in batch.items()})[1]
            lb = b.objective(b.model, {k: v.to(b.device) for k, v in batch.items()})[1]
        parity[name] = max(abs(float(la[k]) - float(lb[k])) / max(abs(float(la[k])), 1e-6) for k in la)
    times: dict[tuple[str, bool], list[float]] = {k: [] for k in runs}
    for tr, batch in runs.values():
        time_steps(tr, batch, 2)  # warm-up
    for _ in range(args.rounds):
        for k, (tr, batch) in runs.items():
            times[k] += time_steps(tr, batch, args.steps)
    result = {"threads": args.threads, "configs": {}}
    for (name, cl), ts in times.items():
        ts = sorted(ts)
        bs = runs[(name, cl)][0].cfg.optim.batch_size
        med = ts[len(ts) // 2]
        entry = result["configs"].setdefault(
            name,
            {
                "batch_size": bs,
                "input_size": runs[(name, cl)][0].net.config.input_size,
                "max_rel_loss_diff_channels_last": parity[name],
            },
        )
        entry["channels_last" if cl else "contiguous"] = {
            "step_s_median": round(med, 3),
            "samples_per_s": round(bs / med, 2),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
