"""smhr.data: dataset loaders (original on-disk formats) -> one `Sample` schema -> augmentation
-> CenterNet-style targets. Loaders import lazily from their own modules, e.g.
`from smhr.data.freihand import FreiHAND`."""

from smhr.data.sample import (
    BadInput,
    DatasetLayoutError,
    HandLabel,
    HandParams,
    Sample,
    collate_samples,
)

__all__ = ["BadInput", "DatasetLayoutError", "HandLabel", "HandParams", "Sample", "collate_samples"]
