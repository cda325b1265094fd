"""What a run does about non-finite losses: the error that ends it, with the steps and terms named.

Why its own module: `Trainer.train_step` skips a step whose loss (or clipped gradient norm) is not
finite and counts the streak; only when `optim.nonfinite_patience` such steps come in a row does
the run stop, and the message must then say which steps, which terms and what to change.
"""

from __future__ import annotations

import math

__all__ = ["NonFiniteLossError", "nonfinite_error"]


class NonFiniteLossError(FloatingPointError):
    """The loss was not finite for `optim.nonfinite_patience` steps in a row (each was skipped);
    `values` holds the loss terms of the last one."""

    def __init__(self, message: str, values: dict[str, float]) -> None:
        super().__init__(message)
        self.values = values


def nonfinite_error(values: dict[str, float], step: int, streak: int) -> NonFiniteLossError:
    """The error for a streak of `streak` skipped steps ending at `step`: the non-finite terms (total
    first, at most four named), the steps, and that the weights are those before the streak."""
    bad = sorted((k for k, v in values.items() if not math.isfinite(v)), key=lambda k: (k != "total", k))
    bad = [*bad[:3], f"{len(bad) - 3} more terms"] if len(bad) > 4 else bad
    bad = bad or ["clipped gradient norm"]
    first = step - streak + 1
    return NonFiniteLossError(
        f"steps {first}-{step}: not finite {streak} times in a row ({', '.join(bad)}); each step was "
        f"skipped, so the weights are still those after step {first - 1}; lower optim.lr, set "
        "amp: off or check the data (optim.nonfinite_patience sets how many are tolerated)", values
    )
