"""Write files so that a reader never sees half of one: temporary file beside the target, then rename.

Why: a run that is killed, runs out of disk or hits a bad input in the middle of writing must leave
either the complete new file or no file (or the previous one), never a truncated PNG / JSON / mesh
that looks valid until opened. `os.replace` within one folder is atomic on POSIX and Windows.
`StagedFiles` extends this to the several outputs of one input: all of them or none; `atomic_file`
and `atomic_path` are the same for writers that stream into a file object (torch.save of a
checkpoint) or take a file name (an ONNX export). The one place in the package that publishes
files this way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["StagedFiles", "atomic_file", "atomic_path", "atomic_write", "temporary_name"]


def temporary_name(path: Path) -> Path:
    """Hidden sibling of `path` that no glob for the real outputs matches (same folder: the rename
    stays atomic); the extension is kept last for writers that choose a format by it. Process AND
    thread id in the name: two threads of one process writing the same output (a web server, the
    API in a thread pool) would otherwise stage into one file and one rename would find it gone."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}-{threading.get_ident()}{path.suffix}")


def _write(tmp: Path, data: bytes | str, durable: bool) -> None:
    with open(tmp, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes | str, durable: bool = False) -> Path:
    """Write `data` (str as UTF-8) to `path` all-or-nothing. durable: fsync the file before the
    rename and the folder after it (files that must survive a power cut). On any error nothing is
    left behind."""
    path = Path(path)
    with atomic_path(path, durable) as tmp:  # atomic_path fsyncs the file and the folder when durable
        _write(tmp, data, durable=False)
    return path


@contextmanager
def atomic_path(path: str | Path, durable: bool = False, tmp: str | Path | None = None) -> Iterator[Path]:
    """`with atomic_path(path) as tmp:` let a writer that takes a file name (an ONNX export, an
    extraction) write `tmp` (a temporary sibling, default `temporary_name(path)`); a normal exit
    renames it onto `path` (durable: fsync of the file before, of the folder after), any exception
    (Ctrl-C included) deletes it and leaves `path` as it was."""
    path = Path(path)
    tmp = Path(tmp) if tmp is not None else temporary_name(path)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(path.parent)


@contextmanager
def atomic_file(path: str | Path, durable: bool = False, tmp: str | Path | None = None) -> Iterator[BinaryIO]:
    """`atomic_path` for writers that stream into a file object (torch.save of a checkpoint)."""
    with atomic_path(path, durable, tmp) as staged, open(staged, "wb") as fh:
        yield fh


class StagedFiles:
    """The outputs of one item, published together: `write` stages each next to its target,
    `commit` renames them all into place, `discard` deletes the staged ones. As a context manager
    it commits on success and discards on any exception, so a failure leaves no output at all."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []

    def write(self, path: str | Path, data: bytes | str) -> Path:
        path = Path(path)
        tmp = temporary_name(path)
        self.pending.append((tmp, path))
        _write(tmp, data, durable=False)
        return path

    def adopt(self, path: str | Path) -> Path:
        """Stage a file that another writer (e.g. a video encoder) is filling at
        `temporary_name(path)`: it is renamed or deleted with the rest."""
        path = Path(path)
        self.pending.append((temporary_name(path), path))
        return temporary_name(path)

    def commit(self) -> list[Path]:
        done = []
        for tmp, path in self.pending:
            os.replace(tmp, path)
            done.append(path)
        self.pending = []
        return done

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending = []

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if kind is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()
