"""Train, score and export the side classifier (`smhr.model.side_net`, docs/network.md "Side classifier").

    python tools/train_side.py --train labels/subhih-hands labels/ragadag-hands labels/dwivedi-gestures \
        labels/ardamavi-digits labels/hardhat-people --eval labels/hina-gloves labels/asl-letters \
        --image-base /work/data/real --out RUNS/side [--epochs 30] [--seed 0] [--size 96] \
        [--detector-views 150 [--weights W]]

Trains on the train split of the --train sets (trainable sets only), reports the side agreement
with the teacher on their test splits and on every hand of the --eval sets (crops from the
teacher's keypoints), and writes OUT/side.pt (config, state, scores), OUT/side.onnx (the graph
`smhr.runtime.side_check` runs; bundle it as src/smhr/assets/weights/smhr_side.onnx) and
OUT/scores.json.

With --detector-views N it also trains on crops cut where the detector (--weights, default the
bundled ones) puts each hand it matches to a label, at the keypoint head's points, as the side check
cuts them at run time (`smhr.train.hand_classifier.collect_split_candidates`): over the train split
and N frame-filling views and N close-ups without the arm of each --train set, the label's side the
target. Why: the keypoint head draws a large hand smaller than it is, so at run time a close-up's
crop shows part of the hand, a framing the teacher's keypoints never give; the held-out scores then
also hold rows "(detector)" for the test splits and N / 4 views of each kind.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from smhr.geometry.hand_crop import CROP_SIZE

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", nargs="+", required=True, help="labelled sets to train on (their train split)")
    ap.add_argument("--eval", nargs="*", default=[], help="never-trained-on labelled sets (every hand)")
    ap.add_argument("--image-base", default=None, help="images = BASE/<source name> (default: meta.json's)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=CROP_SIZE, help="crop side in px (a multiple of 16)")
    ap.add_argument("--detector-views", type=int, default=None, metavar="N",
                    help="also crops where the detector puts the hands of the train split and of N views "
                    "of each stress kind per --train set (0: the split only; default: teacher crops only)")
    ap.add_argument("--weights", default=None, help="the detector for --detector-views (default: bundled)")
    args = ap.parse_args(argv)

    import torch

    from smhr.data.labelled import require_trainable
    from smhr.model.side_net import SideClassifier
    from smhr.model.weights import find_mobilenet_v2_imagenet
    from smhr.onnx_export import export_side_classifier
    from smhr.train.side_classifier import (
        SideCrops,
        SideTrainConfig,
        collect_crops,
        side_accuracy,
        train_side_net,
    )

    for root in args.train:
        require_trainable(root)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.size % 16 or args.size < 32:
        raise SystemExit(f"error: --size {args.size}: use a multiple of 16, at least 32")
    train = collect_crops(args.train, "train", args.image_base, args.size)
    held_out = collect_crops(args.train, "test", args.image_base, args.size)
    never = collect_crops(args.eval, "all", args.image_base, args.size) if args.eval else None
    if args.detector_views is not None:
        from smhr.train.hand_classifier import candidate_detector, collect_split_candidates

        rec, _ = candidate_detector(args.weights)
        n = args.detector_views
        found = [SideCrops.from_candidates(collect_split_candidates(rec, args.train, split, views,
                                                                    args.image_base, args.size))
                 for split, views in (("train", n), ("test", n // 4))]  # fmt: skip
        train, held_out = SideCrops.join([train, found[0]]), SideCrops.join([held_out, found[1]])
    print(f"crops: {len(train.images)} train, {len(held_out.images)} held out, "
          f"{0 if never is None else len(never.images)} never trained on", flush=True)

    def evaluate(classifier: SideClassifier) -> dict[str, float]:
        scores = side_accuracy(classifier, held_out)
        return scores | (side_accuracy(classifier, never) if never is not None else {})

    config = SideTrainConfig(epochs=args.epochs, seed=args.seed, size=args.size)
    net = train_side_net(train, config, find_mobilenet_v2_imagenet(),
                         log=lambda s: print(s, flush=True), evaluate=evaluate)
    scores = {"held_out": side_accuracy(SideClassifier(net), held_out),
              "never_trained_on": side_accuracy(SideClassifier(net), never) if never is not None else {}}
    torch.save({"config": dataclasses.asdict(config), "model": net.state_dict(), "scores": scores,
                "train_sets": train.names}, out / "side.pt")
    export_side_classifier(SideClassifier(net), out / "side.onnx")
    (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    print(json.dumps(scores), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
