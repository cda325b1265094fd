"""`stop_signals_interrupt`: SIGTERM (and a SIGINT the shell left ignored) end training the way Ctrl-C does.

Why: a run stopped by a scheduler, `kill`, or a session ending gets SIGTERM, whose default kills the
process between checkpoints (up to `ckpt_every` steps lost); and a run started in the background of
a non-interactive shell (`nohup ... &`) inherits SIGINT ignored, so `kill -INT` does nothing at all.
Inside this context both raise KeyboardInterrupt in the main thread, which the training loop
already turns into a final save and the "run the same command to continue" message.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["stop_signals_interrupt"]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt while inside; the previous handlers come back on
    exit. Main thread only (Python's rule for signal handlers)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, _raise_interrupt)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
