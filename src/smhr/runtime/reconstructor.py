"""`Runtime`: image(s) in, `Hand` records out, with onnxruntime and NumPy only (no PyTorch import).

Same calls and results as `smhr.app.api.Reconstructor` (tested equal to its PyTorch path): the one
letterbox (`smhr.geometry.letterbox`), the exported peaks-v1 network (`PeakNetwork`), the NumPy
hand models and the NumPy decode. `smhr.app.api.Reconstructor.from_pretrained` returns one of these
for `.onnx` weights and, by default, for the bundled weights.
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
from smhr.records import Hand, pick_threshold
from smhr.runtime.decode import decode_peaks
from smhr.runtime.network import PeakNetwork

__all__ = ["Runtime"]


@dataclass
class Runtime:
    """A loaded peaks-v1 network with its (left, right) NumPy hand models."""

    network: PeakNetwork
    hand_models: list[NumpyHandModel]
    threshold: float
    max_hands: int

    backend = "onnxruntime"

    @classmethod
    def from_onnx(
        cls,
        path: str | Path,
        *,
        threshold: float | None = None,
        max_hands: int = 10,
        hand: str | None = None,
        mano_dir: str | os.PathLike | None = None,
        threads: int | None = None,
    ) -> Runtime:
        """Load an `smhr export --onnx` file. threshold None: the file's calibrated one, else
        DEFAULT_THRESHOLD; max_hands is capped by the export's slot count."""
        net = PeakNetwork(path, threads)
        kind = hand or net.hand_model
        models = [NumpyHandModel.load(kind, s, user_files(kind, mano_dir)) for s in ("left", "right")]
        threshold = pick_threshold(threshold, net.score_threshold)
        return cls(net, models, threshold, min(int(max_hands), net.max_hands))

    @property
    def input_size(self) -> int:
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
        """Hands in one image, best score first."""
        return self.predict_batch([image], focal=focal, K=None if K is None else [K])[0]

    def predict_batch(
        self, images: Sequence[Any], *, focal: float | None = None, K: Sequence[np.ndarray] | None = None
    ) -> list[list[Hand]]:
        """Hands per image for several images in one network run."""
        if not len(images):
            return []
        boxed, affines, Ks = network_inputs(images, self.input_size, focal=focal, K=K)
        outputs = self.network.run(boxed)
        outputs = {k: v[:, : self.max_hands] for k, v in outputs.items()}
        return decode_peaks(
            outputs,
            self.hand_models,
            self.input_size,
            self.input_size // 4,
            affines,
            self.threshold,
            Ks,
        )
