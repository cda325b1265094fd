"""smhr.data: dataset loaders (original on-disk formats) -> one `Sample` schema -> augmentation
-> CenterNet-style targets. Loaders import lazily from their own modules, e.g.
`from smhr.data.freihand import FreiHAND`; the names below load on first use (the schema needs
PyTorch, which the command line's `--help` should not pay for)."""

from __future__ import annotations

from smhr.lazy import lazy_attributes

_LAZY = {
    "DatasetLayoutError": "smhr.data.sample",
    "HandLabel": "smhr.data.sample",
    "HandParams": "smhr.data.sample",
    "Sample": "smhr.data.sample",
    "collate_samples": "smhr.data.sample",
    "BadInput": "smhr.errors",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes("smhr.data", _LAZY)
