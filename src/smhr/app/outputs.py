"""Output names in a `smhr demo --out` folder: one stem per input, a stem's files replaced as a set.

Why a module of its own: the image path, the video path and the viewer must agree on which files
belong to which input. Three rules keep a folder truthful:
- every input gets its own stem, and no derived stem (`x_png`, `x_2`) can take the name another
  input owns (`x_1.jpg`): a batch of N inputs writes N records;
- publishing an input's files also deletes that stem's files which the new run did not write (a
  rerun with fewer hands leaves no earlier `x_hand1_*.obj` beside the new JSON), under a lock on the
  folder, so two runs writing one folder at once end with one run's complete set per stem;
- the demo's own outputs found when a folder is expanded (`--out` = the input folder) are not
  inputs again (no `a_overlay_overlay.png`).
And the `--out` folder itself is checked before any work (`check_out_dir`, `make_out_dir`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from smhr.io.atomic import StagedFiles

__all__ = ["OUTPUT_MEDIA_SUFFIXES", "check_out_dir", "is_demo_output", "make_out_dir", "output_stems",
           "publish", "shown_path"]

OUTPUT_MEDIA_SUFFIXES = ("_overlay.png", "_textured.png", "_annotated.mp4")
"""Endings of the image / video files the demo writes: never taken as inputs from a folder."""


def is_demo_output(path: Path) -> bool:
    """Whether `path` looks like an overlay / annotated video the demo wrote."""
    return path.name.lower().endswith(OUTPUT_MEDIA_SUFFIXES)


def output_stems(files: Sequence[Path]) -> list[str]:
    """A distinct stem per input: its own name where free, else `{stem}_{ext}` (x.png -> x_png), else
    `{stem}_{ext}_{n}`; a derived stem never equals any input's own stem. Compared without letter
    case: on macOS and Windows `X.json` and `x.json` are one file."""
    own = {p.stem.casefold() for p in files}
    used: set[str] = set()
    stems = []
    for p in files:
        stem = p.stem
        if stem.casefold() in used:
            base = f"{p.stem}_{p.suffix.lstrip('.').lower() or 'file'}"
            stem, n = base, 2
            while stem.casefold() in used or stem.casefold() in own:
                stem, n = f"{base}_{n}", n + 1
        used.add(stem.casefold())
        stems.append(stem)
    return stems


def _owned(stem: str) -> re.Pattern[str]:
    """File names the demo writes for `stem` (image and video outputs)."""
    s = re.escape(stem)
    return re.compile(rf"{s}(\.json|\.glb|_overlay\.png|_textured\.png|_hand\d+_(left|right)\.(obj|ply|glb)"
                      rf"|_annotated\.mp4|_frames\.json|_track\d+_(left|right)\.glb)")  # fmt: skip


@contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """An exclusive lock on the output folder itself (flock on the folder's descriptor: no lock file
    is left behind; a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: renames are still atomic, only the stale-file sweep may race
        yield
        return
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def publish(staged: StagedFiles, out: Path, stem: str) -> list[Path]:
    """Commit `staged` (this input's new files) and delete the stem's other files, as one step
    under the folder lock; returns the committed paths."""
    with _folder_lock(out):
        done = staged.commit()
        keep = {p.name for p in done}
        owned = _owned(stem)
        for p in out.iterdir():
            if p.name not in keep and owned.fullmatch(p.name):
                p.unlink(missing_ok=True)
    return done


def shown_path(path: str | os.PathLike) -> str:
    """A path as the user gave it, always valid UTF-8: bytes of a non-UTF-8 file name (which Python
    holds as lone surrogates, invalid in JSON and HTML) become `\\xNN` escapes."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def check_out_dir(out: Path) -> str | None:
    """Why `--out` cannot be used (a one-line problem with its fix), or None. Checked before any
    work so that a typo costs a second, not a batch: it must be a folder or creatable as one."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder; pass a folder (it is created if missing)"
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"--out {out}: {existing} is a file, not a folder; pass a folder path"
    if not os.access(existing, os.W_OK | os.X_OK):
        return (f"--out {out}: {existing} is not writable (read-only file system or no permission); "
                "choose another folder")  # fmt: skip
    return None


def make_out_dir(out: Path) -> str | None:
    """Create `out` and prove it takes a file (a probe, removed again); the problem or None."""
    import tempfile

    from smhr.io.messages import reason

    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".smhr-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"--out {out}: cannot write there ({reason(e)}); choose another folder"
    return None
