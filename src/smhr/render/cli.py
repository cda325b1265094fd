"""`smhr hands show`: contact sheets of sampled poses of a hand model, drawn by the renderer.

A command of the render layer (it draws `smhr.hands` models with `smhr.render`); `smhr.cli`
registers it under `smhr hands`, beside the hand models' own commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["show_command"]


def show_command(
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
    from smhr.io.messages import fail
    from smhr.render.pose_sheet import contact_sheet

    if kind is not None:  # the option's old name; every command now calls it --hand
        typer.echo("note: --kind is deprecated, use --hand", err=True)
        hand = kind
    from smhr.hands.assets import HAND_MODELS, user_files

    if hand not in HAND_MODELS:
        fail(f"--hand must be one of {HAND_MODELS.choices()}, got {hand!r}")
    if out.suffix.lower() != ".png":
        fail(f"--out {out} must end in .png")
    try:
        path = user_files(hand, mano_dir)
        models = [HandModel.load(hand, side, path) for side in ("right", "left")]
    except HandModelError as e:
        fail(e)
    sheet = contact_sheet(models, n=n, seed=seed, tile=tile)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, cv2.imencode(".png", sheet[..., ::-1])[1].tobytes())
    except OSError as e:
        fail(f"cannot write --out {out} ({e.strerror or e}); choose a writable path")
    typer.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {n} {hand} samples per side, seed {seed})")
