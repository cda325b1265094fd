"""The one registry of datasets: name -> where its loader lives, how it is scored, and the config
(and so the way) it is trained on.

Why one registry: training (`data.kind`), `smhr eval dataset --kind`, `smhr label --dataset`, the
benchmarks and `smhr list datasets` all name sets, and each name means one thing everywhere. A set
in its own on-disk format is a loader module plus one `register_dataset` line here
(docs/architecture.md); kinds composed at training time from other sets (`composed`,
`composed_labelled`, `closeup_labelled`, `mixture`) have no loader of their own and only train.

Nothing here imports a loader or PyTorch: both come on first use, so the command line's `--help`
and `smhr list` stay light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smhr.registry import Registry

__all__ = ["DATASETS", "DatasetSpec", "data_config_class", "open_dataset", "openable", "register_dataset"]


def _import(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class DatasetSpec:
    """One kind of set.

    loader: "package.module:Class" of the `SampleDataset` reading the set in its own format, built
    as Class(root, split) (Class(root) when `split` is None); None for a set composed from others
    at training time. protocol: the `smhr.eval.protocols` scorer. split: the default split for
    evaluation, None for loaders without splits. config: "package.module:Class" of the `data:`
    config of training on it; the default trains on one folder of the loader, augmented.
    laid_out: the loader's images are composites already at the network size (colour jitter only).
    """

    loader: str | None
    protocol: str = "multihand"
    split: str | None = None
    config: str = "smhr.data.kinds:FolderConfig"
    laid_out: bool = False

    def loader_class(self) -> Any:
        return _import(self.loader) if self.loader else None


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(name: str, spec: DatasetSpec) -> None:
    """Make `name` a `data.kind`, and (with a loader) an `smhr eval dataset --kind` and an
    `smhr label --dataset` choice. A name already taken is an error naming both."""
    DATASETS.register(name, spec)


def openable() -> list[str]:
    """The names of sets that can be opened from a folder (those with a loader), sorted."""
    return [n for n in DATASETS.names() if DATASETS[n].loader]


def data_config_class(kind: str) -> type:
    """The config dataclass of training on `kind` (an unknown kind: one line listing the choices)."""
    return _import(DATASETS[kind].config)


def open_dataset(kind: str, root: str | Path, split: str | None = None, **kwargs: Any) -> Any:
    """The `SampleDataset` of `kind` at `root` (`split`: default = the loader's own)."""
    if kind not in DATASETS or not DATASETS[kind].loader:
        raise ValueError(f"dataset kind must be one of {', '.join(openable())}, got {kind!r}")
    spec = DATASETS[kind]
    cls = spec.loader_class()
    if spec.split is None:
        return cls(root, **kwargs)
    return cls(root, split or spec.split, **kwargs)


# --- one line per set -------------------------------------------------------------------------
register_dataset("freihand", DatasetSpec("smhr.data.freihand:FreiHAND", "freihand", "eval"))
register_dataset("rhd", DatasetSpec("smhr.data.rhd:RHD", "rhd", "eval"))
register_dataset("ho3d", DatasetSpec("smhr.data.ho3d:HO3D", "ho3d", "train"))
register_dataset("interhand", DatasetSpec("smhr.data.interhand:InterHand26M", "interhand", "test"))
register_dataset("coco_hands", DatasetSpec("smhr.data.coco_hands:CocoHands"))
register_dataset("composed_folder", DatasetSpec("smhr.data.compose:ComposedFolder", laid_out=True))
register_dataset("labelled", DatasetSpec("smhr.data.labelled:LabelledSet", split="test",
                                         config="smhr.data.kinds:LabelledConfig"))
register_dataset("composed", DatasetSpec(None, config="smhr.data.kinds:ComposedConfig"))
register_dataset("composed_labelled", DatasetSpec(None, config="smhr.data.kinds:ComposedLabelledConfig"))
register_dataset("closeup_labelled", DatasetSpec(None, config="smhr.data.kinds:CloseupLabelledConfig"))
register_dataset("mixture", DatasetSpec(None, config="smhr.data.kinds:MixtureConfig"))
