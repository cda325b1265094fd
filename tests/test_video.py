"""Video: One Euro filter behaviour, tracking ids, and `smhr demo` on a video file."""

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from smhr.app.video import OneEuro
from smhr.cli import app

runner = CliRunner()


def test_one_euro_smooths_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuro(min_cutoff=1.0, beta=0.0)
    t = np.arange(200) / 30.0
    noisy = 1.0 + 0.1 * rng.normal(size=(200, 3))
    out = np.array([f(x, ti) for x, ti in zip(noisy, t, strict=True)])
    assert out[50:].std() < 0.35 * noisy[50:].std()  # jitter strongly reduced on a still signal
    assert abs(out[50:].mean() - 1.0) < 0.03
    fast = OneEuro(min_cutoff=1.0, beta=1.0)
    ramp = 2.0 * t[:, None] * np.ones((1, 3))  # 2 units per second
    lag = [fast(x, ti) for x, ti in zip(ramp, t, strict=True)][-1] - ramp[-1]
    slow = OneEuro(min_cutoff=1.0, beta=0.0)
    lag0 = [slow(x, ti) for x, ti in zip(ramp, t, strict=True)][-1] - ramp[-1]
    assert np.abs(lag).max() < 0.5 * np.abs(lag0).max()  # speed raises the cutoff: less lag
    const = OneEuro()
    assert all(np.allclose(const(np.full(4, 2.5), ti), 2.5) for ti in t[:20])


def test_demo_on_a_video_writes_annotated_mp4_and_tracked_json(tiny_weights, tmp_path):
    src = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    base = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    for i in range(6):
        writer.write(np.roll(base, i, axis=1))  # a slowly panning picture
    writer.release()
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    out = tmp_path / "out"
    res = runner.invoke(app, ["demo", str(src), str(tmp_path / "broken.mp4"), "--out", str(out), "--weights",
                              str(tiny_weights), "--threshold", "0", "--max-hands", "2"])  # fmt: skip
    assert res.exit_code == 1 and "broken.mp4: cannot read video" in res.output
    doc = json.loads((out / "clip_frames.json").read_text())
    assert len(doc["frames"]) == 6 and doc["fps"] == pytest.approx(10.0)
    ids = [[h["track_id"] for h in f["hands"]] for f in doc["frames"]]
    assert all(len(i) == 2 and len(set(i)) == 2 for i in ids)  # two hands, two distinct ids per frame
    cap = cv2.VideoCapture(str(out / "clip_annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 6


def _hand(model, side, shift, score=0.9):
    from smhr.records import Hand

    verts, joints = model(np.zeros((1, 3)), np.zeros((1, 45)), np.zeros((1, 10)),
                          np.array([[shift, 0.0, 0.5]]))
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    j = joints[0]
    uv = (j @ K.T)[:, :2] / (j @ K.T)[:, 2:]
    z = np.zeros(3, np.float32)
    return Hand(side=side, score=score, center=uv[9], global_orient=z, pose=np.zeros(45, np.float32),
                betas=np.zeros(10, np.float32), transl=np.array([shift, 0.0, 0.5], np.float32),
                vertices=verts[0], joints3d=j, keypoints2d=uv.astype(np.float32),
                local_keypoints2d=uv.astype(np.float32), K=K)  # fmt: skip


def test_tracker_keeps_ids_and_smooths_parameters():
    from smhr.app.video import HandTracker
    from smhr.hands.numpy_model import NumpyHandModel

    models = [NumpyHandModel.load("anny", s) for s in ("left", "right")]
    tr = HandTracker(models, max_missing=2)
    rng = np.random.default_rng(0)
    seen = []
    for f in range(10):  # a left hand at x=-0.1 m and a right hand at +0.1 m, jittering 2 mm
        hands = [
            _hand(models[0], 0, -0.1 + 0.002 * rng.normal()),
            _hand(models[1], 1, 0.1 + 0.002 * rng.normal()),
        ]
        seen.append(tr.update(hands, f, f / 30.0, (480, 640)))
    assert all([tid for tid, _ in frame] == [0, 1] for frame in seen)
    x = np.array([[h.transl[0] for _, h in frame] for frame in seen])
    assert x[3:, 1].std() < 0.5 * 0.002  # smoothed translation jitters less than the input
    # the right hand jumps across the image: a new track; then after 3 missing frames the left is new too
    far = tr.update([_hand(models[1], 1, -0.3)], 10, 10 / 30.0, (480, 640))
    assert far[0][0] == 2
    back = tr.update([_hand(models[0], 0, -0.1)], 14, 14 / 30.0, (480, 640))
    assert back[0][0] == 3
