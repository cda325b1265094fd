"""Which matched hands get the other side from their label, what they share, and a sheet of them.

    python tools/wrong_sides.py --weights W --labels labels/hina-gloves --image-base /work/data/real \
        [--threshold 0.3] [--mode fast] [--large-hand-threshold 1] [--limit N] [--threads 1] \
        [--sheet wrong.png] [--n 48]

Why: the side is the number v4 keeps losing to v2 on never-trained-on photos, and
`benchmarks/bench_real.py` only gives the share. Whether the wrong sides are unsure hands, badly
drawn ones (a hand fitted as its mirror image), a lean towards one side, or hands whose label the
teacher itself was unsure of decides the remedy: a decode rule, training, or neither. Only looking
tells a palm view the network misreads from a label error. This runs the benchmark's own sets and
matching (`RealScores`, one image per group as bench_real) and prints one JSON object per set:
- the side agreement over the matched hands of known side (bench_real's `handedness_acc`);
- the confusion: right hands called left, left hands called right;
- the agreement by score, by mean 2D error over the label's keypoint-box side, by the face the
  label shows the camera (palm or back, `smhr.hands.keypoints.palm_faces_camera`) and by the
  teacher's own confidence, |2 right_prob - 1|, from the set's `labels.jsonl.gz`;
- each wrong hand.
It writes the highest-scoring wrong hands as a sheet: a crop around each (box red, keypoints
yellow), captioned with the label's side, the teacher's right_prob and the predicted side and score.
docs/evaluation.md "Where v4's wrong sides are" is this tool's first reading.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_real import source_sets  # the benchmark's own
from false_hands import bins, scoring_args, scoring_predictor, write_sheet  # shared with it

from smhr.eval.matching import is_box_label, keypoint_box
from smhr.eval.real import RealScores
from smhr.hands.keypoints import palm_faces_camera

SCORE_EDGES = (0.4, 0.5, 0.6)
ERROR_EDGES = (0.1, 0.2, 0.4)  # mean 2D error / the label's keypoint-box long side
CONFIDENCE_EDGES = (0.5, 0.8, 0.95)  # the teacher's |2 right_prob - 1|


def agreement_by_bin(values: list[float | None], agree: list[bool],
                     edges: tuple[float, ...]) -> dict[str, Any]:  # fmt: skip
    """{bin name (as `false_hands.bins`): {"hands": n, "agree": share or None}}; None values skipped."""
    keep = [k for k, v in enumerate(values) if v is not None]
    vals = np.asarray([values[k] for k in keep], np.float64)
    ok = np.asarray([agree[k] for k in keep], bool)
    idx = np.searchsorted(np.asarray(edges), vals, side="right")
    return {name: {"hands": int((idx == k).sum()),
                   "agree": round(float(ok[idx == k].mean()), 3) if (idx == k).any() else None}
            for k, name in enumerate(bins([], edges))}  # fmt: skip


def teacher_confidence(record: dict[str, Any] | None, index: int) -> float | None:
    """|2 right_prob - 1| of label `index` of an image record (labels.jsonl.gz); None without one."""
    if record is None or index >= len(record["hands"]) or "right_prob" not in record["hands"][index]:
        return None
    return round(abs(2.0 * float(record["hands"][index]["right_prob"]) - 1.0), 3)


def side_rows(ds: Any, predict: Any, iou: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(bench_real's summary of the set, one row per matched hand of known side: image index, label
    index in the image, predicted box / keypoints / score / side, the label's side, the relative 2D
    error (None for a box-level label), the face it shows (None without its palm's three
    keypoints), the teacher's confidence (None where the set has no records), agreement, and the
    caption `false_hands.sheet` draws)."""
    scores = RealScores(iou)
    records = getattr(ds, "records", None)
    rows: list[dict[str, Any]] = []
    for i in range(len(ds)):
        sample = ds[i]
        dets = predict(sample.image)
        known = sample.meta.get("side_known")
        res = scores.add(sample, dets, known)
        for k, j in res.pairs:
            label = sample.hands[j]
            if known is not None and not list(known)[j]:
                continue
            error = palm = None
            if label.visibility[[0, 5, 17]].all():  # the palm's triangle labelled: which face is seen
                palm = bool(palm_faces_camera(label.keypoints2d, label.side))
            if not is_box_label(label) and dets[k].level != "box":
                box = keypoint_box(label.keypoints2d, label.visibility)
                spread = max(float(max(box[2:] - box[:2])), 1.0)
                d = np.linalg.norm(dets[k].keypoints2d - label.keypoints2d, axis=1)[label.visibility]
                error = round(float(d.mean()) / spread, 3)
            conf = teacher_confidence(records[i] if records else None, j)
            side, label_side, score = "LR"[dets[k].side], "LR"[label.side], round(dets[k].score, 3)
            rows.append({
                "image": i, "label": j, "box": [round(float(v), 1) for v in dets[k].hand_box()],
                "keypoints2d": dets[k].keypoints2d.round(1).tolist(), "score": score, "side": side,
                "label_side": label_side, "error": error, "palm": palm, "teacher_confidence": conf,
                "agree": side == label_side,
                # the sheet's caption: the label, then the prediction
                "caption": f"T:{label_side} {'-' if conf is None else f'{conf:.2f}'} N:{side} {score:.2f}",
            })
    return scores.summary(), rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The set's side agreement, its confusion and its agreement by score, error and confidence."""
    agree = [r["agree"] for r in rows]
    right = [r for r in rows if r["label_side"] == "R"]
    left = [r for r in rows if r["label_side"] == "L"]
    wrong = [r for r in rows if not r["agree"]]
    return {
        "matched": len(rows),
        "agreement": round(float(np.mean(agree)), 3) if rows else None,
        "right_called_left": f"{sum(not r['agree'] for r in right)} of {len(right)}",
        "left_called_right": f"{sum(not r['agree'] for r in left)} of {len(left)}",
        "by_score": agreement_by_bin([r["score"] for r in rows], agree, SCORE_EDGES),
        "by_error": agreement_by_bin([r["error"] for r in rows], agree, ERROR_EDGES),
        "by_face": {face: {"hands": len(a), "agree": round(float(np.mean(a)), 3) if a else None}
                    for face, a in (("palm", [r["agree"] for r in rows if r["palm"] is True]),
                                    ("back", [r["agree"] for r in rows if r["palm"] is False]))},
        "by_teacher_confidence": agreement_by_bin([r["teacher_confidence"] for r in rows], agree,
                                                  CONFIDENCE_EDGES),
        "wrong": [{k: v for k, v in r.items() if k not in ("keypoints2d", "caption")} for r in wrong],
    }


def main() -> None:
    args = scoring_args(__doc__.split("\n\n")[0], "wrong sides")
    predict, out = scoring_predictor(args)
    for name, (ds, head) in source_sets(args.labels, args.image_base, set(), args.limit).items():
        summary, rows = side_rows(ds, predict, args.iou)
        result = summarise(rows)
        out["sets"][name] = {"split": head["split"], "images": summary["images"],
                             "labelled_hands": summary["hands"], "recall": summary["recall"], **result}
        if args.sheet:
            out["sets"][name]["sheet"] = write_sheet(args, name, ds, [r for r in rows if not r["agree"]])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
