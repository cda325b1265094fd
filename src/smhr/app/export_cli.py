"""`smhr export --onnx OUT.onnx`: the network as ONNX, checked against PyTorch with onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smhr.io.messages import fail, one_line


def export_command(
    onnx: Annotated[Path, typer.Option("--onnx", help="ONNX file to write.")],
    weights: Annotated[Path | None, typer.Option("--weights", help="model.pt (default: bundled).")] = None,
    opset: Annotated[int, typer.Option("--opset", min=13, max=21)] = 17,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare with PyTorch in onnxruntime.")
    ] = True,
) -> None:
    """Export the network (uint8 images -> top-K centre peaks with the hand parameters, keypoint
    offsets and handedness gathered there) to ONNX for the torch-free onnxruntime backend:
    `Reconstructor.from_pretrained("OUT.onnx")` or `smhr demo --weights OUT.onnx`."""
    from smhr.errors import require_torch
    from smhr.io.atomic import atomic_path
    from smhr.runtime.calibration import Calibration
    from smhr.runtime.loading import bundled_weights

    require_torch("`smhr export`")  # one line naming the extra (smhr.cli.main prints it)
    from smhr.io.torchfiles import load_smhr_checkpoint, reason

    path = weights or bundled_weights()
    try:
        from smhr.model.loading import network_from_checkpoint
        from smhr.onnx_export import export_onnx

        ckpt = load_smhr_checkpoint(path)  # weights only; one-line error naming the file
        net = network_from_checkpoint(ckpt, str(path))
        calibration = Calibration.from_meta(ckpt.get("meta", {}), str(path))
    except ImportError as e:
        fail(f"ONNX export needs onnx: pip install 'smhr[train]' ({e})")
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as e:
        fail(e)
    lines: list[str] = []
    try:  # a failed export, or one that disagrees with PyTorch, leaves no file behind
        with atomic_path(onnx) as tmp:
            export_onnx(net, tmp, opset, calibration=calibration)
            if check:  # on the staged file: --onnx is written only when it agrees
                lines = _agreement(net, tmp, onnx)
    except OSError as e:
        fail(f"cannot write --onnx {onnx} ({reason(e)}); choose a writable path")
    typer.echo(f"wrote {onnx} ({onnx.stat().st_size / 2**20:.1f} MiB, opset {opset})")
    for line in lines:  # last: the line scripts read ("max |onnxruntime - pytorch|:")
        typer.echo(line)


def _agreement(net, staged: Path, onnx: Path) -> list[str]:
    """The lines reporting |onnxruntime - PyTorch| on the square input and on bands like those of 4:3
    frames (landscape and portrait), the overall maximum last; exit 1 (and so no --onnx file) when
    they disagree by more than 1e-3 or onnxruntime cannot run the staged file."""
    from smhr.onnx_export import compare_with_torch

    R = net.config.input_size
    b = max(32, R * 3 // 4 // 32 * 32)
    try:
        diff = compare_with_torch(net, staged)
        bands = {hw: compare_with_torch(net, staged, hw=hw) for hw in ((b, R), (R, b))}
    except Exception as e:  # onnxruntime's own error types: say it in one line, keep no file
        fail(f"--onnx {onnx}: onnxruntime could not run the export ({one_line(e, 200)}); nothing written", 1)
    lines = []
    for (h, w), band in bands.items():
        shown = ", ".join(f"{k} {v:.2e}" for k, v in band.items())
        lines.append(f"onnxruntime vs pytorch on a {w}x{h} band: {shown}")
        diff = {k: max(v, band[k]) for k, v in diff.items()}
    lines.append("max |onnxruntime - pytorch|: " + ", ".join(f"{k} {v:.2e}" for k, v in diff.items()))
    if max(diff.values()) > 1e-3:  # heads at the shared peaks, scores, and cells of untied scores
        for line in lines:
            typer.echo(line)
        fail(f"onnxruntime disagrees with PyTorch by more than 1e-3: nothing written to --onnx {onnx}", 1)
    return lines
