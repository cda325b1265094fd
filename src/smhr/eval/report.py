"""Writing evaluation results: JSON reports and PCK-curve plots.

Protocol modules return plain dicts (numbers in documented units); this module only serialises them,
so every protocol gets the same files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN/inf; null means "undefined"
    return x


def write_json(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write a report dict as indented JSON (numpy values converted, NaN/inf -> null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    return path


def plot_pck(curves: Mapping[str, Sequence[float]], thresholds_mm: Sequence[float], path: str | Path,
             title: str = "3D PCK", aucs: Mapping[str, float] | None = None) -> Path:
    """Draw PCK curves (fraction correct vs threshold in mm) into a PNG (matplotlib Agg, no display).

    curves: label -> [T] values in [0, 1]; thresholds_mm: [T]; aucs: optional label -> AUC for the
    legend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    for label, ys in curves.items():
        name = label if not aucs or label not in aucs else f"{label} (AUC {aucs[label]:.3f})"
        ax.plot(np.asarray(thresholds_mm), np.asarray(ys), label=name)
    ax.set_xlabel("error threshold (mm)")
    ax.set_ylabel("fraction of points correct (PCK)")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(float(thresholds_mm[0]), float(thresholds_mm[-1]))
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
