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
    resume_from: Annotated[Path | None, typer.Option(
        "--resume-from", help="continue from this file (a last.pt, or a step_*.pt / model.pt: weights and "
        "step)")] = None,
    allow_config_change: Annotated[bool, typer.Option(
        "--allow-config-change", help="resume even though the config differs from the checkpoint's "
        "(the differences are listed; config.yaml is kept as config.before_step_N.yaml)")] = False,
    steps: Annotated[int | None, typer.Option("--steps", help="stop at this total step")] = None,
    max_minutes: Annotated[float | None, typer.Option(
        "--max-minutes", help="stop after this much wall clock (saved; the same command continues); "
        "= --set optim.max_minutes=M")] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="print the resolved config")] = False,
) -> None:
    """Train SMHR: stage 1 (2D, single hand, 224), 2 (+ photometric / silhouette), 3 (multi-hand, 384),
    or full (3D supervision). Checkpoints: OUT_DIR/last.pt (resumable) and OUT_DIR/model.pt (weights)."""
    import yaml

    from smhr.io.messages import echo_error, fail
    from smhr.train.config import load_config, parse_overrides

    try:
        overrides = parse_overrides(set_)
        if max_minutes is not None:
            overrides.setdefault("optim", {})["max_minutes"] = max_minutes
        cfg = load_config(config, overrides, stage=stage)
    except (ValueError, FileNotFoundError) as exc:
        fail(exc)
    if print_config:
        typer.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return
    from smhr.train.checkpoint import CheckpointWriteError
    from smhr.train.loop import NonFiniteLossError, Trainer
    from smhr.train.signals import stop_signals_interrupt

    try:
        trainer = Trainer(cfg, resume=resume_from if resume_from is not None else resume,
                          allow_config_change=allow_config_change)  # fmt: skip
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        fail(exc)
    target = cfg.optim.steps if steps is None else steps
    main = trainer.rank == 0
    if main and trainer.resumed_from is not None:
        how = " (weights and step only: the optimizer restarts)" if trainer.weights_only_resume else ""
        typer.echo(f"resuming {trainer.resumed_from} at step {trainer.step} of {target}{how}")
        for change in trainer.config_changes:
            typer.echo(f"note: config changed since that checkpoint (--allow-config-change): {change}")
    if main and trainer.fresh_heads and trainer.resumed_from is None:
        modules = sorted({name.split(".")[0] for name in trainer.fresh_heads})
        typer.echo(f"init {cfg.init}: {len(trainer.fresh_heads)} tensors not in it start fresh "
                   f"(modules {', '.join(modules)})")
    if trainer.step >= target:
        if main:
            typer.echo(f"nothing to do: already at step {trainer.step}; raise --steps or optim.steps")
        return
    try:
        with stop_signals_interrupt():
            history = trainer.fit(steps)
    except KeyboardInterrupt:
        if main:
            typer.echo(f"interrupted at step {trainer.step}: {_saved(trainer)}; run the same command to "
                       "continue", err=True)  # fmt: skip
        raise typer.Exit(130) from None
    except (NonFiniteLossError, CheckpointWriteError) as exc:
        if main:
            echo_error(exc)
            typer.echo(f"stopped at step {trainer.step}: {_saved(trainer)}", err=True)
        raise typer.Exit(1) from None
    if main and trainer.out_of_time:
        typer.echo(f"time budget of {cfg.optim.max_minutes:g} min reached at step {trainer.step}: "
                   f"{_saved(trainer)}; run the same command to continue")
    if history and main:
        last = history[-1]
        n_bad = trainer.skipped_nonfinite
        skipped = f", {n_bad} non-finite step(s) skipped" if n_bad else ""
        typer.echo(f"step {trainer.step}: loss {last['total']:.4g}, 2D keypoint error "
                   f"{last['kp2d_px']:.2f} px{skipped}; weights in {Path(cfg.out_dir) / 'model.pt'}")


def _saved(trainer) -> str:
    """What the run's checkpoints hold now, for the messages printed when it stops early."""
    last = Path(trainer.cfg.out_dir) / "last.pt"
    if trainer.saved_step == trainer.step:
        return f"saved {last} (step {trainer.saved_step})"
    if trainer.saved_step is not None:
        return f"{last} holds step {trainer.saved_step} (its last successful save)"
    if last.exists():
        return f"nothing new saved; {last} is unchanged"
    return "nothing saved"
