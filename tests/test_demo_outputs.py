"""`smhr demo` output folders that stay truthful (one record per input, no stale or half files, its own
outputs never re-read) and the JSON schema 2 records validated against the shipped JSON Schema."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

import smhr
from smhr.app.api import Reconstructor, bundled_weights
from smhr.app.demo import process_image
from smhr.cli import app

runner = CliRunner()
SCHEMA = Path(__file__).parents[1] / "src" / "smhr" / "assets" / "schemas" / "smhr-record-2.schema.json"


def _image(h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _demo(weights, *args, hands=1):
    """`smhr demo` keeping the top `hands` peaks whatever their score; weights None: the bundled ones
    on onnxruntime (the fastest start), else a model.pt on torch."""
    given = [] if weights is None else ["--weights", str(weights)]
    options = ["--threshold", "0", "--max-hands", str(hands)]
    return runner.invoke(app, ["demo", *map(str, args), *given, *options])


def test_inputs_whose_names_collide_each_get_their_own_record(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(("x.jpg", "x.png", "x_1.jpg")):
        cv2.imwrite(str(src / name), _image(seed=i))
    other = tmp_path / "other"
    other.mkdir()
    cv2.imwrite(str(other / "x.jpg"), _image(seed=9))
    res = _demo(None, src, other, "--out", tmp_path / "out", "--no-meshes")
    assert res.exit_code == 0, res.output
    records = {p.name: json.loads(p.read_text())["source"] for p in (tmp_path / "out").glob("*.json")}
    assert records == {"x.json": str(src / "x.jpg"), "x_png.json": str(src / "x.png"),
                       "x_1.json": str(src / "x_1.jpg"), "x_jpg.json": str(other / "x.jpg")}  # fmt: skip


def test_stems_differ_in_more_than_letter_case_and_a_file_named_twice_is_one_input(tmp_path):
    from smhr.app.demo import expand_inputs
    from smhr.app.outputs import output_stems

    assert output_stems([Path("a/X.jpg"), Path("b/x.jpg"), Path("c/x_jpg.png")]) == ["X", "x_jpg_2", "x_jpg"]
    cv2.imwrite(str(tmp_path / "a.png"), _image())
    files, problems = expand_inputs([str(tmp_path), str(tmp_path / "a.png"), str(tmp_path / "." / "a.png")],
                                    tmp_path / "out")
    assert files == [tmp_path / "a.png"] and problems == []


def test_a_rerun_leaves_no_earlier_mesh_files_beside_the_new_record(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), _image())
    out = tmp_path / "out"
    assert _demo(None, tmp_path / "a.png", "--out", out, hands=2).exit_code == 0
    assert len(list(out.glob("a_hand*"))) == 6  # OBJ, PLY, rigged GLB for 2 hands
    cv2.imwrite(str(tmp_path / "a.png"), _image(seed=5))  # another picture under the same name
    assert _demo(None, tmp_path / "a.png", "--out", out, hands=1).exit_code == 0
    record = json.loads((out / "a.json").read_text())
    assert len(record["hands"]) == 1
    assert sorted(p.name for p in out.glob("a_hand*")) == [f"a_hand0_{record['hands'][0]['side']}.{e}"
                                                          for e in ("glb", "obj", "ply")]  # fmt: skip


def test_concurrent_runs_into_one_folder_end_with_one_complete_set(tmp_path):
    recs = [Reconstructor.from_pretrained(threshold=0.0, max_hands=n) for n in (1, 3)]
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), _image())
    out = tmp_path / "out"
    out.mkdir()
    barrier = threading.Barrier(2, timeout=120)  # a thread that dies breaks the barrier: no hang
    errors: list[BaseException] = []

    def run(rec):
        try:
            for _ in range(4):
                barrier.wait()
                process_image(rec, path, out, focal=None, with_vertices=False, meshes=True)
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(r,)) for r in recs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    assert not failures, "".join(traceback.format_exception(failures[0]))
    n = len(json.loads((out / "a.json").read_text())["hands"])
    assert n in (1, 3) and len(list(out.glob("a_hand*"))) == 3 * n
    assert not list(out.glob(".*"))


def test_out_inside_the_input_folder_does_not_reprocess_its_own_overlays(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), _image())
    for _ in range(2):
        res = _demo(None, tmp_path, "--out", tmp_path, "--no-meshes")
        assert res.exit_code == 0 and "1 of 1 input(s) done" in res.output, res.output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["a.png", "a_overlay.png", "a_textured.png"]


def test_hidden_files_are_no_inputs_and_a_run_that_shows_nothing_keeps_the_page(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), _image())
    cv2.imwrite(str(tmp_path / "._a.png"), _image())  # a macOS metadata twin, or a killed run's .partial
    out = tmp_path / "out"
    res = _demo(None, tmp_path, "--out", out, "--no-meshes")
    assert res.exit_code == 0 and "1 of 1 input(s) done" in res.output, res.output
    page = (out / "index.html").read_bytes()
    res = _demo(None, tmp_path / "typo.png", "--out", out, "--no-meshes")
    assert res.exit_code != 0 and "typo.png: no such file" in res.output
    assert (out / "index.html").read_bytes() == page  # still the page of the run that showed a.png


def test_a_run_with_more_images_than_the_viewer_holds_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr("smhr.app.viewer.MAX_IMAGES", 1)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), _image())
    res = _demo(None, tmp_path, "--out", tmp_path / "out", "--no-meshes")
    assert res.exit_code == 0 and "2 of 2 input(s) done" in res.output, res.output
    assert "index.html shows the first 1 of 2 images; every image's overlay" in res.output
    assert len(list((tmp_path / "out").glob("*.json"))) == 2


def test_sigterm_during_a_video_leaves_no_hidden_partial_file(tmp_path):
    src = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(900):
        writer.write(np.roll(_image(), i, axis=1))
    writer.release()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "smhr.cli", "demo", str(src), "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob(".clip_annotated.partial-*")):
        time.sleep(0.05)
    assert list(out.glob(".clip_annotated.partial-*")), proc.communicate(timeout=60)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []  # no hidden half video, no half record


def test_a_stop_the_instant_the_encoder_made_its_file_leaves_nothing(tmp_path, monkeypatch):
    """The race the subprocess test above hit once in CI (stop 25): a SIGTERM delivered while
    the encoder's constructor runs (it has created the file) is raised on the next Python line."""
    from smhr.app.video import process_video

    src = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(3):
        writer.write(np.roll(_image(), i, axis=1))
    writer.release()
    real = cv2.VideoWriter

    def stopped_after_opening(*args):
        made = real(*args)
        assert Path(args[0]).exists()
        del made
        raise SystemExit(128 + signal.SIGTERM)

    monkeypatch.setattr(cv2, "VideoWriter", stopped_after_opening)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SystemExit):
        process_video(Reconstructor.from_pretrained(), src, out, progress=False)
    assert list(out.iterdir()) == []


def test_a_non_utf8_file_name_gives_valid_utf8_json(tmp_path):
    name = os.fsdecode(b"caf\xe9.png")
    cv2.imencode(".png", _image())[1].tofile(str(tmp_path / name))
    out = tmp_path / "out"
    assert _demo(None, tmp_path / name, "--out", out, "--no-meshes").exit_code == 0
    raw = (out / os.fsdecode(b"caf\xe9.json")).read_bytes()
    record = json.loads(raw.decode("utf-8"))  # strict UTF-8, no lone surrogate escapes
    assert "\\ud" not in raw.decode() and record["source"] == str(tmp_path / "caf\\xe9.png")
    (out / "index.html").read_bytes().decode("utf-8")


def validate_record(record):
    jsonschema.validate(record, json.loads(SCHEMA.read_text()))


def test_schema_2_records_validate_and_say_what_made_them(tiny_weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("a.png", _image())
    cv2.imwrite("b.png", _image(96, 128, seed=1))
    res = _demo(tiny_weights, "a.png", "b.png", "--out", "out", "--focal", "300", hands=2)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["demo", "b.png", "--out", "none", "--threshold", "1", "--zoom-out", "0.5",
                              "--mirror"])  # bundled, no hand; photo mode's extra views  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["demo", "b.png", "--out", "unchecked", "--side-check", "off"])
    assert res.exit_code == 0, res.output
    assert json.loads(Path("unchecked/b.json").read_text())["provenance"]["side_check"] is False
    res = runner.invoke(app, ["demo", "b.png", "--out", "bad", "--side-check", "maybe"])
    assert res.exit_code != 0 and "--side-check must be auto, on or off, got 'maybe'" in res.output
    res = runner.invoke(app, ["demo", "b.png", "--out", "fast", "--mode", "fast", "--zoom-out", "0.5"])
    assert res.exit_code != 0 and "--zoom-out / --mirror add views to photo mode only" in res.output
    assert not Path("fast").exists()  # refused before anything ran or was written
    sha = hashlib.sha256(Path(tiny_weights).read_bytes()).hexdigest()
    bundled = hashlib.sha256(bundled_weights(onnx=True).read_bytes()).hexdigest()
    for path in (Path("out/a.json"), Path("out/b.json"), Path("none/b.json")):
        record = json.loads(path.read_text())
        validate_record(record)
        assert record["source"] == path.stem + ".png"  # as the user gave it: relative stays relative
        prov = record["provenance"]
        if path.parent.name == "out":
            assert prov["weights"] == {"file": str(tiny_weights), "sha256": sha}
            assert prov["backend"] == "torch" and prov["input_size"] == 64
            assert prov["photo_views"] == {"zoom_out": 0.0, "mirror": False}  # the defaults
            assert prov["large_hand_threshold"] is None and prov["large_side"] is None  # (off: --threshold 0)
        else:
            assert prov["weights"] == {"file": "bundled:smhr_mobilenetv2_anny.onnx", "sha256": bundled}
            assert prov["backend"] == "onnxruntime" and prov["input_size"] == 256
            assert prov["photo_views"] == {"zoom_out": 0.5, "mirror": True}
            assert prov["large_hand_threshold"] == 0.1 and prov["large_side"] == 0.6  # (the library's)
        assert prov["side_check"] is True  # images under --side-check auto
        assert prov["min_hand_side"] is None  # neither weights file stores a smallest hand
        assert prov["smhr_version"] == smhr.__version__
        assert record["hand_model"] == "anny" and record["pose_joints"][0] == "index_mcp"
        assert len(record["pose_joints"]) * 3 == 45
        K = np.asarray(record["camera"]["K"])
        for h in record["hands"]:  # the camera block is the hands' camera
            uvw = np.asarray(h["keypoints3d_m"]) @ K.T
            np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], h["keypoints2d_px"], atol=0.05)
    focal = json.loads(Path("out/b.json").read_text())
    assert focal["camera"]["kind"] == "focal" and focal["camera"]["principal_point_px"] == [63.5, 47.5]
    assert focal["provenance"]["focal_px"] == 300.0 and focal["provenance"]["threshold"] == 0.0
    empty = json.loads(Path("none/b.json").read_text())
    assert empty["hands"] == [] and empty["camera"]["kind"] == "virtual"  # the camera even without hands
    assert empty["camera"]["principal_point_px"] != [63.5, 47.5]
    assert "principal point" in empty["camera"]["note"]


def test_the_schema_refuses_what_schema_1_wrote(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), _image())
    assert _demo(None, tmp_path / "a.png", "--out", tmp_path / "o", "--no-meshes").exit_code == 0
    good = json.loads((tmp_path / "o" / "a.json").read_text())
    validate_record(good)
    for bad in ({"schema": 1}, {"camera": None}, {"source": 3}, {"provenance": {"smhr_version": "x"}}):
        with pytest.raises(jsonschema.ValidationError):
            validate_record({**good, **bad})


def test_a_record_names_the_extra_views_only_where_they_ran():
    """A video under --mode auto runs fast beside photos run with --zoom-out/--mirror: its record
    must not claim views that fast mode never ran."""
    from smhr.app.provenance import with_mode

    prov = {"threshold": 0.3, "photo_views": {"zoom_out": 0.5, "mirror": True}}
    photo = with_mode(prov, "photo", [[0, 0, 10, 10]])
    fast = with_mode(prov, "fast", [])
    assert photo["photo_views"] == {"zoom_out": 0.5, "mirror": True} and photo["tiles"] == [[0, 0, 10, 10]]
    assert fast["photo_views"] == {"zoom_out": 0.0, "mirror": False} and fast["mode"] == "fast"
    assert prov["photo_views"]["zoom_out"] == 0.5  # the shared block is not changed in place
