"""Training data for the loop: the training set a config names, the held-out set, and a
deterministic, resumable visiting order.

Why a resumable order: resuming must reproduce the very next losses, and under DDP each rank must
see its own share of one permutation. The visiting order is a permutation seeded by (seed, epoch)
that the sampler can start mid-way; the sets themselves (`smhr.data.training`) draw every
sample's augmentation from (seed, epoch, index).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from smhr.configdict import from_dict
from smhr.data.kinds import DataConfig, PhotoSettings, labelled_sets
from smhr.data.sample import SampleDataset

__all__ = ["ResumableSampler", "build_training_set", "build_validation_set", "collate_targets"]


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


def build_training_set(cfg: DataConfig, input_size: int, seed: int, keypoints: str = "joints") -> Dataset:
    """The training set that `cfg` (the config class of `cfg.kind`, `smhr.data.kinds`) names, its
    hand-model labels in the keypoint definition `keypoints` (the net's)."""
    return cfg.build(input_size, seed, keypoints)


def _val_photos(cfg: DataConfig) -> PhotoSettings:
    """How held-out photos are read: as the training config reads its photos (a mixture: its
    shared photo settings), never preloaded."""
    photos = getattr(cfg, "photos", None)
    if photos is None and isinstance(getattr(cfg, "shared", None), dict):
        photos = from_dict(PhotoSettings, cfg.shared.get("photos") or {}, "data.shared.photos.")
    photos = photos or PhotoSettings()
    return PhotoSettings(photos.image_roots, photos.max_side, preload=False)


def build_validation_set(cfg: DataConfig, input_size: int, keypoints: str = "joints") -> SampleDataset | None:
    """The held-out set scored during training (FreiHAND layout at val_root, its hand-model labels
    in the keypoint definition `keypoints`, or the held-out split of labelled sets for val_kind
    labelled), or None."""
    if cfg.val_kind == "labelled":
        roots = cfg.val_roots or getattr(cfg, "roots", None) or getattr(cfg, "shared", {}).get("roots")
        if not roots:
            raise ValueError("config: data.val_kind labelled needs data.val_roots (`smhr label` folders)")
        return torch.utils.data.ConcatDataset(labelled_sets(roots, "test", _val_photos(cfg)))  # type: ignore[return-value]
    if cfg.val_root is None:
        return None
    from smhr.data.registry import open_dataset

    return open_dataset("freihand", cfg.val_root, cfg.val_split, keypoints=keypoints)
