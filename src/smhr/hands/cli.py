"""`smhr hands ...`: inspect and build hand-model assets."""

from __future__ import annotations

import typer

hands_app = typer.Typer(no_args_is_help=True, help="Hand models: show the pose prior, build the Anny asset.")
