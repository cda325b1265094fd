"""What a model's false hands are: counts by size and score, and a contact sheet to look at them.

    python tools/false_hands.py --weights W --labels labels/capston2-scenes --image-base /work/data/real \
        [--threshold 0.3] [--mode fast] [--large-hand-threshold 1] [--limit N] [--threads 1] \
        [--sheet false.png] [--n 48]

Why: `benchmarks/bench_real.py` says how many false hands a model finds on a labelled set, not what
they are. Whether they are faces, shoes and balls or unlabelled real hands decides the remedy
(negatives in training, a threshold, a label fix), and only looking tells. This runs the benchmark's
own sets and matching (`RealScores`, one image per group as bench_real), prints one JSON object
(false hands by box size relative to the image's long side and by score, with each one's image,
box, score and side) and writes the highest-scoring ones as a sheet: a crop around each box (red)
with its keypoints (yellow), captioned with score and side.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_real import smhr_predictor, smhr_reconstructor, source_sets  # the benchmark's own

from smhr.eval.matching import box_iou, inside_any, label_box
from smhr.eval.real import RealScores

SIZE_EDGES = (0.05, 0.1, 0.2, 0.4)  # box long side / image long side
SCORE_EDGES = (0.4, 0.5, 0.6)
TILE = 160
PLACES = ("labelled hand", "unlabelled box", "elsewhere")


def bins(values: list[float], edges: tuple[float, ...]) -> dict[str, int]:
    """Counts per interval: "<e0", "e0-e1", ..., ">=eN"."""
    names = [f"<{edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in itertools.pairwise(edges)] + [f">={edges[-1]:g}"]
    idx = np.searchsorted(np.asarray(edges), np.asarray(values, np.float64), side="right")
    return {n: int((idx == k).sum()) for k, n in enumerate(names)}


def where(box: np.ndarray, labelled: np.ndarray, ignore: np.ndarray) -> str:
    """What a false hand's box lies on: "labelled hand" (keypoint-box IoU >= 0.1 with a labelled
    hand: found but misplaced, or a second peak), "unlabelled box" (>= 10 % of it in a source box
    the teacher gave no label: maybe a real hand) or "elsewhere"."""
    if len(labelled) and box_iou(box, labelled).max() >= 0.1:
        return "labelled hand"
    if inside_any(box, ignore, 0.1)[0]:
        return "unlabelled box"
    return "elsewhere"


def false_hands(ds: Any, predict: Any, iou: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(bench_real's summary of the set, one entry per false hand: image index, box, keypoints,
    score, side, relative size, what it lies on)."""
    scores = RealScores(iou)
    found: list[dict[str, Any]] = []
    for i in range(len(ds)):
        sample = ds[i]
        dets = predict(sample.image)
        res = scores.add(sample, dets)
        long_side = float(max(sample.image.shape[:2]))
        labelled = np.array([label_box(h) for h in sample.hands
                             if h.visibility.any() or h.bbox is not None]).reshape(-1, 4)
        for k in res.false_positives:
            box = dets[k].hand_box()
            found.append({
                "image": i, "box": [round(float(v), 1) for v in box], "score": round(dets[k].score, 3),
                "side": "LR"[dets[k].side], "size": round(float(max(box[2:] - box[:2])) / long_side, 3),
                "on": where(box, labelled, sample.ignore),
                "keypoints2d": dets[k].keypoints2d.round(1).tolist(),
            })
    return scores.summary(), found


def tile(image: np.ndarray, hand: dict[str, Any]) -> np.ndarray:
    """A square crop around the hand's box (1.6x its long side each way from the centre), the box
    in red and keypoints in yellow, TILE px, captioned with score, side and place (or the hand's
    own "caption")."""
    x1, y1, x2, y2 = hand["box"]
    half = max(x2 - x1, y2 - y1) * 1.6 + 8
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a, b = int(max(cx - half, 0)), int(max(cy - half, 0))
    crop = np.ascontiguousarray(image[b: int(cy + half), a: int(cx + half)])
    scale = TILE / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))))
    out = np.zeros((TILE, TILE, 3), np.uint8)
    out[: crop.shape[0], : crop.shape[1]] = crop
    p = lambda x, y: (int((x - a) * scale), int((y - b) * scale))  # noqa: E731
    cv2.rectangle(out, p(x1, y1), p(x2, y2), (255, 0, 0), 2)
    for x, y in hand["keypoints2d"]:
        cv2.circle(out, p(x, y), 1, (255, 230, 0), -1)
    caption = hand.get("caption")  # another tool's own words (tools/wrong_sides.py)
    if caption is None:
        place = "".join(w[0] for w in hand["on"].split())  # lh / ub / e
        caption = f"{hand['score']:.2f} {hand['side']} {place}"
    cv2.putText(out, caption, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
    return out


def sheet(ds: Any, hands: list[dict[str, Any]], n: int, cols: int = 8) -> np.ndarray:
    """The n highest-scoring false hands as a grid of tiles (RGB)."""
    top = sorted(hands, key=lambda h: -h["score"])[:n]
    tiles = [tile(ds[h["image"]].image, h) for h in top] or [np.zeros((TILE, TILE, 3), np.uint8)]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
    return np.vstack([np.hstack(tiles[r: r + cols]) for r in range(0, len(tiles), cols)])


def scoring_args(description: str, what: str) -> argparse.Namespace:
    """The command line this tool and tools/wrong_sides.py share (bench_real's sets and rules, and
    a sheet of `what`)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--weights", help="model.pt / .onnx (default: the bundled weights)")
    ap.add_argument("--labels", nargs="+", required=True, help="labelled sets (as bench_real)")
    ap.add_argument("--image-base", help="photos of set NAME under IMAGE_BASE/NAME (tools/rebuild_real.py)")
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--mode", choices=("fast", "photo"), default="fast")
    ap.add_argument("--large-hand-threshold", type=float,
                    help="as bench_real (default: the weights' stored value; 1 = off)")
    ap.add_argument("--min-hand-side", type=float, help="as bench_real (0 = no limit)")
    ap.add_argument("--limit", type=int, help="at most N images per set")
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sheet", help=f"PNG of the highest-scoring {what} (one per set: NAME appended)")
    ap.add_argument("--n", type=int, default=48, help=f"{what} on each sheet")
    return ap.parse_args()


def scoring_predictor(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(bench_real's predictor for these arguments, the JSON header naming the weights and rules)."""
    os.environ.setdefault("SMHR_THREADS", str(args.threads))  # the onnxruntime backend
    torch.set_num_threads(args.threads)  # the torch backend (a model.pt)
    rules: dict[str, Any] = {}  # passed on as bench_real passes them
    if args.large_hand_threshold is not None:
        rules["large_hand_threshold"] = args.large_hand_threshold
    if args.min_hand_side is not None:
        rules["min_hand_side"] = args.min_hand_side or None
    rec = smhr_reconstructor(args.weights, None, args.threshold, args.mode, rules)
    return smhr_predictor(rec), {"weights": args.weights or "bundled", "threshold": rec.threshold,
                                 "mode": args.mode, "large_hand_threshold": rec.large_hand_threshold,
                                 "min_hand_side": rec.min_hand_side, "sets": {}}


def write_sheet(args: argparse.Namespace, name: str, ds: Any, hands: list[dict[str, Any]]) -> str:
    """`sheet` of `hands` written to --sheet (set NAME appended when several sets are scored): its path."""
    path = Path(args.sheet)
    if len(args.labels) > 1:
        path = path.with_name(f"{path.stem}-{name}{path.suffix or '.png'}")
    cv2.imwrite(str(path), cv2.cvtColor(sheet(ds, hands, args.n), cv2.COLOR_RGB2BGR))
    return str(path)


def main() -> None:
    args = scoring_args(__doc__.split("\n\n")[0], "false hands")
    predict, out = scoring_predictor(args)
    for name, (ds, head) in source_sets(args.labels, args.image_base, set(), args.limit).items():
        summary, hands = false_hands(ds, predict, args.iou)
        out["sets"][name] = {
            "split": head["split"], "images": summary["images"], "labelled_hands": summary["hands"],
            "recall": summary["recall"], "precision": summary["precision"], "false_hands": len(hands),
            "images_with_false_hands": len({h["image"] for h in hands}),
            "by_size": bins([h["size"] for h in hands], SIZE_EDGES),
            "by_score": bins([h["score"] for h in hands], SCORE_EDGES),
            "by_place": {p: sum(h["on"] == p for h in hands) for p in PLACES},
            "false": [{k: v for k, v in h.items() if k != "keypoints2d"} for h in hands],
        }
        if args.sheet:
            out["sets"][name]["sheet"] = write_sheet(args, name, ds, hands)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
