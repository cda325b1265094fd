"""Fine-tune ONLY the texture and lighting heads of a packaged model.pt on labelled real photos.

    python tools/finetune_appearance.py --weights src/smhr/assets/weights/smhr_mobilenetv2_anny.pt \
        --labels labels/subhih-hands labels/ragadag-hands labels/dwivedi-gestures --steps 300 --out ft.pt

Why a separate tool rather than a training stage: every other weight is frozen and the network stays
in eval mode (BatchNorm statistics fixed), so the hands' pose, shape, keypoints, scores and sides
are bit-identical to the input weights and only `Hand.albedo` / `Hand.sh` change; it needs no GPU
(heads only, ~1 s per batch of 8 on a CPU). The objective is the training photometric term
(`smhr.losses.photometric`, the rendered hand vs the photo inside the rendered silhouette and the
labelled photos' keypoint silhouettes) plus `--light-prior` x the mean squared raw lighting output
(0 = the official ambient prior, 0.8 on each colour's constant term), so the light does not take
over what the albedo should explain. The result keeps the input's float16 storage and metadata
plus an "appearance_finetune" record.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch


def main() -> None:
    from smhr.hands.model import HandModel
    from smhr.io.torchfiles import load_smhr_checkpoint
    from smhr.model.loading import network_from_checkpoint
    from smhr.render.renderer import render
    from smhr.train.config import build_data_config
    from smhr.train.data import build_training_set, collate_targets
    from smhr.train.objective import Objective

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--labels", nargs="+", required=True, help="labelled folders (smhr label) to fit")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--light-prior", type=float, default=0.1)
    ap.add_argument("--render-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a shared 2-core machine: one thread wastes nothing on contention

    ckpt = load_smhr_checkpoint(args.weights)
    net = network_from_checkpoint(ckpt, args.weights).float().eval()
    for name, p in net.named_parameters():
        p.requires_grad_(name.startswith(("texture.", "light.")))
    R = net.config.input_size
    hands = [HandModel.load(net.config.hand_model, s, keypoints=net.config.keypoints)
             for s in ("left", "right")]
    cfg = build_data_config({"kind": "labelled", "roots": list(args.labels), "split": "train", "max_hands": 6,
                             "augment": {"hand_fraction": [0.12, 0.8], "rotation_deg": 30.0,
                                         "translate": 0.15, "flip_prob": 0.5, "max_crop": 1.15},
                             "num_workers": 0})  # fmt: skip
    data = build_training_set(cfg, R, args.seed, net.config.keypoints)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=True,
                                         collate_fn=collate_targets, num_workers=0)  # fmt: skip
    # hard coverage only: the photometric term needs no soft silhouette (and it is the costly part)
    objective = Objective(hands, {"photometric": 1.0}, render_fn=functools.partial(render, soft=False),
                          render_size=args.render_size)
    model = _Capturing(net)
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=args.lr)
    log, step, t0 = [], 0, time.perf_counter()
    while step < args.steps:
        for batch in loader:
            if step >= args.steps:
                break
            total, terms, _ = objective(model, batch)
            valid = batch["valid"].float()  # [B,K]
            light = model.last["light"]  # raw lighting head at the labelled centres [B,K,27]
            prior = ((light**2).mean(-1) * valid).sum() / valid.sum().clamp(min=1)
            loss = total + args.light_prior * prior
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 10 == 0 or step == 1:
                rec = {"step": step, "photometric": round(float(terms["photometric"].detach()), 5),
                       "loss": round(float(loss.detach()), 5),
                       "s": round(time.perf_counter() - t0, 1)}  # fmt: skip
                log.append(rec)
                print(json.dumps(rec), flush=True)
    state = dict(ckpt["model"])
    for k, v in net.state_dict().items():
        if k.startswith(("texture.", "light.")):
            state[k] = v.to(ckpt["model"][k].dtype)
    meta = {**ckpt.get("meta", {}), "appearance_finetune": {
        "tool": "tools/finetune_appearance.py", "labels": list(args.labels), "steps": args.steps,
        "batch": args.batch, "lr": args.lr, "light_prior": args.light_prior, "render_size": args.render_size,
        "seed": args.seed, "first": log[0] if log else None, "last": log[-1] if log else None}}  # fmt: skip
    torch.save({"config": ckpt["config"], "model": state, "meta": meta}, args.out)
    print(json.dumps({"wrote": str(args.out), "seconds": round(time.perf_counter() - t0, 1)}))


class _Capturing(torch.nn.Module):
    """`GatheringModel` that keeps its last outputs (the objective does not return the heads)."""

    def __init__(self, net: torch.nn.Module) -> None:
        from smhr.train.setup import GatheringModel

        super().__init__()
        self.inner = GatheringModel(net)
        self.last: dict[str, torch.Tensor] = {}

    def forward(self, images: torch.Tensor, ind: torch.Tensor) -> dict[str, torch.Tensor]:
        self.last = self.inner(images, ind)
        return self.last


if __name__ == "__main__":
    main()
