"""One-line user messages on stderr that never collide with a progress bar.

Why: every bad input must give exactly one line (`error: INPUT: what is wrong; the fix`) that a
person reads and a script greps. Exception texts from libraries (OpenCV, torch) span several lines,
and a line printed while a tqdm bar is drawn would be glued to it; `echo_error` collapses the
message to one line and clears the bar first (tqdm redraws it below).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

__all__ = ["DECODER_CHATTER", "echo_error", "fail", "native_stderr_filtered", "one_line"]


MODEL_FIX = "pass a model.pt written by `smhr train` (OUT_DIR/model.pt) or an `smhr export --onnx` file"


def reason(exc: BaseException, limit: int = 160) -> str:
    """`Type: first line of the message`, shortened: the part of an exception fit for one line."""
    text = str(exc).strip().splitlines()
    first = text[0].split(". ")[0].rstrip(".") if text else ""
    msg = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def one_line(text: object, limit: int = 400) -> str:
    """`text` with every run of whitespace (newlines included) collapsed to one space, shortened."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def echo_error(message: object) -> None:
    """Print `error: message` as one line on stderr, on its own line even under a tqdm bar."""
    import typer
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr):
        typer.echo(f"error: {one_line(message)}", err=True)


def fail(message: object, code: int = 2) -> NoReturn:
    """`echo_error(message)`, then end the command with exit code `code` (2: bad input): what
    every command does with an input it cannot use."""
    import typer

    echo_error(message)
    raise typer.Exit(code)


DECODER_CHATTER = re.compile(
    rb"^(Corrupt JPEG data|Premature end of JPEG file|Invalid SOS parameters|Unsupported marker type|"
    rb"Warning: unknown JFIF|JPEG datastream contains no image|Not a JPEG file|Bogus |"
    rb"libpng (warning|error)|TIFF\w*: |.*: Warning, |Unknown field with tag|\[[\w,]+ @ 0x[0-9a-f]+\] )"
)
"""Lines that image and video decoders (libjpeg, libpng, libtiff, FFmpeg's `[mov,mp4,... @ 0x..]`)
print straight to file descriptor 2."""


@contextmanager
def native_stderr_filtered(drop: re.Pattern[bytes] = DECODER_CHATTER) -> Iterator[None]:
    """Drop the decoders' own warnings while a batch runs; everything else still reaches stderr.

    Why: libjpeg answers a damaged file with "Corrupt JPEG data: 12 extraneous bytes before marker
    0xd9" on file descriptor 2, below Python, so a batch's output would mix our one-line errors
    with lines that name no file. For the duration, fd 2 is a pipe whose lines are forwarded to
    the real stderr unless they match `drop`, and Python's `sys.stderr` (our errors, the progress
    bar) writes to the real stderr directly. Only when sys.stderr is the process's fd 2 (the
    command line, not a test runner's capture)."""
    try:
        active = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        active = False
    if not active:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not drop.match(line):
                    os.write(real, line)

    pump = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    pump.start()
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(real), "w", buffering=1, encoding=python_stderr.encoding,  # noqa: SIM115
                      errors="backslashreplace")  # fmt: skip
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(real, 2)  # closes the pipe's last write end: the pump sees end-of-file
        pump.join(timeout=5)
        os.close(real)
