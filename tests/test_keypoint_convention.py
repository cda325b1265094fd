"""benchmarks/bench_keypoint_convention.py: offsets in the hand's own frame, matching, NaN-aware medians."""

from __future__ import annotations

import bench_keypoint_convention as kc
import numpy as np
import pytest


def _hand(angle: float, scale: float = 80.0) -> np.ndarray:
    """[21, 2] a hand along direction `angle` (rad): keypoint q at q/20 of 2 x scale; 9 at 1 x scale."""
    axis = np.array([np.cos(angle), np.sin(angle)])
    t = np.linspace(0.0, 2.0, 21)
    t[9] = 1.0
    return (np.array([100.0, 200.0]) + scale * t[:, None] * axis).astype(np.float64)


@pytest.mark.parametrize("angle", [0.0, 1.0, -2.5])
def test_offsets_are_in_the_references_frame_and_units_whatever_its_rotation(angle):
    ref = _hand(angle, scale=50.0)
    axis = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-axis[1], axis[0]])
    pts = ref.copy()
    pts[0] += 0.16 * 50.0 * axis  # the wrist 0.16 of wrist -> middle MCP towards the fingers
    pts[5] -= 0.07 * 50.0 * axis - 0.02 * 50.0 * normal
    off = kc.hand_frame_offsets(pts, ref)
    np.testing.assert_allclose(off[0], [0.16, 0.0], atol=1e-9)
    np.testing.assert_allclose(off[5], [-0.07, 0.02], atol=1e-9)
    np.testing.assert_allclose(off[1:5], 0.0, atol=1e-9)


def test_matching_takes_the_nearest_hand_within_half_the_reference_length():
    ref = _hand(0.3)
    near, far = ref + 5.0, ref + 300.0
    visible = np.ones(21, bool)
    assert kc.nearest([far, near], ref, visible) == 1
    assert kc.nearest([far], ref, visible) is None  # 300 px off a hand 80 px to its middle MCP
    assert kc.nearest([], ref, visible) is None
    shifted = ref.copy()
    shifted[15:] += 500.0  # wrong only where the label is not visible: still a match
    visible[15:] = False
    assert kc.nearest([shifted], ref, visible) == 0
    assert kc.usable(visible)  # 15 visible, wrist and middle MCP among them: the floor
    visible[14] = False
    assert not kc.usable(visible)
    visible[14], visible[0] = True, False
    assert not kc.usable(visible)  # no wrist: no hand frame


def test_the_summary_is_a_per_keypoint_median_that_skips_invisible_labels():
    a = np.zeros((21, 2))
    b = np.zeros((21, 2))
    a[0] = [0.1, 0.0]
    b[0] = [0.3, 0.0]
    c = np.full((21, 2), np.nan)  # a hand whose label shows nothing: counts as a hand, not in medians
    c[1] = [1.0, 1.0]
    s = kc.summarise([a, b, c])
    assert s["hands"] == 3
    assert s["keypoints"]["wrist"]["along"] == pytest.approx(0.2)
    assert s["keypoints"]["wrist"]["distance"] == pytest.approx(0.2)
    assert s["keypoints"]["thumb_cmc"]["along"] == 0.0  # median of 0, 0, 1
    assert kc.summarise([]) == {"hands": 0}
