"""Image reading for every input path (the demo, the API, the runtime, datasets), torch-free.

Decision on bad files: `read_rgb` raises `BadInput` with a one-line message naming the file;
callers that process many files (the demo) catch it per item, report it, go on, and count failures
for the exit code. `to_rgb_uint8` turns any supported in-memory image into the HxWx3 uint8 RGB the
networks take.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smhr.errors import BadInput

__all__ = ["IMAGE_EXTENSIONS", "MAX_PIXELS", "header_size", "read_gray", "read_rgb", "to_rgb_uint8"]

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


PIL_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _pil_to_array(image: Any, name: str) -> np.ndarray:
    """A PIL image as a numpy array in a pixel type `to_rgb_uint8` scales correctly. Why not simply
    `convert("RGB")`: Pillow clips 16-bit modes ("I;16", "I") to 0-255 instead of scaling them, so a
    16-bit photo became a white image and gave no hands; those modes go through the uint16 path."""
    if image.mode in PIL_16BIT_MODES:
        a = np.asarray(image)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise BadInput(f"{name}: PIL image of mode {image.mode} holds values outside 0-65535; "
                           "convert it to 8- or 16-bit first")
        return a.astype(np.uint16)
    if image.mode == "F":  # 32-bit float: the float rules below apply
        return np.asarray(image)
    return np.asarray(image.convert("RGB"))


FLOAT_SLACK = 0.05
"""Float pixels may overshoot [0, 1] by this much (resampling ringing) and are clipped; beyond it
the float image is refused (see `to_rgb_uint8`)."""


def to_rgb_uint8(image: Any, name: str = "image") -> np.ndarray:
    """Any supported image (path, numpy grey / RGB / RGBA, uint8 / uint16 / float in [0, 1], PIL)
    -> HxWx3 uint8 RGB. Raises BadInput naming `name` and the fix.

    NumPy arrays are taken as RGB (channel 0 red): an OpenCV `cv2.imread` result is BGR and must be
    flipped (`img[..., ::-1]`) first, or red and blue swap and fewer hands are found. Files and
    PIL images are converted by their own colour mode.

    Float images must hold values in [0, 1] (within FLOAT_SLACK, clipped). A float image in 0-255
    -- e.g. `img.astype(np.float32)` of a uint8 photo -- or an ImageNet-normalised one is refused
    with a one-line BadInput instead of being guessed: guessing the scale from the pixel values is
    ambiguous (a dark [0, 1] image with one highlight at 1.3, HDR data, a normalised tensor), and a
    wrong guess silently returns no hands or wrong ones, while the fix (`/ 255`) is one call."""
    if isinstance(image, (str, Path)):
        name, image = str(image), read_rgb(image, untrusted=True)
    if isinstance(image, (list, tuple)):
        raise BadInput(f"{name}: got a {type(image).__name__} of {len(image)} items, not an image; "
                       "Reconstructor.predict takes one image, predict_batch([img1, img2, ...]) several")
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL.Image without importing PIL
        image = _pil_to_array(image, name)
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise BadInput(f"{name}: expected an HxW, HxWx3 or HxWx4 image, got shape {a.shape}")
    a = a[..., :3]
    if min(a.shape[:2]) < 8:
        raise BadInput(f"{name}: image of {a.shape[1]}x{a.shape[0]} px is too small (need >= 8 px a side)")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        if int(a.max()) <= 255 and a.any():
            raise BadInput(f"{name}: uint16 image whose values are all <= 255 (8-bit data in a 16-bit "
                           "array: as 16-bit it is black); pass it as uint8 (`img.astype(np.uint8)`) or "
                           "scale it to 0-65535")
        return (a >> 8).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise BadInput(f"{name}: float image contains NaN or infinity")
        lo, hi = float(a.min()), float(a.max())
        if lo < -FLOAT_SLACK or hi > 1.0 + FLOAT_SLACK:
            raise BadInput(
                f"{name}: float image with values in [{lo:.4g}, {hi:.4g}], but float images must be in "
                "[0, 1]: divide 0-255 data by 255 or pass it as uint8 (undo any mean/std normalisation)"
            )
        return (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    raise BadInput(f"{name}: unsupported pixel type {a.dtype}; pass uint8, uint16 or float in [0, 1]")
