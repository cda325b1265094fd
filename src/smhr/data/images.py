"""Image reading and a plain image-folder dataset (demo / inference input).

Decision on bad files: `read_rgb` and `ImageFolder.__getitem__` raise `BadInput` with a one-line
message naming the file; callers that process many files (the demo) catch it per item, report it,
go on, and count failures for the exit code. A crash inside a DataLoader worker would lose the
whole batch, so batch consumers should iterate the dataset themselves or wrap `__getitem__`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smhr.data.sample import BadInput, Sample, SampleDataset

# We report unreadable files ourselves (one line naming the file); OpenCV's own decoder chatter on
# stderr would only add noise.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (grey is expanded, alpha dropped).

    Raises BadInput naming the file when it is missing, empty or not a decodable image.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such image file")
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode copes with any path encoding
    if data.size == 0:
        raise BadInput(f"{path}: empty file; replace it with a valid image")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise BadInput(f"{path}: not a readable image (corrupt or unsupported format); re-save as JPG/PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_gray(path: str | Path) -> np.ndarray:
    """Read a single-channel image (dataset masks) as HxW uint8; BadInput on failure."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such mask file")
    img = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise BadInput(f"{path}: not a readable image (corrupt or unsupported format)")
    if img.ndim == 3:  # a mask stored as colour: all channels are equal in the datasets we read
        img = img[..., 0]
    return img


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
