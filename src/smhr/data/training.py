"""Training sets: a `SampleDataset` -> augmented, fixed-size samples -> CenterNet targets
(`TrainingSet`), and several of them drawn with fixed weights (`MixtureSet`), in a deterministic,
resumable order.

Why deterministic per (seed, epoch, index): resuming must reproduce the very next losses, and with
several DataLoader workers or DDP ranks a shared random stream would depend on scheduling. Every
sample therefore draws its augmentation from its own generator seeded by (seed, epoch, index).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from smhr.data.augment import AugmentConfig, augment, color_jitter
from smhr.data.sample import Sample, SampleDataset
from smhr.data.targets import build_targets

__all__ = ["MixtureSet", "TrainingSet"]


class TrainingSet(Dataset):
    """Wraps a `SampleDataset`: sample -> augmentation (random crop to input_size, or colour only
    for composites that are already laid out) -> `build_targets` dict.

    `set_epoch(e)` changes every sample's random draw, and is passed on to a base that has one
    (`ComposedHands`); call it before each epoch's DataLoader iterator is created, so worker
    processes copy the new value. side_taught False: the samples' sides decode their geometry but
    are not taught (`build_targets`)."""

    def __init__(
        self, base: SampleDataset, input_size: int, augment: AugmentConfig, max_hands: int, seed: int,
        geometric: bool = True, limit: int | None = None, side_taught: bool = True,
    ) -> None:
        self.base = base
        self.input_size = int(input_size)
        self.max_hands = int(max_hands)
        self.seed = int(seed)
        self.epoch = 0
        self.geometric = geometric
        self.side_taught = bool(side_taught)
        self.length = len(base) if limit is None else min(int(limit), len(base))
        self.aug = dataclasses.replace(augment, out_size=self.input_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        base_set_epoch = getattr(self.base, "set_epoch", None)
        if base_set_epoch is not None:  # a base with its own random draws (a composer's layouts)
            base_set_epoch(self.epoch)

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
        t = build_targets(s, self.input_size, max_hands=self.max_hands, side_taught=self.side_taught)
        t["index"] = torch.tensor(index)
        return t



class MixtureSet(Dataset):
    """Several training sets drawn with fixed probabilities: item i of epoch e picks a component
    with weights `weights` and an item of it uniformly, both from a generator seeded by (seed, e, i),
    so a mixture is as deterministic and resumable as its parts. All parts must yield targets of
    one shape (same input size and max_hands)."""

    def __init__(self, parts: list[TrainingSet], weights: list[float], length: int, seed: int) -> None:
        if not parts or len(parts) != len(weights) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("config: data.mixture needs parts with non-negative weights summing to > 0")
        self.parts = parts
        self.probs = np.asarray(weights, np.float64) / float(sum(weights))
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for p in self.parts:
            p.set_epoch(epoch)

    def __len__(self) -> int:
        return self.length

    def locate(self, index: int) -> tuple[int, int]:
        """(part, index within the part) of mixture item `index` in the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, index, 7])
        part = int(rng.choice(len(self.parts), p=self.probs))
        return part, int(rng.integers(len(self.parts[part])))

    def __getitem__(self, index: int) -> dict[str, Any]:
        part, j = self.locate(index)
        t = self.parts[part][j]
        t["index"] = torch.tensor(index)
        t["part"] = torch.tensor(part)
        return t
