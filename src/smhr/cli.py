"""The `smhr` command line: one typer app; each area registers its own sub-commands here.

Sub-apps live next to the code they drive (e.g. `smhr.train.cli`), so this file stays a list.
Imports are inside the registration helpers' modules' own functions where they are heavy.
"""

from __future__ import annotations

import sys

import typer

from smhr.app.demo import demo_command
from smhr.app.export_cli import export_command
from smhr.app.package_cli import package_command
from smhr.data.cli import compose_command, synth_command
from smhr.eval.cli import eval_app
from smhr.hands.cli import hands_app
from smhr.label.cli import label_command
from smhr.render.cli import show_command
from smhr.train.cli import train_command

REGISTRIES = {  # `smhr list WHAT` -> (module, registry): every plug-in point there is
    "datasets": ("smhr.data.registry", "DATASETS"),
    "backbones": ("smhr.model.backbones", "BACKBONES"),
    "necks": ("smhr.model.neck", "NECKS"),
    "center-heads": ("smhr.model.heads", "CENTER_HEADS"),
    "hand-models": ("smhr.hands.assets", "HAND_MODELS"),
    "box-formats": ("smhr.label.boxes", "BOX_READERS"),
}


def list_command(
    what: str = typer.Argument(..., help=f"One of: {', '.join(REGISTRIES)}."),
) -> None:
    """List one registry: its names, one per line (the plug-ins docs/architecture.md adds)."""
    import importlib

    from smhr.io.messages import fail

    if what not in REGISTRIES:
        fail(f"smhr list {what}: choose one of {', '.join(REGISTRIES)}")
    module, name = REGISTRIES[what]
    registry = getattr(importlib.import_module(module), name)
    for entry in registry.names():
        typer.echo(entry)


app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="SMHR: multiple 3D hand meshes from one RGB image."
)


def _print_version(value: bool) -> None:
    if value:
        from smhr import __version__

        typer.echo(f"smhr {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the smhr version and exit."),
) -> None:
    """SMHR: multiple 3D hand meshes from one RGB image."""


# --- further sub-commands are registered below, one line each ---
app.command("demo")(demo_command)
app.add_typer(eval_app, name="eval")
hands_app.command("show")(show_command)
app.add_typer(hands_app, name="hands")
app.command("compose")(compose_command)
app.command("synth")(synth_command)
app.command("train")(train_command)
app.command("export")(export_command)
app.command("package")(package_command)
app.command("label")(label_command)
app.command("list")(list_command)


TORCH_STACK = ("torch", "torchvision", "scipy", "roma", "tensorboard", "matplotlib", "onnx")
"""Packages of the `train` extra: a command that needs one of them names the extra instead of a
traceback when the light install (`pip install smhr`) lacks it."""


def main() -> None:
    """The `smhr` entry point: the app, with a missing `train` extra as one line and exit code 2."""
    from smhr.errors import TRAIN_EXTRA, MissingExtra
    from smhr.io.messages import echo_error

    try:
        app()
    except MissingExtra as exc:
        echo_error(exc)
        raise SystemExit(2) from None
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TORCH_STACK:
            raise
        command = " ".join(["smhr", *sys.argv[1:2]])
        echo_error(f"`{command}` needs {exc.name}, which the light install leaves out: {TRAIN_EXTRA}")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
