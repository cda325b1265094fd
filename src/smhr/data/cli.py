"""`smhr synth` (render a FreiHAND-layout single-hand set) and `smhr compose` (multi-hand composites).

Both commands are thin: they parse options, check paths with one-line errors, and call
`smhr.data.synth.write_synth` / `smhr.data.compose.write_composed`. Heavy imports happen inside the
commands so `smhr --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def compose_command(
    src: Annotated[
        Path, typer.Argument(help="FreiHAND-layout root with training/mask (real or `smhr synth`).")
    ],
    out: Annotated[
        Path, typer.Argument(help="Output folder (training/rgb, training/mask, training_multi.json).")
    ],
    n: Annotated[int, typer.Option("--n", help="Number of composites to write.")] = 1000,
    res: Annotated[int, typer.Option("--res", help="Canvas side in pixels.")] = 384,
    max_hands: Annotated[int, typer.Option("--max-hands", help="Most hands per image.")] = 6,
    min_hands: Annotated[int, typer.Option("--min-hands", help="Fewest hands per image.")] = 1,
    left_prob: Annotated[
        float, typer.Option("--left-prob", help="Probability to mirror a hand into a left one.")
    ] = 0.5,
    rotation: Annotated[float, typer.Option("--rotation", help="Max in-plane rotation, degrees.")] = 45.0,
    seed: Annotated[int, typer.Option("--seed", help="Composite i depends only on (seed, i).")] = 0,
    backgrounds: Annotated[
        Path | None, typer.Option("--backgrounds", help="Folder of background images (default: procedural).")
    ] = None,
    with_vertices: Annotated[
        bool, typer.Option("--verts", help="Also store per-hand vertices in the JSON.")
    ] = False,
) -> None:
    """Paste masked single hands (mirrored into left hands at random) onto backgrounds: 1..N hands per
    image with per-hand keypoints, visibility, truncation, side, camera and 3D labels."""
    from smhr.data.compose import ComposeConfig, ComposedHands, write_composed
    from smhr.data.freihand import FreiHAND

    if not (src / "training" / "mask").is_dir():
        _fail(f"{src}: no training/mask folder; compose needs a FreiHAND-layout source with hand masks")
    if n < 1:
        _fail(f"--n must be >= 1, got {n}")
    try:
        cfg = ComposeConfig(
            out_size=res, min_hands=min_hands, max_hands=max_hands, rotation_deg=rotation, left_prob=left_prob
        )
        source = FreiHAND(src, "train", versions=1)
        ds = ComposedHands(source, n, cfg=cfg, seed=seed, backgrounds=backgrounds)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    write_composed(ds, out, n, progress=True, with_vertices=with_vertices)
    typer.echo(f"wrote {n} composites to {out}")
