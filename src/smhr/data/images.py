"""A plain image-folder dataset (demo / inference input); image reading lives in `smhr.io.images`.

A crash inside a DataLoader worker would lose the whole batch, so batch consumers should iterate
the dataset themselves or wrap `__getitem__` (which raises `BadInput` naming the file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from smhr.data.sample import Sample, SampleDataset
from smhr.errors import BadInput
from smhr.io.images import IMAGE_EXTENSIONS, MAX_PIXELS, header_size, read_gray, read_rgb

__all__ = ["IMAGE_EXTENSIONS", "MAX_PIXELS", "ImageFolder", "header_size", "read_gray", "read_rgb"]


class ImageFolder(SampleDataset):
    """All images in a folder (sorted by name; `recursive` to include sub-folders).

    Each item is a Sample with the image, no hands and K=None (unknown camera).
    """

    def __init__(
        self,
        root: str | Path,
        recursive: bool = False,
        transform: Callable[[Sample], Any] | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise BadInput(f"{self.root}: not a folder; pass a folder of images (jpg/png/webp/bmp...)")
        pattern = "**/*" if recursive else "*"
        self.paths = sorted(
            p for p in self.root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not self.paths:
            raise BadInput(f"{self.root}: no images with extensions {', '.join(IMAGE_EXTENSIONS)}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> Sample:
        path = self.paths[index]
        return Sample(
            image=read_rgb(path),
            K=None,
            image_path=str(path),
            source="images",
            id=str(path.relative_to(self.root)),
        )
