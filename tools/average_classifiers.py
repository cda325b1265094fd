"""Write one crop-classifier ONNX file whose logit is the mean of several (`smhr.onnx_average`).

    python tools/average_classifiers.py A.onnx B.onnx [C.onnx ...] --out OUT.onnx

How the bundled side classifier was made (docs/network.md "Side classifier"): the first classifier
(teacher crops, 30 epochs) and one trained also on the detector's crops (`tools/train_side.py
--detector-views 150`, 20 epochs), averaged; bundle OUT as src/smhr/assets/weights/smhr_side.onnx.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from smhr.onnx_average import average_crop_classifiers

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("members", nargs="+", help="exported crop classifiers of one kind and crop")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        out = average_crop_classifiers(args.members, args.out)
    except (ValueError, FileNotFoundError, OSError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"{out}: mean of {len(args.members)} classifiers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
