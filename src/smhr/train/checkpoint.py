"""Training checkpoints: atomic writes, exact resume, and strict (listed) weight initialisation.

Why atomic: a run killed while writing (a 10-minute GPU slot ending, a pre-empted node, kill -9)
must leave the previous checkpoint intact, so torch.save streams into `name.tmp` through the
package's one atomic writer (`smhr.io.atomic.atomic_file`: fsync, `os.replace`, fsync of the
folder); a failed write (disk full) is a one-line `CheckpointWriteError`.
Why weights only on load: checkpoints are files users pass around; see `smhr.io.torchfiles`.
Why strict: the official loader skipped tensors whose shapes did not match and kept the random
init for missing ones, silently. Here every mismatch is listed in the error; only heads that the
previous stage did not have (named by the caller) may start fresh, and they are reported.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from smhr.io.atomic import atomic_file
from smhr.io.torchfiles import NotATorchFileError, load_smhr_checkpoint, load_torch_file, reason
from smhr.runtime.calibration import Calibration

__all__ = ["CheckpointMismatchError", "CheckpointWriteError", "fallback_hint", "load_checkpoint",
           "load_init_weights", "rng_state", "save_checkpoint", "set_rng_state"]


class CheckpointMismatchError(ValueError):
    """A checkpoint's tensors do not fit the model; the message lists every offending tensor."""


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and every CUDA device) generator states, as tensors and plain
    Python values only, so the checkpoint loads with `weights_only=True`."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (str(name), key.tolist(), int(pos), int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore `rng_state()` (also the older layout with numpy's own state tuple)."""
    random.setstate(state["python"])
    name, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (disk full, quota, folder gone); the previous one is intact."""


class _WriteRecorder:
    """File wrapper that keeps the OSError of a failed write: torch.save reports a full disk only as
    "[enforce fail at inline_container.cc] unexpected pos", which tells the user nothing."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save `state` to `path` atomically and durably: `name.tmp` in the same folder, fsync,
    rename, fsync of the folder. A run killed at any moment (even kill -9) leaves the previous
    `path` readable; a write that fails (disk full) removes the temporary file and raises
    CheckpointWriteError saying why and that the previous file is intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # a fixed name: a killed save's leftover is overwritten
    recorder = None
    try:
        with atomic_file(path, durable=True, tmp=tmp) as fh:
            recorder = _WriteRecorder(fh)
            torch.save(state, recorder)
    except (OSError, RuntimeError) as exc:
        cause = recorder.error if recorder is not None and recorder.error is not None else exc
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
        raise CheckpointWriteError(
            f"could not write {path} ({reason(cause)}); {kept}: free disk space in {path.parent} "
            "(or set out_dir elsewhere) and resume"
        ) from exc
    return path


_RECONSTRUCT = (getattr(np, "_core", None) or np.core).multiarray._reconstruct
LEGACY_RNG_GLOBALS = (
    _RECONSTRUCT,
    (_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),  # the name numpy 1.x writes
    (_RECONSTRUCT, "numpy._core.multiarray._reconstruct"),  # the name numpy 2.x writes
    np.ndarray,
    np.dtype,
    type(np.dtype(np.uint32)),
)
"""What `last.pt` files written before the RNG states became plain values need besides tensors:
numpy's MT19937 key array (safe to rebuild: no code runs)."""

CHECKPOINT_FIX = "point --resume-from at another checkpoint, or start over with --fresh in a new out_dir"


def load_checkpoint(path: str | Path, fix: str = CHECKPOINT_FIX) -> dict[str, Any]:
    """Read a training checkpoint written by `save_checkpoint`, weights only (tensors, plain values
    and numpy arrays: no code can run); one-line error naming the file when unusable."""
    state = load_torch_file(path, "an smhr training checkpoint", fix, allow=LEGACY_RNG_GLOBALS)
    if not isinstance(state, dict) or "model" not in state:
        raise NotATorchFileError(f"{path} is a torch file but not an smhr checkpoint (no 'model'); {fix}")
    return state


def load_init_weights(
    net: nn.Module, ckpt: dict[str, Any] | str | Path, new_heads: Iterable[str] = (),
    source: str | None = None,
) -> list[str]:
    """Copy a checkpoint's 'model' weights into `net`.

    Every tensor must exist in both with equal shapes, except tensors under the module prefixes in
    `new_heads` (e.g. "texture.", "light." when stage 2 adds appearance heads), which may be missing
    from the checkpoint and keep their initialisation. Returns the names that kept their init.
    Raises CheckpointMismatchError listing every missing, unexpected and mis-shaped tensor.
    """
    if not isinstance(ckpt, dict):
        source = source or str(ckpt)
        ckpt = load_checkpoint(ckpt, fix="set init to a model.pt or last.pt written by `smhr train`")
    source = source or "checkpoint"
    weights = ckpt.get("model", ckpt)
    own = net.state_dict()
    prefixes = tuple(new_heads)
    missing = [k for k in own if k not in weights]
    fresh = [k for k in missing if k.startswith(prefixes)] if prefixes else []
    missing = [k for k in missing if k not in fresh]
    unexpected = [k for k in weights if k not in own]
    shapes = [f"{k} {tuple(weights[k].shape)} vs model {tuple(own[k].shape)}"
              for k in weights if k in own and tuple(weights[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(
            f"{source} does not fit the model: missing {missing}, unexpected {unexpected}, "
            f"shape mismatch {shapes} (same backbone / hand model / appearance setting?)"
        )
    net.load_state_dict({**own, **{k: weights[k] for k in weights}})
    return fresh


def average_weights(paths: Sequence[str | Path]) -> dict[str, Any]:
    """The checkpoint of the last of `paths` with every floating tensor replaced by the mean over
    all of them (BatchNorm statistics included; integer tensors such as `num_batches_tracked` are
    the last one's) and "averaged_steps" added to its meta.

    Why: snapshots of one run at a constant learning rate scatter around a better point (the idea
    of stochastic weight averaging): in the v3 run the mean of the step-8,000 and step-10,000
    snapshots found real-photo keypoints better than either (docs/training.md). ValueError naming
    the file when a checkpoint has another network (config, tensor names or shapes)."""
    ckpts = [(Path(p), load_smhr_checkpoint(p)) for p in paths]
    (first_path, first), (_, last) = ckpts[0], ckpts[-1]
    for path, ckpt in ckpts[1:]:
        own, ref = ckpt["model"], first["model"]
        if ckpt["config"] != first["config"] or own.keys() != ref.keys() \
                or any(own[k].shape != ref[k].shape for k in ref):  # fmt: skip
            raise ValueError(f"{path}: another network than {first_path} (config or tensors differ); "
                             "average snapshots of one training run only")
    model = {k: (torch.stack([c["model"][k].float() for _, c in ckpts]).mean(0).to(v.dtype)
                 if v.is_floating_point() else v) for k, v in last["model"].items()}  # fmt: skip
    steps = [c.get("meta", {}).get("step") for _, c in ckpts]
    return {**last, "model": model, "meta": {**last.get("meta", {}), "averaged_steps": steps}}


def packaged(src: str | Path, half: bool = True, average: Sequence[str | Path] = (),
             **extra_meta: Any) -> dict[str, Any]:
    """The `model.pt` contents made small enough to ship: floating tensors as float16 (loading
    casts them back to the network's float32), metadata kept and extended with `extra_meta` (e.g.
    the measured metrics, the calibration of `smhr.runtime.calibration`: checked here, so nothing
    half-right is written). `average`: more snapshots of the same run, averaged with src
    (`average_weights`; src's metadata is kept)."""
    ckpt = average_weights([*average, src]) if average else load_smhr_checkpoint(src)
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    meta = {**ckpt.get("meta", {}), **extra_meta, "stored_dtype": "float16" if half else "float32"}
    Calibration.from_meta(meta, str(src))  # ValueError naming the value
    return {"config": ckpt["config"], "model": state, "meta": meta}


def package_weights(src: str | Path, dst: str | Path, half: bool = True,
                    average: Sequence[str | Path] = (), **extra_meta: Any) -> Path:
    """`packaged(...)` written to dst (atomically, `save_checkpoint`). Returns dst."""
    return save_checkpoint(dst, packaged(src, half, average, **extra_meta))


def fallback_hint(out_dir: Path, bad: Path) -> str:
    """What to do when `bad` (out_dir/last.pt) cannot be read: the newest readable step_*.pt."""
    for snap in sorted(Path(out_dir).glob("step_*.pt"), reverse=True):
        try:
            step = load_smhr_checkpoint(snap).get("meta", {}).get("step", "?")
        except (ValueError, FileNotFoundError):
            continue
        return (f"continue from the newest snapshot with --resume-from {snap} (step {step}; weights "
                f"and step only, the optimizer restarts), or move {bad.name} away and use --fresh")
    return (f"no readable step_*.pt snapshot to fall back to in {out_dir} (keep_every writes them): "
            f"move {bad.name} away and start over with --fresh")
