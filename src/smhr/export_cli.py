"""`smhr export --onnx OUT.onnx`: the network as ONNX, checked against PyTorch with onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_command(
    onnx: Annotated[Path, typer.Option("--onnx", help="ONNX file to write.")],
    weights: Annotated[Path | None, typer.Option("--weights", help="model.pt (default: bundled).")] = None,
    opset: Annotated[int, typer.Option("--opset", min=13, max=21)] = 17,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare with PyTorch in onnxruntime.")
    ] = True,
) -> None:
    """Export the network (images -> centre, handedness, parameter and keypoint maps) to ONNX; decode
    it with `Reconstructor.from_pretrained("OUT.onnx")` or `smhr demo --weights OUT.onnx`."""
    import torch

    from smhr.api import bundled_weights, stored_score_threshold
    from smhr.model.net import SMHRNet

    path = weights or bundled_weights()
    try:
        from smhr.onnx_export import compare_with_torch, export_onnx

        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        net = SMHRNet.from_checkpoint(ckpt, str(path))
    except ImportError as e:
        typer.echo(f"error: ONNX export needs onnx and onnxruntime: pip install 'smhr[onnx]' ({e})", err=True)
        raise typer.Exit(2) from None
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as e:
        typer.echo(f"error: {path}: {e}", err=True)
        raise typer.Exit(2) from None
    export_onnx(net, onnx, opset, score_threshold=stored_score_threshold(ckpt))
    typer.echo(f"wrote {onnx} ({onnx.stat().st_size / 2**20:.1f} MiB, opset {opset})")
    if check:
        diff = compare_with_torch(net, onnx)
        typer.echo("max |onnxruntime - pytorch|: " + ", ".join(f"{k} {v:.2e}" for k, v in diff.items()))
        if max(diff.values()) > 1e-3:
            typer.echo("error: onnxruntime disagrees with PyTorch by more than 1e-3", err=True)
            raise typer.Exit(1)
