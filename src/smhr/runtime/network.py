"""The onnxruntime backend: an exported peaks-contract network (`smhr.onnx_export`), with a CPU
thread policy.

Thread policy (measured in docs/network.md): `threads` = 2 intra-op threads by default (the fastest
setting on a quiet 2-core machine that still degrades gracefully when one core is taken;
`SMHR_THREADS` or the `threads` argument overrides it). onnxruntime's threads may spin (busy-wait
between operators): 27 % faster on a quiet machine, 2-2.6x slower when another process is busy on
one of the cores. `spin` = "auto" (default, with 2 or more threads) keeps a spinning and a sleeping
session of the same file and runs the one that has been faster lately (`smhr.runtime.spinning`);
"on" / "off" fix it (`SMHR_SPIN` overrides the default). The second session costs ~25 MiB of memory
and ~0.07 s at start-up.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from smhr.io.messages import MODEL_FIX, reason
from smhr.runtime.calibration import Calibration
from smhr.runtime.contract import FORMAT
from smhr.runtime.spinning import SPIN_CHOICES, SpinChooser

__all__ = ["DEFAULT_THREADS", "OnnxPeaks"]

DEFAULT_THREADS = 2


class OnnxPeaks:
    """run(images [B,H,W,3] uint8) -> the contract's named outputs (`smhr.runtime.contract`), in
    onnxruntime on the CPU; the facts `Reconstructor` needs come from the file's metadata."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, spin: str | None = None) -> None:
        self.path = Path(path)
        self.threads = int(threads or os.environ.get("SMHR_THREADS") or DEFAULT_THREADS)
        self.spin = spin or os.environ.get("SMHR_SPIN") or "auto"
        if self.spin not in SPIN_CHOICES:
            what = "spin" if spin else "SMHR_SPIN"
            raise ValueError(f"{what}={self.spin!r}: choose one of {', '.join(SPIN_CHOICES)}")
        if self.spin == "auto" and self.threads < 2:
            self.spin = "off"  # one thread has no worker to spin
        self.chooser = SpinChooser() if self.spin == "auto" else None
        self.sessions: dict[bool, object] = {}
        self.warm: set[bool] = set()  # sessions past their first (slower) run
        self.session = self._session(self.spin != "off")  # its metadata describe the file
        if self.chooser is not None:
            self._session(False)  # both made now: no pause mid-stream when the first trial comes
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

    def _session(self, spinning: bool) -> object:
        """The file's session whose threads spin (or sleep), made on first use."""
        if spinning not in self.sessions:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
            if spinning:  # threads sleep once a run ends: no spinning between calls (smhr.runtime.spinning)
                opts.add_session_config_entry("session.force_spinning_stop", "1")
            opts.log_severity_level = 3
            try:
                session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types for bad files
                bad = f"{self.path} is not an smhr ONNX export ({reason(exc)}); {MODEL_FIX}"
                raise ValueError(bad) from exc
            self.sessions[spinning] = session
        return self.sessions[spinning]

    def run(self, images: np.ndarray, threshold: float | None = None) -> dict[str, np.ndarray]:
        feed = {"images": np.ascontiguousarray(images, np.uint8)}
        if threshold is not None and self.takes_threshold:
            feed["threshold"] = np.array(threshold, np.float32)
        spinning = self.spin == "on" if self.chooser is None else self.chooser.choose()
        start = time.perf_counter()
        outs = self._session(spinning).run(self.names, feed)
        if self.chooser is not None and spinning in self.warm:
            self.chooser.record(spinning, time.perf_counter() - start, feed["images"].size)
        self.warm.add(spinning)
        return dict(zip(self.names, outs, strict=True))
