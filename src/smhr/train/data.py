"""Training data: datasets -> augmented, fixed-size samples -> CenterNet targets, in a
deterministic, resumable order.

Why deterministic per (seed, epoch, index): resuming must reproduce the very next losses, and with
several DataLoader workers or DDP ranks a shared random stream would depend on scheduling. Every
sample therefore draws its augmentation from its own generator seeded by (seed, epoch, index), and
the visiting order is a permutation seeded by (seed, epoch) that the sampler can start mid-way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from smhr.data.augment import AugmentConfig, augment, color_jitter
from smhr.data.sample import Sample, SampleDataset
from smhr.data.targets import build_targets
from smhr.train.config import DataConfig

__all__ = ["ResumableSampler", "TrainingSet", "build_training_set", "build_validation_set", "collate_targets"]


class TrainingSet(Dataset):
    """Wraps a `SampleDataset`: sample -> augmentation (random crop to input_size, or colour only
    for composites that are already laid out) -> `build_targets` dict.

    `set_epoch(e)` changes every sample's random draw (call it before each epoch's DataLoader
    iterator is created, so worker processes copy the new value)."""

    def __init__(
        self, base: SampleDataset, input_size: int, cfg: DataConfig, seed: int, geometric: bool = True,
        limit: int | None = None,
    ) -> None:
        self.base = base
        self.input_size = int(input_size)
        self.cfg = cfg
        self.seed = int(seed)
        self.epoch = 0
        self.geometric = geometric
        self.length = len(base) if limit is None else min(int(limit), len(base))
        self.aug = AugmentConfig(
            out_size=self.input_size, hand_fraction=tuple(cfg.hand_fraction), rotation_deg=cfg.rotation_deg,
            translate=cfg.translate, flip_prob=cfg.flip_prob, color_prob=cfg.color_prob,
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.base, "seed"):  # composers draw their layouts from their own seed
            self.base.seed = self.seed * 1_000_003 + self.epoch

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> Sample:
        """The augmented `Sample` of `index` in the current epoch (what the targets are built from)."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s = self.base[index]
        if self.geometric:
            return augment(s, rng, self.aug)
        if s.hw != (self.input_size, self.input_size):
            raise ValueError(
                f"{s.source}:{s.id} is {s.hw[0]}x{s.hw[1]}, the composer must produce "
                f"{self.input_size}x{self.input_size} (set data.compose.out_size or model.input_size)"
            )
        if rng.random() < self.aug.color_prob:
            s.image = color_jitter(s.image, rng, self.aug.brightness, self.aug.contrast, self.aug.saturation,
                                   self.aug.hue)
        return s

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.sample(index)
        t = build_targets(s, self.input_size, max_hands=self.cfg.max_hands)
        t["index"] = torch.tensor(index)
        return t


def collate_targets(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack per-sample target dicts (all tensors of equal shapes by construction)."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class ResumableSampler(Sampler[int]):
    """Indices of one epoch: a permutation seeded by (seed, epoch), this rank's share
    (indices[rank::world]), trimmed to whole batches, starting at batch `start_batch`."""

    def __init__(
        self, length: int, batch_size: int, seed: int, epoch: int = 0, start_batch: int = 0,
        rank: int = 0, world: int = 1,
    ) -> None:
        self.length, self.batch_size, self.seed = int(length), int(batch_size), int(seed)
        self.epoch, self.start_batch, self.rank, self.world = int(epoch), int(start_batch), rank, world

    def batches_per_epoch(self) -> int:
        return (self.length // self.world) // self.batch_size

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        order = torch.randperm(self.length, generator=g)[self.rank :: self.world]
        n = self.batches_per_epoch() * self.batch_size
        return iter(order[self.start_batch * self.batch_size : n].tolist())

    def __len__(self) -> int:
        return max(0, (self.batches_per_epoch() - self.start_batch) * self.batch_size)


def _freihand(root: str, split: str) -> SampleDataset:
    from smhr.data.freihand import FreiHAND

    return FreiHAND(root, split)


def build_training_set(cfg: DataConfig, input_size: int, seed: int) -> TrainingSet:
    """The training set that `cfg.kind` names (see `DataConfig`)."""
    if cfg.root is None:
        raise ValueError(f"config: data.root is required for data.kind {cfg.kind!r} "
                         "(a FreiHAND-layout folder)")
    if cfg.kind == "freihand":
        return TrainingSet(_freihand(cfg.root, cfg.split), input_size, cfg, seed, limit=cfg.limit)
    if cfg.kind == "composed":
        from smhr.data.compose import ComposeConfig, ComposedHands

        source = _freihand(cfg.root, cfg.split)
        if cfg.limit is not None:
            source = torch.utils.data.Subset(source, range(min(cfg.limit, len(source))))
            source = [source[i] for i in range(len(source))]  # ComposedHands takes samples or a dataset
        options = {"out_size": input_size, "max_hands": cfg.max_hands, **cfg.compose}
        length = int(options.pop("length", max(len(source), 1024)))
        composer = ComposedHands(source, length, ComposeConfig(**options), seed=seed)
        return TrainingSet(composer, input_size, cfg, seed, geometric=False)
    if cfg.kind == "composed_folder":
        from smhr.data.compose import ComposedFolder

        return TrainingSet(ComposedFolder(cfg.root), input_size, cfg, seed, geometric=False, limit=cfg.limit)
    raise ValueError(f"config: unknown data.kind {cfg.kind!r}")


def build_validation_set(cfg: DataConfig, input_size: int) -> SampleDataset | None:
    """The held-out FreiHAND-layout set scored during training, or None."""
    if cfg.val_root is None:
        return None
    return _freihand(cfg.val_root, cfg.val_split)
