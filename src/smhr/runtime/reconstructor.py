"""`Reconstructor`: image(s) in, a list of `Hand` records per image out: the one inference path.

    from smhr import Reconstructor
    rec = Reconstructor.from_pretrained()          # bundled weights; onnxruntime on the CPU
    hands = rec.predict("photo.jpg")               # path, numpy HxW[x3|x4] (uint8/uint16) or PIL
    for h in hands: print(h.side, h.score, h.keypoints2d.shape, h.vertices.shape)

Every image goes the same way whatever serves the network: the one letterbox
(`smhr.geometry.letterbox.network_inputs`), a backend of the peaks contract (`smhr.runtime.contract`:
onnxruntime, or PyTorch on a GPU or on request), the one NumPy decode and the NumPy hand models.
Training validation and `smhr eval` predict through this class too, so the numbers they report are
the numbers a user gets. Why a class: the network and both hand models are loaded once, and
`predict_batch` runs several images through one network call. Results are in the original image's
pixels. Without `focal`, 3D outputs use the network's virtual camera (f = 512 px at the input size)
mapped to the original image; with `focal` (pixels of the original image, principal point at the
image centre) or an explicit `K`, hands are placed metrically in that camera.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smhr.geometry.letterbox import network_inputs
from smhr.hands.assets import user_files
from smhr.hands.numpy_model import NumpyHandModel
from smhr.records import DEFAULT_THRESHOLD, Hand, pick_threshold
from smhr.runtime.contract import STRIDE, PeakBackend
from smhr.runtime.decode import decode_peaks

__all__ = ["Reconstructor"]


@dataclass
class Reconstructor:
    """A network backend of the peaks contract with its (left, right) NumPy hand models."""

    network: PeakBackend
    hand_models: list[NumpyHandModel]
    threshold: float = DEFAULT_THRESHOLD
    max_hands: int = 10

    @classmethod
    def from_pretrained(
        cls, weights: str | Path | None = None, device: str = "auto", *, threshold: float | None = None,
        max_hands: int = 10, hand: str | None = None, mano_dir: str | os.PathLike | None = None,
        input_size: int | None = None, backend: str = "auto", threads: int | None = None,
    ) -> Reconstructor:
        """Load `weights` (a `smhr train` model.pt, or an `smhr export --onnx` file; default: the
        bundled weights).

        backend: "onnxruntime" (no PyTorch, CPU: the fastest start-up and CPU latency,
        docs/network.md), "torch" (CPU or CUDA, any input size; needs the `train` extra), or
        "auto": onnxruntime for ONNX files, and for the bundled weights on the CPU; torch for a
        model.pt, and for the bundled weights on a GPU (device "cuda", or "auto" with a usable one)
        or with an input size. device: "auto" (CUDA when available), "cpu" or
        "cuda" (torch backend). threads: CPU threads of the onnxruntime backend.
        threshold: minimum centre score of a hand. None takes the weights' own calibrated value
        (written when they were packaged: detection scores of different trainings are not on one
        scale), else DEFAULT_THRESHOLD. max_hands: at most this many hands per image (an ONNX
        export caps it at its slot count). input_size: side of the square network input (a
        multiple of 32); None = the size the weights were trained at (an ONNX export has a fixed
        size). hand: the hand model the parameters drive (default: the weights'); mano_dir: the
        folder of MANO_*.pkl when that is "mano"."""
        from smhr.runtime import loading
        from smhr.runtime.options import check_options

        check_options(device, threshold, max_hands)
        if input_size is not None and (input_size % 32 or not 64 <= input_size <= 2048):
            raise ValueError(f"input_size must be a multiple of 32 in [64, 2048], got {input_size}")
        path = Path(weights) if weights is not None else None
        chosen = loading.choose_backend(backend, path, device, input_size)
        onnx = chosen == "onnxruntime"
        path = path or loading.bundled_weights(onnx=onnx)
        if onnx:
            net = loading.load_onnx(path, weights is not None, input_size=input_size, threads=threads)
        else:
            net = loading.load_torch(path, weights is not None, device, max_hands=max_hands,
                                     input_size=input_size)
        return cls.for_network(net, threshold=pick_threshold(threshold, net.score_threshold),
                               max_hands=max_hands, hand=hand, mano_dir=mano_dir)

    @classmethod
    def for_network(cls, network: PeakBackend, *, threshold: float = DEFAULT_THRESHOLD, max_hands: int = 10,
                    hand: str | None = None, mano_dir: str | os.PathLike | None = None) -> Reconstructor:
        """A predictor around an already loaded backend (e.g. `smhr.model.peaks.TorchPeaks` of the
        net being trained), with the NumPy hand models of kind `hand` (default: the network's)."""
        kind = hand or network.hand_model
        path = user_files(kind, mano_dir)
        models = [NumpyHandModel.load(kind, side, path) for side in ("left", "right")]
        return cls(network, models, float(threshold), min(int(max_hands), network.max_hands))

    @property
    def backend(self) -> str:
        """What runs the network: "onnxruntime" | "torch"."""
        return self.network.backend

    @property
    def input_size(self) -> int:
        """Side of the square image the network sees (the letterbox target)."""
        return self.network.input_size

    @property
    def hand_model(self) -> str:
        """Kind of the hand models the parameters drive ("anny" | "mano")."""
        return self.hand_models[1].kind

    @property
    def faces(self) -> dict[int, np.ndarray]:
        """Triangles per side (0 left, 1 right) for exporting meshes."""
        return {i: m.faces for i, m in enumerate(self.hand_models)}

    def predict(self, image: Any, *, focal: float | None = None, K: np.ndarray | None = None) -> list[Hand]:
        """Hands in one image, best score first. NumPy images are RGB (an OpenCV `imread` result is
        BGR: pass `img[..., ::-1]`); several images: `predict_batch`."""
        return self.predict_batch([image], focal=focal, K=None if K is None else [K])[0]

    def predict_batch(
        self, images: Sequence[Any], *, focal: float | None = None, K: Sequence[np.ndarray] | None = None,
        side: int | None = None,
    ) -> list[list[Hand]]:
        """Hands per image for several images in one network run. side: None = each hand's side
        from the network; 0 / 1 = decode every hand as left / right (single-side benchmarks)."""
        if not len(images):
            return []
        boxed, affines, Ks = network_inputs(images, self.input_size, focal=focal, K=K)
        outputs = {k: v[:, : self.max_hands] for k, v in self.network.run(boxed, self.threshold).items()}
        R = self.input_size
        return decode_peaks(outputs, self.hand_models, R, R // STRIDE, affines, self.threshold, Ks, side=side)
