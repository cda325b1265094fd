"""Whether onnxruntime's threads spin during the next run, chosen by how fast each setting has been.

Why: with spinning, onnxruntime's intra-op threads busy-wait between the ~180 operators of one run
instead of sleeping and being woken by the kernel. On a quiet 2-core machine that makes the shipped
network's run 27 % shorter (6.0 -> 4.4 ms, docs/network.md "Thread policy"). But as soon as another
process is busy on one of the cores, a spinning thread fights it for that core and the run takes
2-2.6x longer than without spinning (8.4-17 ms against 6.5 ms). Neither setting is right for both
cases, and the machine's load does not tell them apart reliably (the kernel's count of runnable
tasks showed a second task before 6 runs in a row while a benchmark's other process was only
handing over the next frame, and those runs spun at full speed).

So the chooser measures instead: it keeps the last few run times (per input pixel) of each setting,
runs the faster one, and every `EXPLORE_EVERY`-th run tries the other, so a change of load is seen
within a few dozen runs. A run that is slow for its own reasons (the first one of a session, a
bigger batch) moves the choice only by its vote among WINDOW. On a quiet machine the trials of the
sleeping setting cost ~27 % on 1 run of 16 (~2 % on average); under load the trials of spinning
cost 1-1.6x one run in 16. The outputs are the same either way: spinning changes only how threads
wait (tests/test_spinning.py).
"""

from __future__ import annotations

import statistics
from collections import deque

__all__ = ["EXPLORE_EVERY", "SPIN_CHOICES", "WINDOW", "SpinChooser"]

SPIN_CHOICES = ("auto", "on", "off")
EXPLORE_EVERY = 16  # every 16th run tries the setting not in use
WINDOW = 5  # run times kept per setting; the median decides


class SpinChooser:
    """choose() -> whether the next run spins; record(spinning, seconds, pixels) after it."""

    def __init__(self, explore_every: int = EXPLORE_EVERY, window: int = WINDOW) -> None:
        self.explore_every = explore_every
        self.costs: dict[bool, deque[float]] = {True: deque(maxlen=window), False: deque(maxlen=window)}
        self.runs = 0

    def best(self) -> bool:
        """The setting with the lower median cost so far (spinning until both are measured)."""
        if not self.costs[True] or not self.costs[False]:
            return True
        return statistics.median(self.costs[True]) <= statistics.median(self.costs[False])

    def choose(self) -> bool:
        self.runs += 1
        for spinning in (True, False):  # each setting measured twice before any choice
            if len(self.costs[spinning]) < 2:
                return spinning
        best = self.best()
        return (not best) if self.runs % self.explore_every == 0 else best

    def record(self, spinning: bool, seconds: float, pixels: int) -> None:
        self.costs[spinning].append(seconds / max(pixels, 1))
