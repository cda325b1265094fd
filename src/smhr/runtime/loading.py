"""Weights files -> a network backend of the peaks contract (onnxruntime or PyTorch).

Why apart from `Reconstructor`: choosing and loading a backend is file handling (existence,
format, one-line errors naming the file and the fix); the predictor only runs what it is given.
The PyTorch backend is imported only when asked for, so the light install (no PyTorch) loads
ONNX files and answers a torch request with one line naming the extra (`smhr.errors.MissingExtra`).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

from smhr.errors import require_torch
from smhr.runtime.calibration import Calibration
from smhr.runtime.contract import PeakBackend

__all__ = ["BACKENDS", "bundled_weights", "choose_backend", "load_onnx", "load_torch"]

WEIGHTS_FILE = "smhr_mobilenetv2_anny.pt"
ONNX_WEIGHTS_FILE = "smhr_mobilenetv2_anny.onnx"
BACKENDS = ("auto", "onnxruntime", "torch")


def bundled_weights(onnx: bool = False) -> Path:
    """Path of the weights that ship inside the package (the model.pt, or its ONNX export)."""
    name = ONNX_WEIGHTS_FILE if onnx else WEIGHTS_FILE
    return Path(str(importlib.resources.files("smhr") / "assets" / "weights" / name))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cuda_present() -> bool:
    """A CUDA GPU that PyTorch can use. PyTorch is imported only when it is installed and an NVIDIA
    driver is loaded, so a CPU machine never pays its import for this question."""
    if not (Path("/proc/driver/nvidia/version").exists() and _installed("torch")):
        return False
    import torch

    return bool(torch.cuda.is_available())


def choose_backend(backend: str, path: Path | None, device: str, input_size: int | None) -> str:
    """"auto" -> "onnxruntime" for ONNX files, and for the bundled weights on the CPU; "torch" for a
    model.pt, and for the bundled weights when a device, an input size or a usable GPU asks for it
    (or onnxruntime is missing)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    onnx_file = path is not None and path.suffix.lower() == ".onnx"
    if device.startswith("cuda") and (backend == "onnxruntime" or (backend == "auto" and onnx_file)):
        what = f"the ONNX weights {path.name}" if onnx_file else "backend 'onnxruntime'"
        raise ValueError(f"device={device!r}: {what} run on the CPU (onnxruntime); for CUDA give a "
                         "model.pt (backend 'auto' or 'torch'), or use device='cpu'")
    if backend != "auto":
        return backend
    if path is not None:
        return "onnxruntime" if onnx_file else "torch"
    gpu = device not in ("auto", "cpu") or (device == "auto" and cuda_present())
    wants_torch = gpu or input_size is not None
    if not wants_torch and _installed("onnxruntime") and bundled_weights(onnx=True).is_file():
        return "onnxruntime"
    return "torch"


def _check_exists(path: Path, given: bool) -> None:
    if not path.exists():
        fix = "pass the path of a model.pt or .onnx file" if given else "reinstall smhr"
        raise FileNotFoundError(f"weights {path} not found: {fix}")


def load_onnx(path: Path, given: bool, *, input_size: int | None, threads: int | None) -> PeakBackend:
    """The onnxruntime backend for an `smhr export --onnx` file."""
    _check_exists(path, given)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"{path}: the onnxruntime backend needs an ONNX export; make one with "
                         f"`smhr export --onnx OUT.onnx --weights {path}` or use backend='torch'")
    if not _installed("onnxruntime"):
        raise RuntimeError(f"{path}: ONNX weights need onnxruntime: pip install onnxruntime")
    from smhr.runtime.network import OnnxPeaks

    net = OnnxPeaks(path, threads)
    if input_size not in (None, net.input_size):
        raise ValueError(f"{path}: an ONNX export has a fixed input size ({net.input_size}); "
                         f"use the model.pt (backend='torch') for input_size={input_size}")
    return net


def load_torch(path: Path, given: bool, device: str, *, max_hands: int,
               input_size: int | None) -> PeakBackend:
    """The PyTorch backend for a `smhr train` model.pt: BatchNorms folded into their convolutions
    (same outputs, ~1.3x on CPU) and NHWC convolutions (~1.7x), on `device` ("auto": CUDA when
    available)."""
    require_torch("the torch backend")
    import torch

    from smhr.io.torchfiles import load_smhr_checkpoint
    from smhr.model.fuse import fuse_conv_bn
    from smhr.model.loading import network_from_checkpoint
    from smhr.model.peaks import TorchPeaks

    _check_exists(path, given)
    if path.suffix.lower() == ".onnx":
        raise ValueError(f"{path}: an ONNX export runs in onnxruntime; use backend='onnxruntime' "
                         "(or 'auto'), or pass the model.pt for the torch backend")
    from smhr.runtime.options import check_cuda

    check_cuda(device)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))  # fmt: skip
    ckpt = load_smhr_checkpoint(path)  # weights only: a model.pt from elsewhere cannot run code
    net = network_from_checkpoint(ckpt, str(path)).to(dev).eval()
    net, _ = fuse_conv_bn(net, inplace=True)
    net = net.to(memory_format=torch.channels_last)
    calibration = Calibration.from_meta(ckpt.get("meta", {}), str(path))
    return TorchPeaks(net, max_hands, input_size=input_size, calibration=calibration)
