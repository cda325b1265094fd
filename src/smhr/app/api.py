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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smhr.errors import BadInput
from smhr.geometry.letterbox import network_inputs
from smhr.io.images import to_rgb_uint8
from smhr.records import DEFAULT_THRESHOLD, Hand, pick_threshold

if TYPE_CHECKING:  # the PyTorch path imports torch only when it is used
    import torch

    from smhr.hands.model import HandModel
    from smhr.model.net import SMHRNet
    from smhr.runtime.reconstructor import Runtime

__all__ = ["BACKENDS", "BadInput", "Hand", "Reconstructor", "bundled_weights", "to_rgb_uint8"]

WEIGHTS_FILE = "smhr_mobilenetv2_anny.pt"
ONNX_WEIGHTS_FILE = "smhr_mobilenetv2_anny.onnx"
BACKENDS = ("auto", "onnxruntime", "torch")


def bundled_weights(onnx: bool = False) -> Path:
    """Path of the weights that ship inside the package (the model.pt, or its ONNX export)."""
    name = ONNX_WEIGHTS_FILE if onnx else WEIGHTS_FILE
    return Path(str(importlib.resources.files("smhr") / "assets" / "weights" / name))


def _onnxruntime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None




DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_options(device: str, threshold: float | None, max_hands: int) -> None:
    """One-line ValueErrors for options that would otherwise fail deep inside PyTorch (a device
    string) or silently return no hands (threshold outside [0, 1], max_hands < 1)."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold is a detection score in [0, 1], got {threshold!r}")
    if isinstance(max_hands, bool) or not isinstance(max_hands, (int, np.integer)) or max_hands < 1:
        raise ValueError(f"max_hands must be an integer >= 1, got {max_hands!r}")


def check_cuda(device: str, cli: bool = False) -> None:
    """Refuse a CUDA device that PyTorch cannot use with one line naming the option and the fix
    (`--device` on the command line, `device=` in Python) instead of PyTorch's driver message."""
    import torch

    said, fix = f"device={device!r}", "device='cpu'"
    if cli:
        said, fix = f"--device {device}", "--device cpu (or auto)"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"{said}: PyTorch finds no CUDA device on this machine (no GPU, no driver, or a "
                           f"CPU-only torch build); use {fix}")
    n = torch.cuda.device_count()
    if device.startswith("cuda:") and int(device[5:]) >= n:
        raise RuntimeError(f"{said}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}")


def stored_score_threshold(checkpoint: dict[str, Any]) -> float | None:
    """The detection threshold a loaded model.pt was packaged with (metadata "score_threshold"),
    or None."""
    value = checkpoint.get("meta", {}).get("score_threshold")
    return None if value is None else float(value)


@dataclass
class Reconstructor:
    """A loaded PyTorch network with its left / right hand models (see the module docstring).

    `Reconstructor.from_pretrained` returns this PyTorch predictor or, for ONNX weights (and by
    default on the CPU), the torch-free `smhr.runtime.Runtime`; both answer `predict`,
    `predict_batch`, `faces`, `input_size`, `threshold` and `max_hands` alike.
    """

    net: SMHRNet
    hand_models: list[HandModel]
    device: torch.device
    threshold: float = DEFAULT_THRESHOLD
    max_hands: int = 10
    input_size_override: int | None = None

    backend = "torch"

    @classmethod
    def from_pretrained(
        cls, weights: str | Path | None = None, device: str = "auto", *, threshold: float | None = None,
        max_hands: int = 10, hand: str | None = None, mano_dir: str | Path | None = None,
        input_size: int | None = None, backend: str = "auto", threads: int | None = None,
    ) -> Reconstructor | Runtime:
        """Load `weights` (a `smhr train` model.pt, or an `smhr export --onnx` file; default: the
        bundled weights).

        backend: "onnxruntime" (torch-free, CPU: the fastest start-up and CPU latency,
        docs/network.md), "torch" (CPU or CUDA, any input size), or "auto": onnxruntime for ONNX
        files, and for the bundled weights when onnxruntime is installed and neither CUDA, a device
        nor an input size asks for PyTorch; torch otherwise. device: "auto" (CUDA when available),
        "cpu" or "cuda" (torch backend). threads: CPU threads of the onnxruntime backend (default
        from `smhr.runtime.network`).
        threshold: minimum centre score of a hand. None takes the weights' own calibrated value
        (metadata "score_threshold", written when they were packaged: detection scores of
        different trainings are not on one scale), else DEFAULT_THRESHOLD.
        input_size: side of the square network input (a multiple of 32); None = the size the
        weights were trained at. The network is fully convolutional, so a smaller input trades
        accuracy on small hands for speed (torch backend; an ONNX export has a fixed size)."""
        check_options(device, threshold, max_hands)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if input_size is not None and (input_size % 32 or not 64 <= input_size <= 2048):
            raise ValueError(f"input_size must be a multiple of 32 in [64, 2048], got {input_size}")
        path = Path(weights) if weights is not None else None
        if backend == "auto":
            wants_torch = device not in ("auto", "cpu") or input_size is not None
            if path is not None:
                backend = "onnxruntime" if path.suffix.lower() == ".onnx" else "torch"
            elif not wants_torch and _onnxruntime_available() and bundled_weights(onnx=True).is_file():
                backend = "onnxruntime"
            else:
                backend = "torch"
        if backend == "onnxruntime":
            return _load_runtime(path or bundled_weights(onnx=True), weights is not None, threshold=threshold,
                                 max_hands=max_hands, hand=hand, mano_dir=mano_dir, input_size=input_size,
                                 threads=threads)
        return cls._load_torch(path or bundled_weights(), weights is not None, device, threshold=threshold,
                               max_hands=max_hands, hand=hand, mano_dir=mano_dir, input_size=input_size)

    @classmethod
    def _load_torch(cls, path: Path, given: bool, device: str, *, threshold: float | None, max_hands: int,
                    hand: str | None, mano_dir: str | Path | None, input_size: int | None) -> Reconstructor:
        import torch

        from smhr.io.torchfiles import load_smhr_checkpoint
        from smhr.model.fuse import fuse_conv_bn
        from smhr.model.loading import load_network

        if not path.exists():
            fix = "pass the path of a model.pt or .onnx file" if given else "reinstall smhr"
            raise FileNotFoundError(f"weights {path} not found: {fix}")
        if path.suffix.lower() == ".onnx":
            raise ValueError(f"{path}: an ONNX export runs in onnxruntime; use backend='onnxruntime' "
                             "(or 'auto'), or pass the model.pt for the torch backend")
        check_cuda(device)
        dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                           ("cpu" if device == "auto" else device))  # fmt: skip
        ckpt = load_smhr_checkpoint(path)  # weights only: a model.pt from elsewhere cannot run code
        threshold = pick_threshold(threshold, stored_score_threshold(ckpt))
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
    def hand_model(self) -> str:
        """Kind of the hand models the parameters drive ("anny" | "mano")."""
        return str(self.hand_models[1].kind)

    @property
    def faces(self) -> dict[int, np.ndarray]:
        """Triangles per side (0 left, 1 right) for exporting meshes."""
        return {i: m.faces.cpu().numpy() for i, m in enumerate(self.hand_models)}

    def predict(self, image: Any, *, focal: float | None = None, K: np.ndarray | None = None) -> list[Hand]:
        """Hands in one image, best score first. NumPy images are RGB (an OpenCV `imread` result is
        BGR: pass `img[..., ::-1]`); several images: `predict_batch`."""
        return self.predict_batch([image], focal=focal, K=None if K is None else [K])[0]

    def predict_batch(
        self, images: Sequence[Any], *, focal: float | None = None, K: Sequence[np.ndarray] | None = None,
    ) -> list[list[Hand]]:
        """Hands per image for several images in one forward pass."""
        import torch

        from smhr.model.decode import decode
        from smhr.model.normalize import normalize_images

        if not len(images):
            return []
        boxed, affines, Ks = network_inputs(images, self.input_size, focal=focal, K=K)
        batch = torch.from_numpy(boxed).permute(0, 3, 1, 2).to(self.device)
        x = normalize_images(batch).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            return decode(self.net, x, self.hand_models, max_hands=self.max_hands,
                          threshold=self.threshold, affine=affines, K=Ks)  # fmt: skip


def _load_runtime(path: Path, given: bool, *, threshold: float | None, max_hands: int, hand: str | None,
                  mano_dir: str | Path | None, input_size: int | None, threads: int | None) -> Runtime:
    """The onnxruntime backend for an ONNX export (one-line errors naming the file)."""
    if not path.exists():
        fix = "pass the path of a model.pt or .onnx file" if given else "reinstall smhr"
        raise FileNotFoundError(f"weights {path} not found: {fix}")
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"{path}: the onnxruntime backend needs an ONNX export; make one with "
                         f"`smhr export --onnx OUT.onnx --weights {path}` or use backend='torch'")
    if not _onnxruntime_available():
        raise RuntimeError(f"{path}: ONNX weights need onnxruntime: pip install onnxruntime")
    from smhr.runtime.reconstructor import Runtime

    rt = Runtime.from_onnx(path, threshold=threshold, max_hands=max_hands, hand=hand, mano_dir=mano_dir,
                           threads=threads)
    if input_size not in (None, rt.input_size):
        raise ValueError(f"{path}: an ONNX export has a fixed input size ({rt.input_size}); "
                         f"use the model.pt (backend='torch') for input_size={input_size}")
    return rt
