"""The registry of dataset loaders: name -> loader class (imported on first use), its evaluation
protocol and default split.

Why one registry: `smhr eval dataset --kind`, the training sets (`smhr.train.data`) and the
benchmarks open datasets by name; each name is declared here once. Adding a dataset is one loader
module plus one `register_loader` line (docs/architecture.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LOADERS", "LoaderSpec", "open_dataset", "register_loader"]


@dataclass(frozen=True)
class LoaderSpec:
    """module / cls: where the `SampleDataset` class lives; protocol: the `smhr.eval.protocols`
    scorer for it; split: the default split for evaluation, or None for loaders without splits."""

    module: str
    cls: str
    protocol: str
    split: str | None = None


LOADERS: dict[str, LoaderSpec] = {}


def register_loader(name: str, spec: LoaderSpec) -> None:
    """Make `name` openable by `open_dataset` (and so by `smhr eval dataset --kind name`)."""
    LOADERS[name] = spec


register_loader("freihand", LoaderSpec("smhr.data.freihand", "FreiHAND", "freihand", "eval"))
register_loader("rhd", LoaderSpec("smhr.data.rhd", "RHD", "rhd", "eval"))
register_loader("ho3d", LoaderSpec("smhr.data.ho3d", "HO3D", "ho3d", "train"))
register_loader("interhand", LoaderSpec("smhr.data.interhand", "InterHand26M", "interhand", "test"))
register_loader("composed", LoaderSpec("smhr.data.compose", "ComposedFolder", "multihand"))
register_loader("labelled", LoaderSpec("smhr.data.labelled", "LabelledSet", "multihand", "test"))
register_loader("coco_hands", LoaderSpec("smhr.data.coco_hands", "CocoHands", "multihand"))


def open_dataset(kind: str, root: str | Path, split: str | None = None, **kwargs: Any) -> Any:
    """The `SampleDataset` of loader `kind` at `root` (`split`: default = the loader's own)."""
    if kind not in LOADERS:
        raise ValueError(f"dataset kind must be one of {sorted(LOADERS)}, got {kind!r}")
    spec = LOADERS[kind]
    cls = getattr(importlib.import_module(spec.module), spec.cls)
    if spec.split is None:
        return cls(root, **kwargs)
    return cls(root, split or spec.split, **kwargs)
