"""`smhr export --onnx OUT.onnx`: the network as ONNX, checked against PyTorch with onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smhr.io.messages import fail


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
        from smhr.onnx_export import compare_with_torch, export_onnx

        ckpt = load_smhr_checkpoint(path)  # weights only; one-line error naming the file
        net = network_from_checkpoint(ckpt, str(path))
        calibration = Calibration.from_meta(ckpt.get("meta", {}), str(path))
    except ImportError as e:
        fail(f"ONNX export needs onnx: pip install 'smhr[train]' ({e})")
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as e:
        fail(e)
    try:  # a failed export leaves no half-written file behind
        with atomic_path(onnx) as tmp:
            export_onnx(net, tmp, opset, calibration=calibration)
    except OSError as e:
        fail(f"cannot write --onnx {onnx} ({reason(e)}); choose a writable path")
    typer.echo(f"wrote {onnx} ({onnx.stat().st_size / 2**20:.1f} MiB, opset {opset})")
    if check:
        R = net.config.input_size
        diff = compare_with_torch(net, onnx)
        b = max(32, R * 3 // 4 // 32 * 32)
        for hw in ((b, R), (R, b)):  # bands like those of 4:3 frames, landscape and portrait
            band = compare_with_torch(net, onnx, hw=hw)
            typer.echo(f"onnxruntime vs pytorch on a {hw[1]}x{hw[0]} band: "
                       + ", ".join(f"{k} {v:.2e}" for k, v in band.items()))
            diff = {k: max(v, band[k]) for k, v in diff.items()}
        # last: the line scripts read ("max |onnxruntime - pytorch|:", the square input and the bands)
        typer.echo("max |onnxruntime - pytorch|: " + ", ".join(f"{k} {v:.2e}" for k, v in diff.items()))
        if max(diff.values()) > 1e-3:  # heads at the shared peaks, scores, and cells of untied scores
            fail("onnxruntime disagrees with PyTorch by more than 1e-3", 1)
