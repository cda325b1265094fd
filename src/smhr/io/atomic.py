"""Write files so that a reader never sees half of one: temporary file beside the target, then rename.

Why: a run that is killed, runs out of disk or hits a bad input in the middle of writing must leave
either the complete new file or no file (or the previous one), never a truncated PNG / JSON / mesh
that looks valid until opened. `os.replace` within one folder is atomic on POSIX and Windows.
`StagedFiles` extends this to the several outputs of one input: all of them or none.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

__all__ = ["StagedFiles", "atomic_write", "temporary_name"]


def temporary_name(path: Path) -> Path:
    """Hidden sibling of `path` that no glob for the real outputs matches (same folder: the rename
    stays atomic); the extension is kept last for writers that choose a format by it."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def _write(tmp: Path, data: bytes | str, durable: bool) -> None:
    with open(tmp, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write(path: str | Path, data: bytes | str, durable: bool = False) -> Path:
    """Write `data` (str as UTF-8) to `path` all-or-nothing. durable: fsync before the rename (for
    files that must survive a power cut, e.g. checkpoints). On any error nothing is left behind."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        _write(tmp, data, durable)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
