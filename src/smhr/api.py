"""`Reconstructor`: image(s) in, a list of `Hand` records per image out (the Python API).

    from smhr import Reconstructor
    rec = Reconstructor.from_pretrained()          # bundled weights, CPU unless CUDA is there
    hands = rec.predict("photo.jpg")               # path, numpy HxW[x3|x4] (uint8/uint16) or PIL
    for h in hands: print(h.side, h.score, h.keypoints2d.shape, h.vertices.shape)

Why a class: the network and both hand models are loaded once, and `predict_batch` runs several
images through one forward pass. Every image is letterboxed to the network's input size (area
resampling when shrinking, so large photos do not alias); results come back in the original
image's pixels. Without `focal`, 3D outputs use the network's virtual camera (f = 512 px at the
input size) mapped to the original image; with `focal` (pixels of the original image, principal
point at the image centre) or an explicit `K`, hands are placed metrically in that camera.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smhr.data.sample import BadInput
from smhr.hands.model import HandModel
from smhr.io.torchfiles import MODEL_FIX, load_smhr_checkpoint, reason
from smhr.model.decode import Hand, decode
from smhr.model.fuse import fuse_conv_bn
from smhr.model.net import SMHRNet
from smhr.model.normalize import normalize_images

__all__ = ["BadInput", "Hand", "Reconstructor", "bundled_weights", "to_rgb_uint8"]

WEIGHTS_FILE = "smhr_mobilenetv2_anny.pt"


def bundled_weights() -> Path:
    """Path of the weights that ship inside the package."""
    return Path(str(importlib.resources.files("smhr") / "assets" / "weights" / WEIGHTS_FILE))


FLOAT_SLACK = 0.05
"""Float pixels may overshoot [0, 1] by this much (resampling ringing) and are clipped; beyond it
the float image is refused (see `to_rgb_uint8`)."""


def to_rgb_uint8(image: Any, name: str = "image") -> np.ndarray:
    """Any supported image (path, numpy grey / RGB / RGBA, uint8 / uint16 / float in [0, 1], PIL)
    -> HxWx3 uint8 RGB. Raises BadInput naming `name` and the fix.

    Float images must hold values in [0, 1] (within FLOAT_SLACK, clipped). A float image in 0-255
    -- e.g. `img.astype(np.float32)` of a uint8 photo -- or an ImageNet-normalised one is refused
    with a one-line BadInput instead of being guessed: guessing the scale from the pixel values is
    ambiguous (a dark [0, 1] image with one highlight at 1.3, HDR data, a normalised tensor), and a
    wrong guess silently returns no hands or wrong ones, while the fix (`/ 255`) is one call."""
    if isinstance(image, (str, Path)):
        from smhr.data.images import read_rgb

        name, image = str(image), read_rgb(image, untrusted=True)
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL.Image without importing PIL
        image = np.asarray(image.convert("RGB"))
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


def letterbox_image(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size x size x 3 uint8 network input, 3x3 original->network affine). Shrinking uses area
    resampling; the image is centred and padded with black."""
    import cv2

    H, W = image.shape[:2]
    s = size / max(H, W)
    w, h = max(1, round(W * s)), max(1, round(H * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (w, h), interpolation=interp)
    px, py = (size - w) // 2, (size - h) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[py : py + h, px : px + w] = small
    sx, sy = w / W, h / H  # cv2.resize maps pixel centres: u' = (u + 0.5) * sx - 0.5
    A = np.array([[sx, 0.0, 0.5 * sx - 0.5 + px], [0.0, sy, 0.5 * sy - 0.5 + py], [0.0, 0.0, 1.0]])
    return out, A


DEFAULT_THRESHOLD = 0.3
"""Minimum centre score when neither the caller nor the weights' metadata gives one."""


def stored_score_threshold(checkpoint: dict[str, Any]) -> float | None:
    """The detection threshold a loaded model.pt was packaged with (metadata "score_threshold"),
    or None."""
    value = checkpoint.get("meta", {}).get("score_threshold")
    return None if value is None else float(value)


def _pick_threshold(given: float | None, stored: float | None) -> float:
    """The caller's threshold, else the weights' calibrated one, else DEFAULT_THRESHOLD."""
    if given is not None:
        return given
    return stored if stored is not None else DEFAULT_THRESHOLD


@dataclass
class Reconstructor:
    """A loaded network with its left / right hand models (see the module docstring)."""

    net: SMHRNet
    hand_models: list[HandModel]
    device: torch.device
    threshold: float = DEFAULT_THRESHOLD
    max_hands: int = 10
    input_size_override: int | None = None

    @classmethod
    def from_pretrained(
        cls, weights: str | Path | None = None, device: str = "auto", *, threshold: float | None = None,
        max_hands: int = 10, hand: str | None = None, mano_dir: str | Path | None = None,
        input_size: int | None = None,
    ) -> Reconstructor:
        """Load `weights` (a `smhr train` model.pt, or an `smhr export --onnx` file run by
        onnxruntime; default: the bundled file) on `device` ("auto": CUDA when available).

        threshold: minimum centre score of a hand. None takes the weights' own calibrated value
        (metadata "score_threshold", written when they were packaged: detection scores of
        different trainings are not on one scale), else DEFAULT_THRESHOLD.
        input_size: side of the square network input (a multiple of 32); None = the size the
        weights were trained at. The network is fully convolutional, so a smaller input trades
        accuracy on small hands for speed (cost ~ input_size^2; measured in docs/training.md)."""
        from smhr.eval.predict import load_network

        if input_size is not None and (input_size % 32 or not 64 <= input_size <= 2048):
            raise ValueError(f"input_size must be a multiple of 32 in [64, 2048], got {input_size}")
        path = Path(weights) if weights is not None else bundled_weights()
        if not path.exists():
            fix = "pass the path of a model.pt or .onnx file" if weights is not None else "reinstall smhr"
            raise FileNotFoundError(f"weights {path} not found: {fix}")
        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           ("cpu" if device == "auto" else device))  # fmt: skip
        if path.suffix.lower() == ".onnx":  # an `smhr export --onnx` file, run by onnxruntime on the CPU
            from smhr.onnx_export import OnnxNetwork

            try:
                onnx_net = OnnxNetwork(path)
            except ImportError as exc:
                raise RuntimeError(f"{path}: ONNX weights need onnxruntime: "
                                   "pip install 'smhr[onnx]'") from exc
            except Exception as exc:  # not ONNX, truncated, foreign model: onnxruntime raises its own types
                if isinstance(exc, ValueError) and str(path) in str(exc):
                    raise
                raise ValueError(f"{path} is not an smhr ONNX export ({reason(exc)}); {MODEL_FIX}") from exc
            fixed = onnx_net.config.input_size
            if input_size not in (None, fixed):
                raise ValueError(f"{path}: an ONNX export has a fixed input size ({fixed}); "
                                 f"use the model.pt for input_size={input_size}")
            kind = hand or onnx_net.config.hand_model
            dev = torch.device("cpu")
            mano = mano_dir if kind == "mano" else None
            models = [HandModel.load(kind, s, mano) for s in ("left", "right")]
            threshold = _pick_threshold(threshold, onnx_net.score_threshold)
            return cls(onnx_net, models, dev, threshold, max_hands)  # type: ignore[arg-type]
        ckpt = load_smhr_checkpoint(path)  # weights only: a model.pt from elsewhere cannot run code
        threshold = _pick_threshold(threshold, stored_score_threshold(ckpt))
        net, models = load_network(ckpt, hand, mano_dir, str(dev), source=str(path))
        # BatchNorms folded into their convolutions (same outputs, ~1.3x on CPU), NHWC convolutions (~1.7x)
        net, _ = fuse_conv_bn(net.eval(), inplace=True)
        net = net.to(memory_format=torch.channels_last)
        return cls(net, models, dev, threshold, max_hands, input_size)

    @property
    def input_size(self) -> int:
        """Side of the square image the network sees (the letterbox target)."""
        return int(self.input_size_override or self.net.config.input_size)

    @property
    def faces(self) -> dict[int, np.ndarray]:
        """Triangles per side (0 left, 1 right) for exporting meshes."""
        return {i: m.faces.cpu().numpy() for i, m in enumerate(self.hand_models)}

    def predict(self, image: Any, *, focal: float | None = None, K: np.ndarray | None = None) -> list[Hand]:
        """Hands in one image, best score first."""
        return self.predict_batch([image], focal=focal, K=None if K is None else [K])[0]

    @torch.no_grad()
    def predict_batch(
        self, images: Sequence[Any], *, focal: float | None = None, K: Sequence[np.ndarray] | None = None,
    ) -> list[list[Hand]]:
        """Hands per image for several images in one forward pass."""
        rgb = [to_rgb_uint8(im, f"image {i}") for i, im in enumerate(images)]
        if not rgb:
            return []
        boxed = [letterbox_image(im, self.input_size) for im in rgb]
        batch = torch.stack([torch.from_numpy(b).permute(2, 0, 1) for b, _ in boxed]).to(self.device)
        affines = np.stack([A for _, A in boxed])
        Ks = None
        if K is not None:
            Ks = np.stack([np.asarray(k, np.float64) for k in K])
        elif focal is not None:
            Ks = np.stack([np.array([[focal, 0.0, (im.shape[1] - 1) / 2], [0.0, focal, (im.shape[0] - 1) / 2],
                                     [0.0, 0.0, 1.0]]) for im in rgb])  # fmt: skip
        x = normalize_images(batch).contiguous(memory_format=torch.channels_last)
        return decode(self.net, x, self.hand_models, max_hands=self.max_hands,
                      threshold=self.threshold, affine=affines, K=Ks)  # fmt: skip
