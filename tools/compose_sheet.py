"""Contact sheet of composites with the composer's context switches, from real hand crops.

    PYTHONPATH=src python tools/compose_sheet.py OUT.png --roots labels/subhih-hands labels/dwivedi-gestures \
        [--n 16] [--res 256] [--seed 0] [--limit 300] [--set frame_fill_prob=0.3 ...]

Hands are the teacher-labelled photos' crops (`RealHandCrops`, as `data.kind: composed_labelled`)
on their hand-free regions mixed with procedural backgrounds. Each composite is shown twice: as
made, with a caption naming what was switched on (F frame fill, T truncated, O<kind> held
object, B<px> motion blur, L<gain> low light), and its labels (instance masks tinted per hand,
visible keypoints white dots, invisible ones red crosses).
Default switches: the ones of docs/synthetic-data.md's sheet.
"""

from __future__ import annotations

import argparse
import ast

import cv2
import numpy as np

DEFAULTS = {"frame_fill_prob": 0.3, "border_cut_prob": 0.2, "occluder_prob": 0.5,
            "low_light_prob": 0.25, "motion_blur_prob": 0.25}  # fmt: skip


def caption(s) -> str:
    parts = []
    if len(s.hands) == 1 and s.meta.get("frame_fill"):
        parts.append("F")
    if any(s.meta["truncated"]):
        parts.append("T")
    parts += [f"O{k[:3]}" for k in s.meta.get("occluders", []) if k]
    if s.meta.get("motion_blur"):
        parts.append(f"B{s.meta['motion_blur']}")
    if s.meta.get("low_light"):
        parts.append(f"L{s.meta['low_light']:.2f}")
    return " ".join(parts)


PALETTE = np.array([[230, 80, 80], [80, 200, 80], [80, 120, 240], [230, 200, 60], [200, 90, 220],
                    [60, 210, 210]])  # fmt: skip


def labels_view(s) -> np.ndarray:
    """The composite dimmed, each hand's instance mask tinted, visible keypoints as white dots,
    hidden ones (occluded, under a later hand or an object, or off the canvas) as red crosses."""
    out = (s.image.astype(np.float32) * 0.45).astype(np.uint8)
    for k in range(len(s.hands)):
        m = s.mask == k + 1
        out[m] = (0.5 * out[m] + 0.5 * PALETTE[k % len(PALETTE)]).astype(np.uint8)
    for h in s.hands:
        for (x, y), v in zip(np.round(h.keypoints2d).astype(int), h.visibility, strict=True):
            if v:
                cv2.circle(out, (int(x), int(y)), 2, (255, 255, 255), -1, cv2.LINE_AA)
            else:
                cv2.drawMarker(out, (int(x), int(y)), (255, 40, 40), cv2.MARKER_TILTED_CROSS, 6, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--roots", nargs="+", required=True, help="`smhr label` folders (hands and backgrounds)")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=300, help="photos read per root (speed)")
    ap.add_argument("--max-hands", type=int, default=4)
    ap.add_argument("--set", nargs="*", default=[], help="ComposeConfig key=value (python literal)")
    args = ap.parse_args()

    from smhr.data.backgrounds import MixedBackgrounds, ProceduralBank
    from smhr.data.compose import ComposeConfig, ComposedHands
    from smhr.data.labelled import LabelledSet
    from smhr.data.real_crops import HandFreeBackgrounds, RealHandCrops

    class Limited:
        def __init__(self, ds, n):
            self.ds, self.n = ds, min(n, len(ds))

        def __len__(self):
            return self.n

        def load(self, i):
            return self.ds.load(i)

    sets = [Limited(LabelledSet(r, "train", max_side=512), args.limit) for r in args.roots]
    crops = RealHandCrops(sets)
    bgs = MixedBackgrounds([(HandFreeBackgrounds(sets), 0.6), (ProceduralBank(), 0.4)])
    options = dict(DEFAULTS)
    for kv in args.set:
        k, _, v = kv.partition("=")
        options[k] = ast.literal_eval(v)
    cfg = ComposeConfig(out_size=args.res, max_hands=args.max_hands, size_range=(0.3, 0.9), rotation_deg=60.0,
                        **options)  # fmt: skip
    ds = ComposedHands(crops, args.n, cfg, seed=args.seed, backgrounds=bgs)
    samples = [ds[i] for i in range(args.n)]
    R, cols = args.res, 6
    rows = -(-2 * len(samples) // cols)
    sheet = np.full((rows * R, cols * R, 3), 255, np.uint8)
    for i, s in enumerate(samples):
        for j, tile in enumerate((s.image, labels_view(s))):
            r, c = divmod(2 * i + j, cols)
            sheet[r * R : (r + 1) * R, c * R : (c + 1) * R] = tile
        r, c = divmod(2 * i, cols)
        for colour, thick in (((0, 0, 0), 3), ((255, 255, 0), 1)):
            cv2.putText(sheet, caption(s), (c * R + 4, r * R + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        colour, thick, cv2.LINE_AA)  # fmt: skip
    cv2.imwrite(args.out, np.ascontiguousarray(sheet[..., ::-1]))
    print(f"wrote {args.out}: {len(crops)} hand crops, {len(samples)} composites")


if __name__ == "__main__":
    main()
