"""The onnxruntime backend: an exported peaks-contract network (`smhr.onnx_export`), with a CPU
thread policy.

Thread policy (measured in docs/network.md): onnxruntime's worker threads spin while they wait for
work; on a machine whose other cores are busy that spinning steals the very cores the network
needs and latency explodes. Spinning is therefore off, and the default is `threads` = 2 intra-op
threads (the fastest setting on a quiet 2-core machine that still degrades gracefully when one core
is taken); `SMHR_THREADS` or the `threads` argument overrides it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from smhr.io.messages import MODEL_FIX, reason
from smhr.runtime.calibration import Calibration
from smhr.runtime.contract import FORMAT

__all__ = ["DEFAULT_THREADS", "OnnxPeaks"]

DEFAULT_THREADS = 2


class OnnxPeaks:
    """run(images [B,H,W,3] uint8) -> the contract's named outputs (`smhr.runtime.contract`), in
    onnxruntime on the CPU; the facts `Reconstructor` needs come from the file's metadata."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or os.environ.get("SMHR_THREADS") or DEFAULT_THREADS)
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ValueError(f"{self.path} is not an smhr ONNX export ({reason(exc)}); {MODEL_FIX}") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("smhr_format") != FORMAT or "smhr_config" not in meta:
            raise ValueError(f"{self.path} is not an smhr ONNX export of this version (no {FORMAT} "
                             "metadata); "
                             "re-export it with `smhr export --onnx OUT.onnx --weights model.pt`")
        self.config = json.loads(meta["smhr_config"])
        self.input_size = int(self.config["input_size"])
        self.hand_model = str(self.config.get("hand_model", "anny"))
        self.keypoints = str(self.config.get("keypoints", "joints"))  # exports before it: the joints
        self.max_hands = int(meta["smhr_max_hands"])
        self.calibration = Calibration.from_onnx(meta, str(self.path))
        self.names = [o.name for o in self.session.get_outputs()]
        # exports with a symbolic height and width take the canvas's content band (contract); older
        # ones were traced at a fixed R x R and get the whole square canvas
        dims = self.session.get_inputs()[0].shape
        self.takes_bands = len(dims) == 4 and not any(isinstance(d, int) for d in dims[1:3])
        # exports before the optional threshold input evaluate every slot: they take the images only
        self.takes_threshold = any(i.name == "threshold" for i in self.session.get_overridable_initializers())

    def run(self, images: np.ndarray, threshold: float | None = None) -> dict[str, np.ndarray]:
        feed = {"images": np.ascontiguousarray(images, np.uint8)}
        if threshold is not None and self.takes_threshold:
            feed["threshold"] = np.array(threshold, np.float32)
        outs = self.session.run(self.names, feed)
        return dict(zip(self.names, outs, strict=True))
