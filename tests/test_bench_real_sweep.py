"""benchmarks/bench_real.py's threshold sweep: each threshold is a run of its own."""

from __future__ import annotations

from types import SimpleNamespace

import bench_real
import numpy as np

from smhr.data.sample import HandLabel, Sample


class DecodesFromItsThreshold:
    """A stand-in Reconstructor whose one hand is decoded only when its threshold is <= 0.3 (as a
    network peak of score 0.3 is) and is then lifted to 0.9 by a check: a run at 0.05 cut at 0.5
    would keep it; a run at 0.5 never sees it."""

    def __init__(self, keypoints: np.ndarray) -> None:
        self.threshold, self.keypoints, self.runs = 0.05, keypoints, []

    def predict(self, image: np.ndarray) -> list[SimpleNamespace]:
        self.runs.append(self.threshold)
        if self.threshold > 0.3:
            return []
        return [SimpleNamespace(keypoints2d=self.keypoints, side=1, score=0.9)]


def test_every_threshold_is_scored_from_a_run_at_that_threshold():
    rng = np.random.default_rng(0)
    keypoints = (40 + 30 * rng.random((21, 2))).astype(np.float32)
    sample = Sample(image=np.zeros((100, 100, 3), np.uint8), K=None,
                    hands=[HandLabel(side=1, keypoints2d=keypoints, visibility=np.ones(21, bool))])
    rec = DecodesFromItsThreshold(keypoints)
    rows = bench_real.sweep([[sample, sample]], rec, 0.5, [0.2, 0.3, 0.5])
    assert [(r["threshold"], r["recall"]) for r in rows] == [(0.2, 1.0), (0.3, 1.0), (0.5, 0.0)]
    assert rec.runs == [0.2, 0.2, 0.3, 0.3, 0.5, 0.5] and rec.threshold == 0.05  # restored after
    assert rows[-1]["f1"] == 0.0  # nothing found: F1 0, not NaN (a NaN would never lose a max or a min)
