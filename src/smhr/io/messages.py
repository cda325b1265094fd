"""One-line user messages on stderr that never collide with a progress bar.

Why: every bad input must give exactly one line (`error: INPUT: what is wrong; the fix`) that a
person reads and a script greps. Exception texts from libraries (OpenCV, torch) span several lines,
and a line printed while a tqdm bar is drawn would be glued to it; `echo_error` collapses the
message to one line and clears the bar first (tqdm redraws it below).
"""

from __future__ import annotations

import re

__all__ = ["echo_error", "one_line"]


def one_line(text: object, limit: int = 400) -> str:
    """`text` with every run of whitespace (newlines included) collapsed to one space, shortened."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def echo_error(message: object) -> None:
    """Print `error: message` as one line on stderr, on its own line even under a tqdm bar."""
    import sys

    import typer
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr):
        typer.echo(f"error: {one_line(message)}", err=True)
