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


def test_demo_on_a_video_writes_annotated_mp4_and_tracked_json(tiny_weights, tmp_path, monkeypatch):
    # a tiny random net draws its two hands over one another: keep both (tracking, not second peaks)
    monkeypatch.setattr("smhr.runtime.reconstructor.drop_second_peaks", list)
    src = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    base = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    for i in range(6):
        writer.write(np.roll(base, i, axis=1))  # a slowly panning picture
    writer.release()
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    tiny = cv2.VideoWriter(str(tmp_path / "tiny.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (6, 6))
    tiny.write(np.zeros((6, 6, 3), np.uint8))
    tiny.release()
    out = tmp_path / "out"
    res = runner.invoke(app, ["demo", str(src), str(tmp_path / "broken.mp4"), str(tmp_path / "tiny.mp4"),
                              "--out", str(out), "--weights", str(tiny_weights), "--threshold", "0",
                              "--max-hands", "2", "--vertices", "--no-meshes"])  # fmt: skip
    assert res.exit_code == 1 and "broken.mp4: cannot read video" in res.output
    assert "tiny.mp4: frame 0: image of 6x6 px is too small" in res.output  # the file, not "image 0"
    doc = json.loads((out / "clip_frames.json").read_text())
    assert len(doc["frames"]) == 6 and doc["fps"] == pytest.approx(10.0)
    ids = [[h["track_id"] for h in f["hands"]] for f in doc["frames"]]
    assert all(len(i) == 2 and len(set(i)) == 2 for i in ids)  # two hands, two distinct ids per frame
    # the smoothed hands keep what the image records carry; --vertices and --no-meshes apply to videos
    assert len(doc["keypoint_names"]) == 21
    hands = [h for f in doc["frames"] for h in f["hands"]]
    assert all("appearance" in h and len(h["vertices_m"]) == 1609 for h in hands)
    assert not list(out.glob("clip_track*.glb"))
    cap = cv2.VideoCapture(str(out / "clip_annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 16  # 0.5 s at the annotated video's 30 frames per second, each frame at its own time


def test_a_truncated_video_is_processed_as_far_as_it_decodes_and_says_so(tiny_weights, tmp_path):
    src = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(30):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])  # the header still lists 30 frames
    out = tmp_path / "out"
    res = runner.invoke(app, ["demo", str(src), "--out", str(out), "--weights", str(tiny_weights),
                              "--threshold", "0.5", "--no-meshes"])  # fmt: skip
    assert res.exit_code == 0, res.output
    frames = json.loads((out / "cut_frames.json").read_text())["frames"]
    assert 5 < len(frames) < 27
    assert f"decoding stopped after {len(frames)} of the 30 frames its container lists" in res.output


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


VFR_TIMES = [0.0, 0.04, 0.179, 0.5, 0.52, 1.0]


def _vfr_video(path, times):
    """An MPEG-4 file whose frames sit at `times` seconds (variable frame rate; written with PyAV,
    which sets each frame's timestamp), frame i a flat grey of value 40 * i."""
    import fractions

    av = pytest.importorskip("av")
    with av.open(str(path), "w") as box:
        stream = box.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        ms = fractions.Fraction(1, 1000)
        stream.codec_context.time_base = stream.time_base = ms
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), ms  # (the muxer may change the stream's)
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)


def test_variable_frame_rate_video_keeps_true_times_in_json_video_and_animated_glb(tmp_path):
    import pygltflib

    src = tmp_path / "vfr.mp4"
    _vfr_video(src, VFR_TIMES)
    out = tmp_path / "out"
    # no hand (threshold 1): the annotated frames are the source frames, easy to tell apart
    res = runner.invoke(app, ["demo", str(src), "--out", str(out), "--threshold", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "vfr_frames.json").read_text())
    assert [f["time_s"] for f in doc["frames"]] == pytest.approx(VFR_TIMES, abs=1e-3)  # was index / 5.77 fps
    cap = cv2.VideoCapture(str(out / "vfr_annotated.mp4"))
    shown = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        shown.append(round(frame.mean() / 40))
    rate = doc["annotated_video_fps"]
    assert rate == 30 and len(shown) == 31  # 1.0 s at 30 frames per second, plus the last frame
    expected = [max(i for i, t in enumerate(VFR_TIMES) if t <= k / rate + 1e-9) for k in range(31)]
    mismatched = [k for k in range(31) if shown[k] != expected[k]]
    assert len(mismatched) <= 2, (shown, expected)  # a frame within a tick of the next may round either way
    # with hands: one animated rigged GLB per track, keyframes at the frames' own times
    res = runner.invoke(app, ["demo", str(src), "--out", str(out), "--threshold", "0", "--max-hands", "1"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "vfr_frames.json").read_text())
    tracks = {}
    for f in doc["frames"]:
        for h in f["hands"]:
            tracks.setdefault((h["track_id"], h["side"]), []).append(f["time_s"])
    glbs = sorted(p.name for p in out.glob("vfr_track*.glb"))
    assert glbs == sorted(f"vfr_track{t}_{s}.glb" for t, s in tracks)
    for (tid, side), times in tracks.items():
        gl = pygltflib.GLTF2().load(str(out / f"vfr_track{tid}_{side}.glb"))
        if len(times) > 1:
            acc = gl.accessors[gl.animations[0].samplers[0].input]
            view = gl.bufferViews[acc.bufferView]
            keys = np.frombuffer(gl.binary_blob(), np.float32, acc.count, view.byteOffset)
            np.testing.assert_allclose(keys, times, atol=1e-5)
        assert len(gl.skins[0].joints) == 16
