"""The spin chooser (`smhr.runtime.spinning`) and the onnxruntime backend's spin settings."""

from __future__ import annotations

import numpy as np
import pytest

from smhr.runtime.spinning import SpinChooser


def _runs(chooser: SpinChooser, cost: dict[bool, float], n: int) -> list[bool]:
    picks = []
    for _ in range(n):
        spinning = chooser.choose()
        chooser.record(spinning, cost[spinning] * 1000, 1000)
        picks.append(spinning)
    return picks


def test_the_chooser_runs_the_faster_setting_and_keeps_trying_the_other():
    ch = SpinChooser(explore_every=16, window=5)
    quiet = {True: 4.4, False: 6.0}  # ms per run, measured on a quiet 2-core machine
    picks = _runs(ch, quiet, 64)
    assert picks[:4] == [True, True, False, False]  # each measured twice first
    assert picks[4:].count(False) == 4 and all(picks[i] is False for i in (15, 31, 47, 63))  # the trials
    busy = {True: 12.0, False: 6.5}  # a process busy on one core: spinning 2x slower
    picks = _runs(ch, busy, 64)
    assert picks[-20:].count(False) >= 18  # switched within the few dozen runs after the load came
    picks = _runs(ch, quiet, 200)
    assert picks[-40:].count(True) >= 37  # and back once it went
    with_outlier = SpinChooser()
    _runs(with_outlier, quiet, 8)
    with_outlier.record(True, 0.5, 1000)  # one very slow run (a bigger batch, a page fault)
    assert with_outlier.best() is True  # one vote of five


@pytest.fixture(scope="module")
def bundled_onnx():
    pytest.importorskip("onnxruntime")
    from smhr.runtime.loading import bundled_weights

    return bundled_weights(onnx=True)


def test_onnx_spin_settings_give_the_same_outputs(bundled_onnx, monkeypatch):
    from smhr.runtime.network import OnnxPeaks

    image = np.random.default_rng(0).integers(0, 255, (1, 64, 96, 3), dtype=np.uint8)
    outs = {}
    for spin in ("off", "on", "auto"):
        net = OnnxPeaks(bundled_onnx, threads=2, spin=spin)
        entries = {s: sess.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
                   for s, sess in net.sessions.items()}  # fmt: skip
        assert entries == {"off": {False: "0"}, "on": {True: "1"}, "auto": {True: "1", False: "0"}}[spin]
        outs[spin] = [net.run(image, 0.0) for _ in range(6)]  # auto: both settings within 4 runs
    reference = outs["off"][0]
    for b in outs["off"] + outs["on"] + outs["auto"]:
        for k in reference:
            np.testing.assert_array_equal(reference[k], b[k])
    assert OnnxPeaks(bundled_onnx, threads=1).spin == "off"  # one thread: nothing to spin
    monkeypatch.setenv("SMHR_SPIN", "sometimes")
    with pytest.raises(ValueError, match="SMHR_SPIN='sometimes': choose one of auto, on, off"):
        OnnxPeaks(bundled_onnx)
