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


MAX_PIXELS = 250_000_000
"""Largest image `read_rgb` decodes (250 megapixels: a 200 MP phone photo fits; ~750 MB as RGB)."""


def header_size(data: np.ndarray | bytes) -> tuple[int, int] | None:
    """(width, height) from an encoded image's header, without decoding its pixels, or None when
    the header is not one Pillow recognises. Why: the pixel count must be known before decoding, or
    a few-hundred-byte file claiming 60000x60000 px makes the decoder allocate gigabytes."""
    import io
    import re
    import warnings

    try:
        from PIL import Image  # (Pillow comes with matplotlib)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own decompression-bomb warning: we decide below
            with Image.open(io.BytesIO(bytes(data))) as im:
                return int(im.size[0]), int(im.size[1])
    except ImportError:
        return None
    except Image.DecompressionBombError as exc:  # over 2x Pillow's limit: the message holds the count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        n = int(found.group(1)) if found else MAX_PIXELS + 1
        return n, 1
    except Exception:  # unknown or broken header: the decoder decides (and reports) below
        return None


JPEG_MAX_PIXELS_PER_BYTE = 2000
"""No real JPEG packs more pixels per byte (a flat grey progressive JPEG: ~170); beyond this ratio,
above 4 megapixels, the header lies and libjpeg would invent the missing pixels."""


def _jpeg_problem(data: np.ndarray, size: tuple[int, int] | None) -> str | None:
    """Why JPEG bytes cannot be a whole image, or None (also for non-JPEG data). Why check: libjpeg
    does not fail on a truncated file, it completes the image with grey rows (and prints a warning
    to stderr), so a 4 kB file whose header says 15000x15000 px decodes into 675 MB of nothing."""
    raw = data.tobytes()
    if raw[:2] != b"\xff\xd8":
        return None
    i, start = 2, None
    while i + 4 <= len(raw) and raw[i] == 0xFF:  # the segments before the image data
        marker = raw[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill byte / no length
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(raw[i + 2 : i + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            start = i + 2 + length
            break
        i += 2 + length
    if start is None:
        return None if i + 4 <= len(raw) else "truncated JPEG (ends before its image data)"
    if raw.find(b"\xff\xd9", start) < 0:
        return "truncated JPEG (no end-of-image marker)"
    pixels = 0 if size is None else size[0] * size[1]
    if pixels > 4_000_000 and pixels > JPEG_MAX_PIXELS_PER_BYTE * len(raw):
        return f"corrupt JPEG (a {len(raw)}-byte file cannot hold the {_describe(size)} its header says)"
    return None


def _describe(size: tuple[int, int]) -> str:
    """ "WxH px", or "N megapixels" for `header_size`'s (count, 1) of Pillow's bomb check."""
    return f"{size[0]}x{size[1]} px" if size[1] > 1 else f"{size[0] / 1e6:.0f} megapixels"


def read_rgb(path: str | Path, max_pixels: int = MAX_PIXELS, untrusted: bool = False) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (grey is expanded, alpha dropped, EXIF rotation applied).

    Raises BadInput naming the file when it is missing, empty or not a decodable image.
    untrusted: a file a user handed us rather than a dataset's (the demo, the API). It is first
    checked from its header, before any pixel is decoded: more than `max_pixels` (a few-hundred-byte
    file claiming 60000x60000 px would make the decoder allocate gigabytes), or a JPEG that libjpeg
    would complete with invented pixels (see `_jpeg_problem`), is a BadInput too. Dataset reads keep
    the decoder's own behaviour.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such image file")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode copes with any path encoding
    except OSError as exc:
        raise BadInput(f"{path}: cannot read it ({exc.strerror or exc}); check that it is readable") from exc
    if data.size == 0:
        raise BadInput(f"{path}: empty file; replace it with a valid image")
    if untrusted:
        size = header_size(data)
        if size is not None and size[0] * size[1] > max_pixels:
            limit = f"{max_pixels / 1e6:.0f} megapixel limit"
            raise BadInput(f"{path}: header says {_describe(size)}, over the {limit}; downscale the image "
                           "(or replace the file if it is corrupt)")
        problem = _jpeg_problem(data, size)
        if problem:
            raise BadInput(f"{path}: {problem}; re-download or re-save it")
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
