"""Train, score and export the hand check's classifier (`smhr.runtime.hand_check`, docs/network.md).

    python tools/train_hand_check.py --train labels/subhih-hands labels/ragadag-hands \
        labels/dwivedi-gestures labels/ardamavi-digits labels/hardhat-people \
        --eval labels/hina-gloves labels/asl-letters labels/capston2-scenes --out RUNS/hand \
        --synth /work/data/synth-base /work/data/synth-arm /work/data/synth-gloves \
        [--epochs 12] [--stress 150] [--weights W] [--size 96]

Runs the detector (`--weights`, default the bundled ones; side check on, hand check off, scores
from the decode threshold the check works from) over the train split of the --train sets
(trainable sets only), over --stress frame-filling views and as many close-ups without the arm of
each (`smhr.data.stress`) and over the train split of
the --synth folders (`smhr synth` renders, FreiHAND layout), labels its candidates
by the teacher's hands (`smhr.train.hand_classifier`), trains the classifier on their crops, and
reports, on the held-out splits (plus a quarter as many stress views) and on every photo of
the --eval sets: the AUC of the detector's score and of the classifier, and the hands / false hands
kept at the weights' threshold for each weight of the classifier's logit (how HAND_WEIGHT is
chosen: on the held-out rows). Writes OUT/hand.pt, OUT/hand.onnx (bundle it as
src/smhr/assets/weights/smhr_hand.onnx) and OUT/scores.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)


def main(argv: list[str] | None = None) -> int:
    from smhr.geometry.hand_crop import CROP_SIZE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", nargs="+", required=True, help="labelled sets to train on (their train split)")
    ap.add_argument("--eval", nargs="*", default=[], help="never-trained-on labelled sets (every photo)")
    ap.add_argument("--image-base", default=None, help="images = BASE/<source name> (default: meta.json's)")
    ap.add_argument("--weights", default=None, help="the detector (default: the bundled weights)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--stress", type=int, default=150,
                    help="frame-filling views and close-ups without the arm per --train set "
                    "(smhr.data.stress)")
    ap.add_argument("--synth", nargs="*", default=[],
                    help="`smhr synth` folders whose train split is trained on")
    ap.add_argument("--pieces", type=float, default=0.0,
                    help="false positives over a labelled hand under this share of its box's area are "
                    "negatives (0: left out, as for the bundled classifier)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=CROP_SIZE, help="crop side in px (a multiple of 16)")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from smhr.data.labelled import require_trainable
    from smhr.model.side_net import HandClassifier
    from smhr.model.weights import find_mobilenet_v2_imagenet
    from smhr.onnx_export import export_hand_classifier
    from smhr.train.hand_classifier import (
        HandCrops,
        auc,
        candidate_detector,
        collect_candidates,
        collect_split_candidates,
        kept_counts,
        synth_samples,
    )
    from smhr.train.side_classifier import SideTrainConfig, fit_crop_net, side_logits

    for root in args.train:
        require_trainable(root)
    if args.size % 16 or args.size < 32:
        raise SystemExit(f"error: --size {args.size}: use a multiple of 16, at least 32")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec, threshold = candidate_detector(args.weights)

    def collect(roots: list[str], split: str, count: int) -> HandCrops:
        return collect_split_candidates(rec, roots, split, count, args.image_base, args.size, args.pieces)

    train = collect(args.train, "train", args.stress)
    if args.synth:
        rendered = collect_candidates(rec, [synth_samples(d) for d in args.synth], args.size,
                                      piece=args.pieces)
        train = HandCrops.join([train, rendered])
    held_out = collect(args.train, "test", args.stress // 4)
    never = collect(args.eval, "all", 0) if args.eval else None
    counts = [f"{c.is_hand.sum()} / {len(c.is_hand)}" if c is not None else "0 / 0"
              for c in (train, held_out, never)]
    print("candidates (hands / all): train {}, held out {}, never trained on {}".format(*counts), flush=True)
    if not len(train.images) or train.is_hand.all() or not train.is_hand.any():
        raise SystemExit("error: the detector's candidates on the --train sets hold no hands or no false "
                         "ones")

    def report(net: torch.nn.Module, crops: HandCrops | None) -> dict[str, object]:
        if crops is None or not len(crops.images):
            return {}
        logits = side_logits(HandClassifier(net), crops.images)
        per = {}
        for k, name in enumerate(crops.names):
            of = crops.source == k
            per[name] = {"candidates": int(of.sum()),
                         "auc_score": _rounded(auc(crops.score[of], crops.is_hand[of])),
                         "auc_classifier": _rounded(auc(logits[of], crops.is_hand[of]))}
        table = {str(w): kept_counts(crops, logits, w, threshold) for w in WEIGHTS}
        return {"sets": per, "kept_at_threshold": table, "threshold": threshold}

    config = SideTrainConfig(epochs=args.epochs, seed=args.seed, size=args.size)
    net = fit_crop_net(train.images, train.is_hand.astype(np.float32), config, find_mobilenet_v2_imagenet(),
                       log=lambda s: print(s, flush=True),
                       evaluate=lambda n: {k: v["auc_classifier"]
                                           for k, v in report(n, held_out)["sets"].items()})
    scores = {"held_out": report(net, held_out), "never_trained_on": report(net, never)}
    torch.save({"config": dataclasses.asdict(config), "model": net.state_dict(), "scores": scores,
                "train_sets": train.names}, out / "hand.pt")
    export_hand_classifier(HandClassifier(net), out / "hand.onnx")
    (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    print(json.dumps(scores), flush=True)
    return 0


def _rounded(value: float) -> float | None:
    """3 decimals, None for NaN (a set without both kinds of candidate; JSON has no NaN)."""
    return None if value != value else round(value, 3)


if __name__ == "__main__":
    sys.exit(main())
