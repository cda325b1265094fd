"""Training of the side classifier (`smhr.model.side_net`) on the labelled sets' canonical hand crops.

Why its own small loop and not `smhr train`: the classifier sees one hand at a time, so its data
are crops cut once (`collect_crops`, a few thousand 96-px arrays held in memory) rather than whole
augmented scenes, and an epoch takes seconds on a CPU. Labels are the teacher's soft side,
`right_prob`; every batch mirrors half its crops and swaps their side (1 - right_prob), so both
sides are seen in every pose even where a source holds mostly right hands (ardamavi-digits).
Test-only sets are refused for training (`require_trainable`) and scored separately.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from smhr.data.labelled import LabelledSet, is_box_level, read_meta
from smhr.geometry.hand_crop import CROP_SIZE, crop_hands
from smhr.model.side_net import SideClassifier, SideNet
from smhr.train.hand_classifier import HandCrops, join_crops

__all__ = ["SideCrops", "SideTrainConfig", "collect_crops", "fit_crop_net", "side_accuracy", "train_side_net"]


@dataclass
class SideCrops:
    """Canonical crops of labelled hands: images uint8 [N,S,S,3], right_prob [N] (the teacher's),
    side [N] (0 left, 1 right), source [N] (index into `names`)."""

    images: np.ndarray
    right_prob: np.ndarray
    side: np.ndarray
    source: np.ndarray
    names: list[str]

    @staticmethod
    def from_candidates(candidates: HandCrops, suffix: str = " (detector)") -> SideCrops:
        """The hands of known side among a detector's candidates (cut at the keypoint head's points as
        the side check cuts them at run time), the label's side as their target; set names get
        `suffix`."""
        use = np.flatnonzero((candidates.is_hand == 1) & (candidates.side >= 0))
        side = candidates.side[use].astype(np.int64)
        return SideCrops(candidates.images[use], side.astype(np.float32), side, candidates.source[use],
                         [n + suffix for n in candidates.names])

    @staticmethod
    def join(parts: Sequence[SideCrops]) -> SideCrops:
        """One SideCrops of several (`smhr.train.hand_classifier.join_crops`)."""
        return join_crops(parts)


@dataclass
class SideTrainConfig:
    epochs: int = 30
    batch: int = 128
    lr: float = 2e-3  # OneCycle peak (AdamW)
    weight_decay: float = 1e-4
    seed: int = 0
    blocks: int = 14
    size: int = CROP_SIZE


def collect_crops(roots: Sequence[str | Path], split: str, image_base: str | Path | None = None,
                  size: int = CROP_SIZE) -> SideCrops:  # fmt: skip
    """Crops of every keypoint-labelled hand in `split` of each labelled set (image root: the set's
    meta, or image_base / source name)."""
    images, probs, sides, sources, names = [], [], [], [], []
    for k, root in enumerate(roots):
        name = read_meta(root)["source"]["name"]  # (the image root below depends on it)
        ds = LabelledSet(root, split, image_root=Path(image_base) / name if image_base else None)
        names.append(ds.name)
        for i, rec in enumerate(ds.records):
            hands = [h for h in rec["hands"] if not is_box_level(h)]
            if not hands:
                continue
            image, _ = ds._read(i)
            images.append(crop_hands(image, np.array([h["keypoints2d"] for h in hands]), size))
            probs += [float(h.get("right_prob", h["side"])) for h in hands]
            sides += [int(h["side"]) for h in hands]
            sources += [k] * len(hands)
    stacked = np.concatenate(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return SideCrops(stacked, np.array(probs, np.float32), np.array(sides, np.int64),
                     np.array(sources, np.int64), names)


def _augment(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """float [N,3,S,S] in [0, 1] -> turned (+-20 deg), scaled (+-15 %), shifted (+-5 %), brightness
    and colour jittered, 15 % grey: the keypoints that frame a crop at run time are the network's."""
    n = len(batch)
    r = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    angle = (r(n) - 0.5) * math.radians(40)
    scale = 1 + (r(n) - 0.5) * 0.3
    shift = (r(2, n) - 0.5) * 0.2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, shift[0]], 1), torch.stack([sin, cos, shift[1]], 1)], 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    out = F.grid_sample(batch, grid, align_corners=False)
    out = out * (0.6 + 0.8 * r(n, 1, 1, 1)) * (0.85 + 0.3 * r(n, 3, 1, 1))
    grey = (r(n, 1, 1, 1) < 0.15).to(out.dtype)
    out = grey * out.mean(1, keepdim=True) + (1 - grey) * out
    return out.clamp(0, 1)


def train_side_net(crops: SideCrops, config: SideTrainConfig, imagenet: str | Path | None = None,
                   log: Callable[[str], None] = print,
                   evaluate: Callable[[SideClassifier], dict[str, float]] | None = None,
                   ) -> SideNet:  # fmt: skip
    """A SideNet trained on `crops` (soft teacher sides, mirrored halves, `_augment`); `evaluate`
    (if given) is logged every 5 epochs and at the end."""
    if not len(crops.images):
        raise ValueError("no labelled hands to train the side classifier on: check the --train sets")
    return fit_crop_net(crops.images, crops.right_prob, config, imagenet, mirrored=lambda t: 1 - t, log=log,
                        evaluate=None if evaluate is None else lambda net: evaluate(SideClassifier(net)))


def fit_crop_net(images: np.ndarray, targets: np.ndarray, config: SideTrainConfig,
                 imagenet: str | Path | None = None,
                 mirrored: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 log: Callable[[str], None] = print,
                 evaluate: Callable[[SideNet], dict[str, float]] | None = None) -> SideNet:  # fmt: skip
    """A SideNet trained with binary cross-entropy on crops uint8 [N,S,S,3] and targets [N] in [0, 1]
    (`_augment`; every batch mirrors half its crops, their targets mapped by `mirrored`, e.g.
    1 - t for a side; None: unchanged); `evaluate(net)` (if given) is logged every 5 epochs and at
    the end. Shared by the side classifier and the hand check's (`smhr.train.hand_classifier`)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = SideNet(config.blocks, config.size, imagenet=imagenet)
    images_t = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    target = torch.from_numpy(np.asarray(targets, np.float32))
    steps_per_epoch = math.ceil(len(images_t) / config.batch)
    opt = torch.optim.AdamW(net.parameters(), config.lr / 2, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps_per_epoch,
                                                pct_start=0.15)
    start = time.time()
    for epoch in range(config.epochs):
        net.train()
        order = rng.permutation(len(images_t))
        total = 0.0
        for i in range(0, len(order), config.batch):
            j = torch.from_numpy(order[i:i + config.batch])
            x, t = _augment(images_t[j].float() / 255, gen), target[j].clone()
            flip = torch.rand(len(j), generator=gen) < 0.5
            x[flip] = x[flip].flip(-1)
            if mirrored is not None:
                t[flip] = mirrored(t[flip])
            loss = F.binary_cross_entropy_with_logits(net(x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(j)
        if evaluate is not None and (epoch % 5 == 4 or epoch == config.epochs - 1):
            net.eval()
            scores = evaluate(net)
            seconds = time.time() - start
            log(f"epoch {epoch + 1}: loss {total / len(images_t):.4f}, {scores} ({seconds:.0f} s)")
    return net.eval()


@torch.no_grad()
def side_logits(classifier: SideClassifier, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """[N] logits of crops uint8 [N,S,S,3] by a crop classifier (right vs left for the side one)."""
    classifier.eval()
    out = [classifier(torch.from_numpy(images[i:i + batch]).float()) for i in range(0, len(images), batch)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def side_accuracy(classifier: SideClassifier, crops: SideCrops) -> dict[str, float]:
    """Agreement with the teacher's side per source (crops from the teacher's keypoints)."""
    right = side_logits(classifier, crops.images) > 0
    return {name: round(float((right[crops.source == k] == (crops.side[crops.source == k] == 1)).mean()), 3)
            for k, name in enumerate(crops.names) if (crops.source == k).any()}
