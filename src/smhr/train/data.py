"""Training data: datasets -> augmented, fixed-size samples -> CenterNet targets, in a
deterministic, resumable order.

Why deterministic per (seed, epoch, index): resuming must reproduce the very next losses, and with
several DataLoader workers or DDP ranks a shared random stream would depend on scheduling. Every
sample therefore draws its augmentation from its own generator seeded by (seed, epoch, index), and
the visiting order is a permutation seeded by (seed, epoch) that the sampler can start mid-way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from smhr.data.augment import AugmentConfig, augment, color_jitter
from smhr.data.sample import Sample, SampleDataset
from smhr.data.targets import build_targets
from smhr.train.config import DataConfig

__all__ = [
    "DATASETS",
    "MixtureSet",
    "ResumableSampler",
    "TrainingSet",
    "build_training_set",
    "build_validation_set",
    "collate_targets",
    "register_dataset",
]


class TrainingSet(Dataset):
    """Wraps a `SampleDataset`: sample -> augmentation (random crop to input_size, or colour only
    for composites that are already laid out) -> `build_targets` dict.

    `set_epoch(e)` changes every sample's random draw, and is passed on to a base that has one
    (`ComposedHands`); call it before each epoch's DataLoader iterator is created, so worker
    processes copy the new value."""

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
            max_crop=cfg.max_crop,
        )

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


# ----------------------------------------------------------------------------- dataset registry
DatasetBuilder = Callable[[DataConfig, int, int], Dataset]
DATASETS: dict[str, DatasetBuilder] = {}


def register_dataset(kind: str, builder: DatasetBuilder) -> None:
    """Make `kind` usable as `data.kind` (training) -- one line per dataset, see docs/architecture.md."""
    DATASETS[kind] = builder


def _require_root(cfg: DataConfig) -> str:
    if cfg.root is None:
        raise ValueError(
            f"config: data.root is required for data.kind {cfg.kind!r} (a FreiHAND-layout folder)"
        )
    return cfg.root


def _freihand(root: str, split: str) -> SampleDataset:
    from smhr.data.registry import open_dataset

    return open_dataset("freihand", root, split)


_LOADED: dict[tuple, SampleDataset] = {}


def _labelled_sets(cfg: DataConfig, split: str = "train") -> list[SampleDataset]:
    """The labelled sets of cfg.roots; each (root, split, image root, size, preload) is read once per
    process, so mixture parts that share photos share one copy in memory. Test-only sets (meta.json
    role "test") are refused for anything but the held-out split (validation)."""
    from smhr.data.labelled import LabelledSet, read_meta, require_trainable

    if not cfg.roots:
        raise ValueError(f"config: data.roots (labelled set folders) is required for data.kind {cfg.kind!r}")
    sets = []
    for root in cfg.roots:
        if split != "test":
            require_trainable(root)
        name = read_meta(root)["source"]["name"]
        image_root = cfg.image_roots.get(name)
        key = (str(root), split, image_root, cfg.max_side, cfg.preload)
        if key not in _LOADED:
            _LOADED[key] = LabelledSet(root, split, image_root=image_root, max_side=cfg.max_side,
                                       preload=cfg.preload)
        sets.append(_LOADED[key])
    return sets


def _backgrounds(cfg: DataConfig) -> Any:
    """The composers' background source: a folder, real hand-free crops of labelled sets mixed
    with procedural ones, or None (procedural only)."""
    if cfg.backgrounds is not None:
        return cfg.backgrounds
    if not cfg.background_roots:
        return None
    key = ("backgrounds", tuple(cfg.background_roots), cfg.max_side, cfg.background_real_prob)
    if key not in _LOADED:
        from smhr.data.backgrounds import MixedBackgrounds, ProceduralBank
        from smhr.data.real_crops import HandFreeBackgrounds

        real = HandFreeBackgrounds(_labelled_sets(DataConfig(**{**vars(cfg), "roots": cfg.background_roots})))
        _LOADED[key] = MixedBackgrounds([(real, cfg.background_real_prob),
                                         (ProceduralBank(), 1.0 - cfg.background_real_prob)])
    return _LOADED[key]


def _build_freihand(cfg: DataConfig, input_size: int, seed: int) -> Dataset:
    return TrainingSet(_freihand(_require_root(cfg), cfg.split), input_size, cfg, seed, limit=cfg.limit)


def _composer(source: Any, cfg: DataConfig, input_size: int, seed: int) -> TrainingSet:
    from smhr.data.compose import ComposeConfig, ComposedHands

    options = {"out_size": input_size, "max_hands": cfg.max_hands, **cfg.compose}
    length = int(options.pop("length", max(len(source), 1024)))
    composer = ComposedHands(source, length, ComposeConfig(**options), seed=seed,
                             backgrounds=_backgrounds(cfg))
    return TrainingSet(composer, input_size, cfg, seed, geometric=False)


def _build_composed(cfg: DataConfig, input_size: int, seed: int) -> Dataset:
    roots = cfg.roots or [_require_root(cfg)]
    source: Any = torch.utils.data.ConcatDataset([_freihand(r, cfg.split) for r in roots])
    if cfg.limit is not None:
        source = [source[i] for i in range(min(cfg.limit, len(source)))]
    return _composer(source, cfg, input_size, seed)


def _build_composed_folder(cfg: DataConfig, input_size: int, seed: int) -> Dataset:
    from smhr.data.compose import ComposedFolder

    return TrainingSet(ComposedFolder(_require_root(cfg)), input_size, cfg, seed, geometric=False,
                       limit=cfg.limit)


def _build_labelled(cfg: DataConfig, input_size: int, seed: int) -> Dataset:
    sets = _labelled_sets(cfg, cfg.split)
    return TrainingSet(torch.utils.data.ConcatDataset(sets), input_size, cfg, seed, limit=cfg.limit)


def _build_composed_labelled(cfg: DataConfig, input_size: int, seed: int) -> Dataset:
    from smhr.data.real_crops import RealHandCrops

    return _composer(RealHandCrops(_labelled_sets(cfg, cfg.split)), cfg, input_size, seed)


def _build_mixture(cfg: DataConfig, input_size: int, seed: int) -> Dataset:
    if not cfg.mixture:
        raise ValueError("config: data.kind mixture needs data.mixture: a list of {kind, weight, ...}")
    parts, weights = [], []
    base = {k: v for k, v in vars(cfg).items() if k not in ("mixture", "kind")}
    for i, item in enumerate(cfg.mixture):
        item = dict(item)
        weights.append(float(item.pop("weight", 1.0)))
        kind = item.pop("kind", None)
        if kind is None or kind == "mixture":
            raise ValueError(f"config: data.mixture[{i}] needs a kind other than mixture")
        from smhr.train.config import build_data_config

        part_cfg = build_data_config({**base, **item, "kind": kind}, f"data.mixture[{i}].")
        parts.append(build_training_set(part_cfg, input_size, seed + 1000 * (i + 1)))
    length = int(cfg.length or sum(len(p) for p in parts))
    return MixtureSet(parts, weights, length, seed)


register_dataset("freihand", _build_freihand)
register_dataset("composed", _build_composed)
register_dataset("composed_folder", _build_composed_folder)
register_dataset("labelled", _build_labelled)
register_dataset("composed_labelled", _build_composed_labelled)
register_dataset("mixture", _build_mixture)


def build_training_set(cfg: DataConfig, input_size: int, seed: int) -> Dataset:
    """The training set that `cfg.kind` names (see `DataConfig` and `DATASETS`)."""
    if cfg.kind not in DATASETS:
        raise ValueError(f"config: unknown data.kind {cfg.kind!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[cfg.kind](cfg, input_size, seed)


def build_validation_set(cfg: DataConfig, input_size: int) -> SampleDataset | None:
    """The held-out set scored during training (FreiHAND layout at val_root, or the held-out split
    of labelled sets for val_kind labelled), or None."""
    if cfg.val_kind == "labelled":
        sets = _labelled_sets(DataConfig(**{**vars(cfg), "roots": cfg.val_roots or cfg.roots,
                                            "preload": False}), "test")
        return torch.utils.data.ConcatDataset(sets)  # type: ignore[return-value]
    if cfg.val_root is None:
        return None
    return _freihand(cfg.val_root, cfg.val_split)
