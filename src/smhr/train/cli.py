"""`smhr train CONFIG.yaml`: run one training stage (single process, or under `torchrun`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["train_command"]


def train_command(
    config: Annotated[Path | None, typer.Argument(help="YAML config (see configs/); or use --stage")] = None,
    stage: Annotated[str | None, typer.Option("--stage", help="preset: 1, 2, 3, full")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="e.g. --set optim.lr=3e-4")] = None,
    resume: Annotated[bool, typer.Option("--resume/--fresh", help="continue from OUT_DIR/last.pt")] = True,
    resume_from: Annotated[Path | None, typer.Option("--resume-from", help="continue from this file")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="stop at this total step")] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="print the resolved config")] = False,
) -> None:
    """Train SMHR: stage 1 (2D, single hand, 224), 2 (+ photometric / silhouette), 3 (multi-hand, 384),
    or full (3D supervision). Checkpoints: OUT_DIR/last.pt (resumable) and OUT_DIR/model.pt (weights)."""
    import yaml

    from smhr.train.config import load_config, parse_overrides

    try:
        cfg = load_config(config, parse_overrides(set_), stage=stage)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if print_config:
        typer.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return
    from smhr.train.loop import Trainer

    try:
        trainer = Trainer(cfg, resume=resume_from if resume_from is not None else resume)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    history = trainer.fit(steps)
    if history and trainer.rank == 0:
        last = history[-1]
        typer.echo(f"step {trainer.step}: loss {last['total']:.4g}, 2D keypoint error "
                   f"{last['kp2d_px']:.2f} px; weights in {Path(cfg.out_dir) / 'model.pt'}")
