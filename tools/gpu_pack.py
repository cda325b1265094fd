"""Pack a CPU run's weights and a compact copy of its training data for one call on a lent GPU.

Why: the device machine receives only the repository's working tree plus the paths named in its
`carry`, 64 MiB in all (docs/training.md "Continuing on a GPU"), and reaches no network; the
tracked tree already takes most of that. So this writes into one ignored folder (default `gpu/`):

    start.pt                   the run's weights (model.pt or last.pt), floating tensors as float16
                               except BatchNorm statistics (float32); `init:` casts them back to float32
    labels/<set>/              each trainable labelled set of the config, only the records packed,
                               coordinates rewritten for the downscaled photos
    real/<set>/<path>          those photos, longer side at most --max-side, JPEG --quality
    pack.json                  what was packed (also printed): counts, bytes, the weights' precision
                               cost, the synthetic sets to regenerate there (`smhr synth` arguments
                               read from each set's meta.json and the sha256 of its first image)

Photos are taken in an order that keeps each set's share of the original (the same fraction of
every set) and prefers one photo per near-duplicate group, until --budget-mb (weights + data) is
full. Test-only sets (meta.json role "test") are refused. Synthetic roots are never packed: they
regenerate there from their seeds (`tools/gpu_continue.py`), byte-identical on a CPU device.

    python tools/gpu_pack.py --weights /work/runs/v3-cpu/model.pt --config configs/v3-cpu.yaml --out gpu
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_pack_real import pack_real

DEVICE_LIMIT = 64 * 2**20  # what the device call takes: working tree + carried paths
MARGIN = 2 * 2**20  # room left for commits landing between packing and the call
LABELLED_KINDS = ("labelled", "composed_labelled")
# carried as wheels (it has no network): roma, which the device image lacks (its KINDS.md list), and
# the command line's typer + click at the versions here (the image's are unpinned)
DEVICE_MISSING = ("roma", "typer", "click")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def tree_bytes(repo: Path, exclude: Path) -> int:
    """Bytes of what the device call sends besides `carry`: tracked + untracked-not-ignored files."""
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    total = 0
    for name in filter(None, out.split(b"\0")):
        path = repo / name.decode()
        if path.is_file() and not path.is_symlink() and exclude not in path.resolve().parents:
            total += path.stat().st_size
    return total


def config_roots(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(labelled roots, synthetic roots) a training config draws from, each once, in order."""
    data = config.get("data", {})
    parts = data.get("mixture") or [data]
    labelled: list[str] = []
    synth: list[str] = []
    for part in parts:
        roots = part.get("roots") or ([part["root"]] if part.get("root") else [])
        target = labelled if part.get("kind") in LABELLED_KINDS else synth
        target.extend(r for r in roots if r not in target)
    backgrounds = {**data.get("shared", {}).get("backgrounds", {}), **data.get("backgrounds", {})}
    labelled.extend(r for r in backgrounds.get("roots", []) if r not in labelled)
    return labelled, synth


def pack_weights(src: Path, dst: Path) -> dict[str, Any]:
    """float16 copy of a model.pt / last.pt (BatchNorm statistics stay float32) and what it costs:
    the largest relative change of a weight and of the network's outputs on a fixed random image."""
    from smhr.io.torchfiles import load_smhr_checkpoint
    from smhr.model.net import SMHRNet
    from smhr.train.checkpoint import save_checkpoint

    ckpt = load_smhr_checkpoint(src)
    keep = ("running_mean", "running_var", "num_batches_tracked")
    half = {
        k: (v.half() if v.is_floating_point() and not k.endswith(keep) else v)
        for k, v in ckpt["model"].items()
    }
    meta = {
        **ckpt.get("meta", {}),
        "stored_dtype": "float16 (BatchNorm statistics float32)",
        "packed_from": str(src),
    }
    save_checkpoint(dst, {"config": ckpt["config"], "model": half, "meta": meta})
    full, small = (
        SMHRNet.from_checkpoint({"config": ckpt["config"], "model": w}).eval() for w in (ckpt["model"], half)
    )
    size = full.config.input_size
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = full(image), small(image)
    rel = max(float((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)) for k in a)
    changed = max(
        float(((half[k].float() - v).abs() / v.abs().clamp_min(6.1e-5)).max())
        for k, v in ckpt["model"].items()
        if v.is_floating_point()
    )
    train_cfg = meta.get("train_config", {})
    batch = int(train_cfg.get("optim", {}).get("batch_size", 0)) * max(1, int(meta.get("world", 1)))
    step = int(meta.get("step", ckpt.get("step", 0)))
    return {
        "path": str(dst),
        "from": str(src),
        "bytes": dst.stat().st_size,
        "step": step,
        "samples": step * batch,
        "max_weight_rel_change": round(changed, 6),
        "max_output_rel_change": round(rel, 6),
    }



def images_digest(root: Path, count: int) -> str | None:
    """sha256 over a synthetic set's training images in order (None if one is missing); the device
    checks its regenerated set against it (tools/gpu_continue.py)."""
    h = hashlib.sha256()
    for i in range(count):
        path = root / "training" / "rgb" / f"{i:08d}.jpg"
        if not path.is_file():
            return None
        h.update(path.read_bytes())
    return h.hexdigest()


def synth_specs(roots: list[str], out: Path) -> list[dict[str, Any]]:
    """How to regenerate each synthetic root there: `smhr synth` arguments from its meta.json."""
    from smhr.data.synth_render import SWITCHES

    specs = []
    for root in roots:
        meta_path = Path(root) / "meta.json"
        if not meta_path.is_file():
            fail(
                f"{root}: no meta.json, so it cannot be regenerated on the device; make it with `smhr synth`"
            )
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") != "smhr synth":
            fail(
                f"{root}: not written by `smhr synth` (generator {meta.get('generator')!r}), "
                "so it cannot be regenerated there"
            )
        first = Path(root) / "training" / "rgb" / "00000000.jpg"
        sw = meta.get("switches", {})
        specs.append(
            {
                "root": str(root),
                "out": str(out / "synth" / Path(root).name),
                "n": meta["count"]["training"],
                "res": meta["res"],
                "side": meta["side"],
                "seed": meta["seed"],
                "hand": meta["hand_model"],
                **{name: sw.get(name, 0.0) for name in SWITCHES},
                "first_sha256": hashlib.sha256(first.read_bytes()).hexdigest() if first.is_file() else None,
                "images_sha256": images_digest(Path(root), meta["count"]["training"])
                if first.is_file()
                else None,
            }
        )
    return specs


def pack_wheels(out: Path, wheels: list[Path]) -> list[str]:
    """Wheels of DEVICE_MISSING into out/wheels (it has no network): the given files, or the
    locally installed versions downloaded from PyPI for CPython 3.12 (pure-Python wheels)."""
    from importlib.metadata import version

    (out / "wheels").mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        shutil.copy(wheel, out / "wheels" / wheel.name)
    have = {p.name.split("-")[0].lower() for p in (out / "wheels").glob("*.whl")}
    for name in DEVICE_MISSING:
        if name in have:
            continue
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            "--platform",
            "manylinux2014_x86_64",
            "-d",
            str(out / "wheels"),
            f"{name}=={version(name)}",
        ]
        if subprocess.run(cmd).returncode != 0:
            fail(
                f"could not download the {name} wheel (no PyPI here?); "
                f"pass one with --wheel {name}-X-py3-none-any.whl"
            )
    return sorted(p.name for p in (out / "wheels").glob("*.whl"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, required=True, help="the run's model.pt or last.pt")
    ap.add_argument(
        "--config", type=Path, required=True, help="the config the run trains with (its data roots)"
    )
    ap.add_argument("--out", type=Path, default=Path("gpu"), help="ignored folder to write (replaced)")
    ap.add_argument(
        "--budget-mb",
        type=float,
        default=None,
        help="weights + data, MB (1e6 bytes); default: what keeps the device call 2 MiB under 64 MiB",
    )
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--quality", type=int, default=75)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--wheel", type=Path, action="append", default=[], help="a wheel to carry (else downloaded)"
    )
    ap.add_argument("--repo", type=Path, default=Path("."), help="the checkout the device call sends")
    args = ap.parse_args(argv)
    if not args.weights.is_file():
        fail(f"--weights {args.weights}: no such file")
    from smhr.train.config import read_config_file

    config = read_config_file(args.config)
    labelled, synth = config_roots(config)
    from smhr.data.labelled import ReservedSourceError, read_meta, role_of

    tests = [r for r in labelled if role_of(read_meta(r)) == "test"]
    if tests:
        fail(
            f"{', '.join(tests)}: test-only labelled set(s) in {args.config}; "
            "refusing to pack them for training"
        )
    repo_bytes = tree_bytes(args.repo.resolve(), args.out.resolve())
    room = DEVICE_LIMIT - MARGIN - repo_bytes
    budget = int(args.budget_mb * 1e6) if args.budget_mb is not None else room
    if budget > DEVICE_LIMIT - repo_bytes:
        fail(
            f"--budget-mb {args.budget_mb}: the tree already sends {repo_bytes / 1e6:.1f} MB, so at most "
            f"{(DEVICE_LIMIT - repo_bytes) / 1e6:.1f} MB fit in the device's 64 MiB; lower it"
        )
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    weights = pack_weights(args.weights, args.out / "start.pt")
    if weights["bytes"] >= budget:
        fail(f"--budget-mb: the weights alone take {weights['bytes'] / 1e6:.1f} MB; raise it")
    wheels = pack_wheels(args.out, args.wheel)
    wheel_bytes = sum(p.stat().st_size for p in (args.out / "wheels").iterdir())
    image_roots = config.get("data", {}).get("shared", {}).get("photos", {}).get("image_roots", {})
    try:
        real = pack_real(
            labelled,
            args.out,
            budget - weights["bytes"] - 16384 - wheel_bytes,
            args.max_side,
            args.quality,
            args.seed,
            image_roots,
        )
    except (ReservedSourceError, FileNotFoundError) as exc:
        fail(str(exc))
    pack_bytes = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    report = {
        "out": str(args.out),
        "config": str(args.config),
        "weights": weights,
        "real": real,
        "synth_regenerate": synth_specs(synth, args.out),
        "wheels": wheels,
        "budget_bytes": budget,
        "pack_bytes": pack_bytes + 4096,
        "tree_bytes": repo_bytes,
        "device_total_bytes": repo_bytes + pack_bytes + 4096,
        "device_limit_bytes": DEVICE_LIMIT,
    }
    report["device_total_mib"] = round(report["device_total_bytes"] / 2**20, 2)
    (args.out / "pack.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if report["device_total_bytes"] > DEVICE_LIMIT:
        fail(f"tree + pack = {report['device_total_mib']} MiB > 64 MiB; pack again with a lower --budget-mb")
    return report


if __name__ == "__main__":
    main()
