"""What dense palm distillation adds to a training step (`loss_weights.palm_distill`), printed as JSON.

One `Trainer` of the config (distillation switched on with --weight), one fixed batch from its own
data pipeline; alternating, it times (a) a whole optimisation step with distillation, (b) the same
step with the palm head and teacher switched off (what the run would cost without it), and (c) the
frozen palm detector alone on the batch (resize to palm_distill_size + its forward). Alternating
puts the three under the same machine load.

    python benchmarks/bench_distill.py configs/init-trial.yaml --threads 1 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from smhr.train.config import load_config, parse_overrides
from smhr.train.data import collate_targets
from smhr.train.loop import Trainer


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--weight", type=float, default=10.0, help="loss_weights.palm_distill")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (after one warm-up)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="config override, KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path("/tmp/smhr-bench-distill") / str(time.time_ns())
    cfg = load_config(args.config, parse_overrides([
        f"out_dir={out}", "optim.steps=1000000", f"loss_weights.palm_distill={args.weight}", *args.set]))
    tr = Trainer(cfg, resume=False)
    tr.train_set.set_epoch(0)
    batch = collate_targets([tr.train_set[i] for i in range(cfg.optim.batch_size)])
    teacher, head = tr.objective.palm_teacher, tr.palm_head
    gathering = tr.model.module if hasattr(tr.model, "module") else tr.model

    def switch(on: bool) -> None:
        tr.objective.palm_teacher = teacher if on else None
        tr.objective.weights["palm_distill"] = args.weight if on else 0.0
        gathering.palm_head = head if on else None

    images = batch["image"].to(tr.device)
    times: dict[str, list[float]] = {"step_with": [], "step_without": [], "teacher_alone": []}
    for r in range(args.rounds + 1):
        switch(True)
        a = _timed(lambda: tr.train_step(batch))
        switch(False)
        b = _timed(lambda: tr.train_step(batch))
        c = _timed(lambda: teacher(images))
        if r:  # round 0 warms up
            times["step_with"].append(a)
            times["step_without"].append(b)
            times["teacher_alone"].append(c)
    result = {
        "config": str(args.config), "threads": args.threads, "batch_size": cfg.optim.batch_size,
        "input_size": tr.net.config.input_size, "palm_distill_size": cfg.palm_distill_size,
        **{f"{k}_s_median": round(statistics.median(v), 3) for k, v in times.items()},
        **{f"{k}_s": [round(x, 3) for x in v] for k, v in times.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
