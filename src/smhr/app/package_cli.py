"""`smhr package SRC DST`: a trained model.pt made into shippable weights with its calibration.

Why a command: the values measured for a set of weights (detection threshold, the large-hand
rule's threshold and span, the smallest hand: `smhr.runtime.calibration`) must travel inside the
file, or another training's weights run with the bundled ones' values; and shipped files store
float16 tensors (half the size, loaded back as float32). `smhr export --onnx` copies the
calibration into the ONNX metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["package_command"]


def package_command(
    src: Annotated[Path, typer.Argument(help="model.pt (or last.pt / step_*.pt) written by `smhr train`.")],
    dst: Annotated[Path, typer.Argument(help="The packaged model.pt to write.")],
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Detection threshold measured for these weights.")] = None,
    large_hand_threshold: Annotated[float | None, typer.Option(
        "--large-hand-threshold", min=0.0, max=1.0, help="Score from which a hand filling the view "
        "is kept (tools/calibrate_large_hands.py; >= --threshold: the rule is off).")] = None,
    large_side: Annotated[float | None, typer.Option(
        "--large-side", min=0.01, max=1.0, help="Share of the view's long side a 'large' hand "
        "spans.")] = None,
    min_hand_side: Annotated[float | None, typer.Option(
        "--min-hand-side", min=0.0, max=0.5, help="Hands shorter than this share of the network input's "
        "side in their view are dropped (tools/calibrate_large_hands.py).")] = None,
    note: Annotated[str | None, typer.Option(
        "--note", help="What these weights are (stored as meta.note).")] = None,
    metrics: Annotated[Path | None, typer.Option(
        "--metrics", help="JSON file whose object is stored as meta.metrics (the measured numbers).")] = None,
    average: Annotated[list[Path] | None, typer.Option(
        "--average", help="Another snapshot of the same run (a step_*.pt) to average with SRC; repeat "
        "for more (stochastic weight averaging: docs/training.md).")] = None,
    float16: Annotated[bool, typer.Option(
        "--float16/--float32", help="Store floating tensors as float16 (half the size).")] = True,
) -> None:
    """Package trained weights: float16 tensors (optionally the mean of SRC and --average snapshots),
    and the calibration values given here stored in the file's metadata (values not given keep what
    SRC stores; unset ones mean the library defaults). The printed line lists what DST stores."""
    from smhr.errors import require_torch
    from smhr.io.messages import fail

    require_torch("`smhr package`")
    from smhr.io.torchfiles import reason
    from smhr.runtime.calibration import Calibration
    from smhr.train.checkpoint import CheckpointWriteError, packaged, save_checkpoint

    given = (("score_threshold", threshold), ("large_hand_threshold", large_hand_threshold),
             ("large_side", large_side), ("min_hand_side", min_hand_side))  # fmt: skip
    extra: dict[str, Any] = {k: v for k, v in given if v is not None}
    if note is not None:
        extra["note"] = note
    if metrics is not None:
        try:
            extra["metrics"] = json.loads(metrics.read_text())
        except (OSError, ValueError) as e:
            fail(f"--metrics {metrics}: cannot read it as JSON ({reason(e)}); pass a JSON file")
        if not isinstance(extra["metrics"], dict):
            fail(f"--metrics {metrics}: holds a JSON {type(extra['metrics']).__name__}, not an object")
    try:
        ckpt = packaged(src, half=float16, average=average or (), **extra)
        out = save_checkpoint(dst, ckpt)
    except (FileNotFoundError, ValueError, CheckpointWriteError) as e:
        fail(e)
    meta = ckpt["meta"]
    stored = Calibration.from_meta(meta).to_meta()
    said = ", ".join(f"{k} {v:g}" for k, v in stored.items()) or "no calibration (library defaults)"
    step = (f"mean of steps {', '.join(map(str, meta['averaged_steps']))}" if average
            else f"step {meta.get('step', '?')}")  # fmt: skip
    typer.echo(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {step}): {said}")
