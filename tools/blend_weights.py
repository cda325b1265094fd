"""Write the blend of a fine-tuned run's weights with the weights it started from (`smhr.train.blend`).

    python tools/blend_weights.py START.pt TUNED.pt --alpha 0.5 --out BLEND.pt

START is what the run was initialised from (for v4s: the shipped v2, `init` in its config), TUNED
its model.pt; alpha 0 answers as START, 1 is TUNED. The output is a model.pt like a run's (no
threshold or large-hand values stored): score it as a waypoint, or finish it with
`tools/finish_run.py` (docs/training.md "Blending v4sa with v2").
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from smhr.io.torchfiles import NotATorchFileError
    from smhr.train.blend import blend_checkpoints
    from smhr.train.checkpoint import save_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("start", help="the weights the run started from (a model.pt or packaged .pt)")
    ap.add_argument("tuned", help="the fine-tuned run's model.pt")
    ap.add_argument("--alpha", type=float, required=True, help="0: start, 1: tuned")
    ap.add_argument("--out", required=True, help="where the blended model.pt goes")
    args = ap.parse_args(argv)
    try:
        ckpt = blend_checkpoints(args.start, args.tuned, args.alpha)
    except (ValueError, NotATorchFileError, FileNotFoundError, OSError) as err:
        raise SystemExit(f"error: {err}") from None
    save_checkpoint(args.out, ckpt)
    print(f"{args.out}: {1 - args.alpha:g} x {args.start} + {args.alpha:g} x {args.tuned}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
