"""Read torch files that users hand us (weights, checkpoints): weights only, one-line errors.

Why: `torch.load` unpickles, and a pickle can run any code, so a downloaded `model.pt` must never be
loaded with `weights_only=False`. Every user-supplied torch file goes through `load_torch_file`,
which loads tensors and plain Python containers only (plus the named `allow` globals), and turns
every failure -- a text file, random bytes, a truncated zip, an object we refuse to unpickle -- into
one `NotATorchFileError` line that names the file, says what was expected and how to fix it.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from smhr.io.messages import MODEL_FIX, reason

__all__ = ["MODEL_FIX", "NotATorchFileError", "load_smhr_checkpoint", "load_torch_file", "reason"]


class NotATorchFileError(ValueError):
    """A file is not the torch file that was expected (unreadable, wrong content, unsafe)."""


def load_torch_file(path: str | Path, what: str, fix: str, allow: Sequence[Any] = ()) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, with `allow` as extra safe globals.

    what: what the file should be ("an smhr model.pt"); fix: what the user should do instead.
    Raises FileNotFoundError (missing) or NotATorchFileError (anything else), one line each."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; {fix}")
    if path.is_dir():
        raise NotATorchFileError(f"{path} is a folder, not {what}; {fix}")
    try:
        with _allowing(allow):
            return torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise NotATorchFileError(f"{path}: cannot read it ({reason(exc)}); {fix}") from exc
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            why = f"it holds a Python object ({found.group(1)}), which we do not load: it could run code"
        else:
            detail = str(exc).split("error:")[-1].strip().splitlines() if "error:" in str(exc) else []
            why = f"unreadable as a torch file: {detail[0] if detail else type(exc).__name__}"
        raise NotATorchFileError(f"{path} is not {what} ({why[:200]}); {fix}") from exc
    except Exception as exc:  # text, random bytes, truncated zip: torch raises anything
        raise NotATorchFileError(
            f"{path} is not {what} (unreadable as a torch file: {reason(exc)}); {fix}"
        ) from exc


def _allowing(allow: Sequence[Any]) -> AbstractContextManager:
    """`torch.serialization.safe_globals(allow)`; torch < 2.5 lacks the context manager, so there
    the plain entries are registered for the process instead."""
    if not allow:
        return nullcontext()
    if hasattr(torch.serialization, "safe_globals"):
        return torch.serialization.safe_globals(list(allow))
    torch.serialization.add_safe_globals([a for a in allow if not isinstance(a, tuple)])
    return nullcontext()




def load_smhr_checkpoint(path: str | Path, fix: str = MODEL_FIX) -> dict[str, Any]:
    """A network checkpoint (`model.pt`, `last.pt`, `step_*.pt`): a dict with a 'config' dict and a
    'model' dict of tensors; NotATorchFileError otherwise."""
    ckpt = load_torch_file(path, "an smhr model.pt", fix)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict) \
            or not isinstance(ckpt.get("model"), dict):  # fmt: skip
        got = sorted(map(str, ckpt))[:6] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise NotATorchFileError(f"{path} is a torch file but not an smhr model.pt (needs 'config' and "
                                 f"'model', got {got}); {fix}")  # fmt: skip
    if not all(isinstance(v, torch.Tensor) for v in ckpt["model"].values()):
        raise NotATorchFileError(f"{path}: its 'model' entry is not a dict of tensors; {fix}")
    return ckpt
