"""The one command a lent GPU runs: continue a CPU run from the pack of tools/gpu_pack.py, for a
wall-clock budget, and hand back the weights through $OUT (docs/training.md "Continuing on a GPU").

Why one script: a lent machine costs device time from its start, a fresh one starts bare, and a call
is at most 10 minutes; so everything (installing the carried wheels, regenerating the synthetic
sets, training, annealing, copying the results) happens in one call that ends on its own, well
inside the limit, even when data loading is slower than planned.

Steps: (1) carried wheels into a private site folder (no network there); (2) the synthetic sets
regenerated from their seeds, in parallel, on the CPU (byte-identical to the packed run's: the
first image's sha256 is checked); (3) `smhr train CONFIG` from the packed weights (`init`), its
steps and decays recomputed so the run ends at the CPU run's sample target with the decays at the
same sample counts, stopped by `--max-minutes` before that if time runs short; (4) when time ran
short, an anneal of --anneal-minutes continues last.pt at lr x0.1 then x0.01 (the CPU schedule's
shares of its last 13 %); (5) model.pt, metrics.jsonl, config.yaml and summary.json into --out.
Progress goes to stdout unbuffered, one line per --report-every seconds.

    PYTHONPATH=src python3 tools/gpu_continue.py --out $OUT --minutes 8
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

T0 = time.monotonic()
FILE_LIMIT = 16 * 2**20  # the largest file $OUT hands back


def say(message: str) -> None:
    print(f"[gpu_continue {time.monotonic() - T0:6.1f}s] {message}", flush=True)


def install_wheels(pack: Path) -> str:
    """pip-install the carried wheels into a private folder; returns the PYTHONPATH to add (first,
    so the pinned versions win over the image's)."""
    wheels = sorted((pack / "wheels").glob("*.whl"))
    if not wheels:
        return ""
    site = Path("/tmp/gpu_continue_site")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
           "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, wheels)]  # fmt: skip
    subprocess.run(cmd, check=True)
    say(f"installed {', '.join(w.name for w in wheels)} into {site}")
    return str(site)


def images_digest(root: Path, count: int) -> str:
    """sha256 over the first `count` training images of a synthetic set, in order."""
    h = hashlib.sha256()
    for i in range(count):
        h.update((root / "training" / "rgb" / f"{i:08d}.jpg").read_bytes())
    return h.hexdigest()


def regenerate_synth(specs: list[dict[str, Any]], env: dict[str, str], n: int | None, cores: int,
                     deadline_s: float) -> dict:
    """Every synthetic set at once, each rendered by its share of the cores (`smhr synth --workers`,
    one thread per process); checked against the packed sets' image digests."""
    from smhr.data.synth_render import SWITCHES, switch_flag

    workers = max(1, cores // max(1, len(specs)))
    t, procs = time.monotonic(), []
    for spec in specs:
        count = spec["n"] if n is None else min(n, spec["n"])
        shutil.rmtree(spec["out"], ignore_errors=True)
        args = {"--n": count, "--n-eval": 0, "--res": spec["res"], "--side": spec["side"],
                "--seed": spec["seed"], "--hand": spec["hand"], "--device": "cpu",
                **{switch_flag(name): spec[name] for name in SWITCHES}, "--workers": workers}  # fmt: skip
        cmd = [
            sys.executable,
            "-m",
            "smhr.cli",
            "synth",
            spec["out"],
            *(str(x) for kv in args.items() for x in kv),
        ]
        Path(spec["out"]).parent.mkdir(parents=True, exist_ok=True)
        log = open(Path(spec["out"] + ".log"), "w")  # noqa: SIM115 - closed below
        child_env = {**env, "OMP_NUM_THREADS": "1"}
        procs.append(
            (spec, count, subprocess.Popen(cmd, env=child_env, stdout=log, stderr=subprocess.STDOUT), log)
        )
    report = {}
    deadline = t + deadline_s
    try:
        for spec, _, proc, log in procs:
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise SystemExit(f"smhr synth {spec['out']}: not done after {deadline_s:.0f} s (the call's "
                                 "budget would run out); lower --synth-n or raise --minutes") from None
            log.close()
            if rc != 0:
                tail = Path(spec["out"] + ".log").read_text()[-2000:]
                raise SystemExit(f"smhr synth {spec['out']} failed (rc {rc}):\n{tail}")
    finally:  # one failed or late set: the others must not render on into the training's cores
        for _, _, proc, log in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    for spec, count, _, _ in procs:
        root = Path(spec["out"])
        first = hashlib.sha256((root / "training" / "rgb" / "00000000.jpg").read_bytes()).hexdigest()
        row = {"images": count, "first_image_identical": first == spec.get("first_sha256")}
        if count == spec["n"] and spec.get("images_sha256"):
            row["all_images_identical"] = images_digest(root, count) == spec["images_sha256"]
        report[root.name] = row
    report["seconds"] = round(time.monotonic() - t, 1)
    say(f"synthetic sets regenerated in {report['seconds']} s ({workers} worker processes each): {report}")
    return report


def config_values(path: Path) -> dict[str, Any]:
    """A training config file's values with its `base:` files' (`smhr.train.config.read_config_file`;
    imported here, once smhr is on the path)."""
    from smhr.train.config import read_config_file

    return read_config_file(path)


def plan(
    pack: dict[str, Any], config: dict[str, Any], batch: int, target: int | None = None
) -> dict[str, Any]:
    """Steps and decays of the continuation in its own batch: the CPU run's sample target (or
    `target`) and decay points (its steps x batch) minus the samples the packed weights have seen."""
    cpu = config_values(Path(pack["config"]))["optim"]
    done = int(pack["weights"]["samples"])
    target = cpu["steps"] * cpu["batch_size"] if target is None else target
    marks = [m * cpu["batch_size"] for m in cpu.get("lr_steps", [])]
    steps = max(1, math.ceil((target - done) / batch))
    decays = [max(1, math.ceil((m - done) / batch)) for m in marks if done < m < target]
    return {
        "start_samples": done,
        "target_samples": target,
        "batch": batch,
        "steps": steps,
        "lr_steps": decays,
    }


def train(
    args: argparse.Namespace,
    env: dict[str, str],
    sets: list[str],
    minutes: float,
    tag: str,
    config: Path | None = None,
    run: Path | None = None,
) -> dict:
    """One `smhr train` call, bounded twice: --max-minutes inside, a hard stop (Ctrl-C = save) outside."""
    config, run = config or args.config, run or args.run
    cmd = [
        sys.executable,
        "-m",
        "smhr.cli",
        "train",
        str(config),
        "--set",
        f"out_dir={run}",
        "--set",
        f"device={args.device}",
        "--max-minutes",
        f"{minutes:.3f}",
        *sets,
    ]
    say(f"{tag}: {' '.join(cmd[3:])}")
    metrics = run / "metrics.jsonl"
    done = threading.Event()

    def report() -> None:
        seen = len(metrics.read_text().splitlines()) if metrics.exists() else 0
        while not done.wait(args.report_every):
            if metrics.exists():
                lines = metrics.read_text().splitlines()
                try:
                    rows = [json.loads(x) for x in lines[seen:] if '"total"' in x]
                except ValueError:  # a line half written: read it whole next time
                    continue
                seen = len(lines)
                if rows:
                    r = rows[-1]
                    say(
                        f"{tag} step {r.get('step')}: loss {r.get('total', float('nan')):.4g}, "
                        f"kp {r.get('kp2d_px', float('nan')):.2f} px, {r.get('images_per_s', 0):.0f} img/s, "
                        f"lr {r.get('lr', 0):.3g}"
                    )

    watcher = threading.Thread(target=report, daemon=True)
    watcher.start()
    t = time.monotonic()
    proc = subprocess.Popen(cmd, env=env)
    try:
        rc = proc.wait(timeout=minutes * 60 + args.startup_seconds + args.grace)
    except subprocess.TimeoutExpired:
        say(f"{tag}: still running well past its budget (a slow loader?): interrupting, it saves")
        proc.send_signal(2)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    done.set()
    return {"rc": rc, "seconds": round(time.monotonic() - t, 1)}


def last_rows(metrics: Path) -> list[dict[str, Any]]:
    if not metrics.exists():
        return []
    return [json.loads(x) for x in metrics.read_text().splitlines() if '"total"' in x]


def saved_step(run: Path) -> int:
    """The step last.pt holds (0 when there is none): where a resume continues."""
    if not (run / "last.pt").exists():
        return 0
    from smhr.train.checkpoint import load_checkpoint

    return int(load_checkpoint(run / "last.pt")["step"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", type=Path, default=Path("gpu"))
    ap.add_argument("--config", type=Path, default=Path("configs/v3-gpu.yaml"))
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out/gpu")))
    ap.add_argument("--run", type=Path, default=Path("/tmp/v3-gpu-run"), help="training out_dir there")
    ap.add_argument("--minutes", type=float, default=8.0, help="wall clock for all of it, from the start")
    ap.add_argument("--anneal-minutes", type=float, default=1.0)
    ap.add_argument("--appearance-config", type=Path, default=Path("configs/v3-gpu-appearance.yaml"))
    ap.add_argument(
        "--appearance-minutes",
        type=float,
        default=1.5,
        help="the appearance phase, in the time left once geometry reached its target",
    )
    ap.add_argument("--target-samples", type=int, default=None, help="override the CPU run's (a tiny test)")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--batch", type=int, default=None, help="override the config's batch (lr by the sqrt rule)"
    )
    ap.add_argument("--workers", type=int, default=None, help="override data.num_workers")
    ap.add_argument("--synth-n", type=int, default=None, help="fewer synthetic images (a tiny test)")
    ap.add_argument("--startup-seconds", type=float, default=30.0, help="a training call's set-up, expected")
    ap.add_argument("--report-every", type=float, default=20.0)
    ap.add_argument("--grace", type=float, default=40.0, help="seconds past a budget before the hard stop")
    args = ap.parse_args(argv)
    pack = json.loads((args.pack / "pack.json").read_text())
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(
            p
            for p in (install_wheels(args.pack), str(Path("src").resolve()), os.environ.get("PYTHONPATH"))
            if p
        ),
    }
    sys.path[:0] = [x for x in env["PYTHONPATH"].split(os.pathsep) if x]  # smhr for this process too
    config = config_values(args.config)
    cores = os.cpu_count() or 1
    say(
        f"start: {cores} cores, pack {pack['out']} ({pack['pack_bytes'] / 1e6:.1f} MB), weights at "
        f"{pack['weights']['samples']} samples"
    )
    synth = regenerate_synth(pack["synth_regenerate"], env, args.synth_n, cores, 0.4 * 60 * args.minutes)
    batch = args.batch or config["optim"]["batch_size"]
    p = plan(pack, config, batch, args.target_samples)
    lr = config["optim"]["lr"] * (math.sqrt(batch / config["optim"]["batch_size"]) if args.batch else 1.0)
    sets = [
        "--set",
        f"optim.batch_size={batch}",
        "--set",
        f"optim.lr={lr:.4g}",
        "--set",
        f"optim.steps={p['steps']}",
        "--set",
        f"optim.lr_steps={p['lr_steps']}",
        "--set",
        f"init={args.pack / 'start.pt'}",
    ]
    extra = [] if args.workers is None else ["--set", f"data.num_workers={args.workers}"]  # every phase
    sets += extra
    shutil.rmtree(args.run, ignore_errors=True)
    left = args.minutes - (time.monotonic() - T0) / 60
    # --max-minutes counts from the first step; building the data (preloading photos), the hand
    # model and the loader workers comes before it: --startup-seconds for the first call,
    # measured for the second
    main_minutes = left - args.anneal_minutes - 2 * args.startup_seconds / 60
    if main_minutes <= 0.05:
        raise SystemExit(f"--minutes {args.minutes}: nothing left for training after the set-up; raise it")
    say(f"plan: {p}, lr {lr:.4g}; {main_minutes:.2f} min, then {args.anneal_minutes} min of anneal if needed")
    phases = {"main": train(args, env, sets, main_minutes, "main")}
    if phases["main"]["rc"] != 0 and saved_step(args.run) == 0:  # failed before its first save: once
        # more without autocast (bf16 on CUDA is the path the CPU tests cannot reach), in what is left
        shutil.rmtree(args.run, ignore_errors=True)
        sets += ["--set", "amp=off"]
        extra += ["--set", "amp=off"]
        main_minutes = (
            args.minutes - (time.monotonic() - T0) / 60 - args.anneal_minutes - args.startup_seconds / 30
        )
        say(f"main failed (rc {phases['main']['rc']}) before saving: again, amp off, {main_minutes:.2f} min")
        phases["main_failed"] = phases["main"]
        if main_minutes > 0.2:
            phases["main"] = train(args, env, sets, main_minutes, "main-amp-off")
    step = saved_step(args.run)
    # construction + save, measured; a main phase that ended early (target reached) measured nothing
    startup = max(float(args.startup_seconds), phases["main"]["seconds"] - 60 * main_minutes)
    left = args.minutes - (time.monotonic() - T0) / 60 - startup / 60
    if step and step < p["steps"] and left > 0.1:
        rate = step / max(phases["main"]["seconds"], 1e-9)  # steps/s, start-up included
        k = min(max(2, int(rate * left * 60)), p["steps"] - step)  # never past the sample target
        anneal = [step, step + max(1, int(0.68 * k))]  # CPU schedule: 3000 steps x0.1, 1400 x0.01
        sets2 = [
            *sets,
            "--set",
            f"optim.steps={step + k}",
            "--set",
            f"optim.lr_steps={anneal}",
            "--allow-config-change",
        ]
        phases["anneal"] = {**train(args, env, sets2, left, "anneal"), "lr_steps": anneal, "planned_steps": k}
    phases["main"]["setup_seconds"] = round(startup, 1)
    rows = last_rows(args.run / "metrics.jsonl")
    final = rows[-1] if rows else {}
    steps_run = saved_step(args.run)
    model = args.run / "model.pt"
    args.out.mkdir(parents=True, exist_ok=True)
    # the appearance phase follows geometry only once geometry reached its sample target
    left = args.minutes - (time.monotonic() - T0) / 60 - startup / 60
    appearance = args.run.with_name(args.run.name + "-appearance")
    if steps_run >= p["steps"] and args.appearance_minutes > 0 and left > 0.25:
        shutil.rmtree(appearance, ignore_errors=True)
        app = config_values(args.appearance_config)["optim"]
        app_lr = app["lr"] * (math.sqrt(batch / app["batch_size"]) if args.batch else 1.0)
        sets3 = ["--set", f"init={model}", "--set", f"optim.batch_size={batch}", "--set",
                 f"optim.lr={app_lr:.4g}", *extra]  # fmt: skip
        phases["appearance"] = train(args, env, sets3, min(left, args.appearance_minutes), "appearance",
                                     args.appearance_config, appearance)  # fmt: skip
        if saved_step(appearance):
            model = appearance / "model.pt"
            shutil.copy(appearance / "metrics.jsonl", args.out / "metrics-appearance.jsonl")
            shutil.copy(appearance / "config.yaml", args.out / "config-appearance.yaml")
            phases["appearance"]["steps"] = saved_step(appearance)
    returned = None
    if model.exists():
        if model.stat().st_size < FILE_LIMIT:
            returned = shutil.copy(model, args.out / "model.pt")
        else:  # too big to come back: the float16 copy (tools/gpu_pack.py's rule)
            sys.path.insert(0, str(Path(__file__).parent))
            from gpu_pack import pack_weights

            pack_weights(model, args.out / "model.pt")
            returned = args.out / "model.pt"
    for name in ("metrics.jsonl", "config.yaml"):
        if (args.run / name).exists():
            shutil.copy(args.run / name, args.out / name)
    speeds = [r["images_per_s"] for r in rows if "images_per_s" in r]
    summary = {
        "device": _device(),
        "plan": p,
        "lr": lr,
        "synth": synth,
        "phases": phases,
        "steps": steps_run,
        "samples": steps_run * batch,
        "total_samples": p["start_samples"] + steps_run * batch,
        "images_per_s_last": speeds[-1] if speeds else None,
        "reached_target": steps_run >= p["steps"],
        "final": {k: final[k] for k in ("total", "kp2d_px", "joints3d", "side_ce", "lr") if k in final},
        "model": str(returned) if returned else None,
        "wall_seconds": round(time.monotonic() - T0, 1),
        "final_logged_step": final.get("step"),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    say("summary " + json.dumps(summary))
    return summary


def _device() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception as exc:  # the summary must still be written
        return f"unknown ({exc})"


if __name__ == "__main__":
    main()
