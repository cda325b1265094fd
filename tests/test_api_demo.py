"""The Python API, `smhr demo` outputs (overlay, OBJ / PLY / GLB, JSON) and the bad-input matrix,
with a tiny randomly initialised network (the behaviour under test does not depend on training)."""

import json
import re

import cv2
import numpy as np
import pytest
import torch
import trimesh
from typer.testing import CliRunner

from smhr.app.api import BadInput, Reconstructor, to_rgb_uint8
from smhr.cli import app
from smhr.geometry.letterbox import letterbox_image
from smhr.io.images import read_rgb

runner = CliRunner()
V_ANNY = 1609


@pytest.fixture(scope="module")
def rec(tiny_weights):
    return Reconstructor.from_pretrained(tiny_weights, "cpu", threshold=0.0, max_hands=2)


def _image(h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_inputs_of_every_kind_give_the_same_hands(rec, tmp_path):
    from PIL import Image

    img = _image()
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), img[..., ::-1])
    a = rec.predict(img)
    assert len(a) == 2 and a[0].score >= a[1].score
    for other in (
        rec.predict(path),
        rec.predict(Image.fromarray(img)),
        rec.predict(img.astype(np.float32) / 255),
    ):
        assert len(other) == 2
        np.testing.assert_allclose(other[0].keypoints2d, a[0].keypoints2d, atol=1e-3)
    batch = rec.predict_batch([img, _image(seed=1)])
    np.testing.assert_allclose(batch[0][0].vertices, a[0].vertices, atol=1e-5)
    h = a[0]
    assert h.vertices.shape == (V_ANNY, 3) and h.joints3d.shape == (21, 3) and h.keypoints2d.shape == (21, 2)
    # keypoints are in original pixels: projecting the 3D joints with the returned K gives them
    uv = (h.joints3d @ h.K.T)[:, :2] / (h.joints3d @ h.K.T)[:, 2:]
    np.testing.assert_allclose(uv, h.keypoints2d, atol=1e-2)


def test_focal_places_hands_metrically_in_that_camera(rec):
    img = _image(96, 128)
    h = rec.predict(img, focal=300.0)[0]
    assert h.K[0, 0] == pytest.approx(300.0) and h.K[0, 2] == pytest.approx(63.5)
    uv = (h.joints3d @ h.K.T)[:, :2] / (h.joints3d @ h.K.T)[:, 2:]
    np.testing.assert_allclose(uv, h.keypoints2d, atol=1e-2)
    base = rec.predict(img)[0]
    # moved rigidly along the ray of its origin (the Anny wrist): the wrist keeps its pixel
    np.testing.assert_allclose(h.keypoints2d[0], base.keypoints2d[0], atol=0.5)
    assert not np.allclose(h.transl, base.transl)


def test_pixel_formats_and_letterbox():
    grey = np.full((20, 30), 7, np.uint8)
    assert to_rgb_uint8(grey).shape == (20, 30, 3)
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 3] = 255
    assert to_rgb_uint8(rgba).shape == (20, 30, 3)
    deep = np.full((20, 30, 3), 65535, np.uint16)
    assert to_rgb_uint8(deep).max() == 255
    ringing = np.linspace(-0.04, 1.04, 20 * 30 * 3).reshape(20, 30, 3)  # resampling overshoot: clipped
    out = to_rgb_uint8(ringing)
    assert out.min() == 0 and out.max() == 255
    np.testing.assert_array_equal(out, to_rgb_uint8(np.clip(ringing, 0, 1)))
    for bad, msg in (
        (np.zeros((9, 9, 3), np.float32) + 254.0, r"values in \[254, 254\].*divide 0-255 data by 255"),
        (np.linspace(-2.1, 2.6, 243).reshape(9, 9, 3), r"\[-2\.1, 2\.6\].*undo any mean/std normalisation"),
        (np.zeros((4, 4, 3), np.uint8), "too small"),
        (np.zeros((9, 9, 5), np.uint8), "shape"),
        (np.full((9, 9), np.nan), "NaN"),
        (np.zeros((9, 9), np.int64), "pixel type"),
    ):
        with pytest.raises(BadInput, match=msg):
            to_rgb_uint8(bad, "x")
    big = np.zeros((300, 400, 3), np.uint8)
    big[100:110, 200:210] = 255  # a white square centred at (204.5, 104.5)
    boxed, A = letterbox_image(big, 64)
    c = A @ np.array([204.5, 104.5, 1.0])
    ys, xs = np.nonzero(boxed[..., 0] > 60)
    assert abs(xs.mean() - c[0]) < 0.6 and abs(ys.mean() - c[1]) < 0.6


def _bad_input_folder(root):
    root.mkdir()
    good = _image(60, 80)
    cv2.imwrite(str(root / "good.jpg"), good[..., ::-1])
    cv2.imwrite(str(root / "grey.png"), good[..., 0])
    cv2.imwrite(str(root / "rgba.png"), np.dstack([good, np.full(good.shape[:2], 128, np.uint8)]))
    cv2.imwrite(str(root / "deep.png"), (good.astype(np.uint16) * 257))
    cv2.imwrite(str(root / "huge.jpg"), cv2.resize(good, (4000, 3000)))
    from PIL import Image

    pil = Image.fromarray(good[:40, :60])
    exif = pil.getexif()
    exif[0x0112] = 6  # EXIF orientation: shown rotated 90 degrees clockwise
    pil.save(root / "exif.jpg", exif=exif.tobytes())
    (root / "empty.jpg").write_bytes(b"")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / "notes.jpg").write_text("not an image")
    cv2.imwrite(str(root / "tiny.png"), good[:4, :4])
    return root


def test_demo_writes_every_output_and_survives_bad_inputs(tiny_weights, tmp_path):
    src = _bad_input_folder(tmp_path / "in")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "demo",
            str(src),
            str(tmp_path / "missing.jpg"),
            "--out",
            str(out),
            "--weights",
            str(tiny_weights),
            "--device",
            "cpu",
            "--threshold",
            "0",
            "--max-hands",
            "2",
        ],
    )
    assert res.exit_code == 1, res.output
    errors = re.findall(r"error: (.*)", res.output)
    named = ["empty.jpg", "corrupt.png", "notes.jpg", "tiny.png", "missing.jpg"]
    assert len(errors) == len(named) and all(any(n in e for e in errors) for n in named)
    assert "6 of 11 input(s) done, 12 hand(s)" in res.output and "5 failed" in res.output
    assert not list(out.glob(".*"))  # no temporary file left behind
    for stem in ("good", "grey", "rgba", "deep", "huge", "exif"):
        rec = json.loads((out / f"{stem}.json").read_text())
        assert rec["schema"] == 2 and rec["hand_model"] == "anny" and len(rec["hands"]) == 2
        h = rec["hands"][0]
        assert h["side"] in ("left", "right") and len(h["keypoints2d_px"]) == 21 and len(h["pose"]) == 45
        assert np.asarray(h["keypoints3d_m"]).shape == (21, 3) and "vertices_m" not in h
        overlay = cv2.imread(str(out / f"{stem}_overlay.png"))
        H, W = rec["image_size"]["height"], rec["image_size"]["width"]
        s = min(1.0, 1600 / max(H, W))  # overlays of huge images are shrunk
        assert overlay.shape == (round(H * s), 2 * round(W * s), 3)  # photo + side view
        for k, hand in enumerate(rec["hands"]):
            for ext in ("obj", "ply", "glb"):  # the GLB per hand is the rigged one (tests/test_rig.py)
                mesh = trimesh.load(out / f"{stem}_hand{k}_{hand['side']}.{ext}", process=False, force="mesh")
                assert mesh.vertices.shape == (V_ANNY, 3) and mesh.faces.shape == (3214, 3)
        scene = trimesh.load(out / f"{stem}.glb")
        assert len(scene.geometry) == 2 and all(
            g.vertices.shape == (V_ANNY, 3) for g in scene.geometry.values()
        )
    assert json.loads((out / "huge.json").read_text())["image_size"] == {"height": 3000, "width": 4000}
    assert json.loads((out / "exif.json").read_text())["image_size"] == {"height": 60, "width": 40}  # upright


def test_demo_json_vertices_and_exit_code_zero(tiny_weights, tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), _image())
    res = runner.invoke(
        app,
        [
            "demo",
            str(tmp_path / "*.png"),
            "--out",
            str(tmp_path / "o"),
            "--weights",
            str(tiny_weights),
            "--vertices",
            "--no-meshes",
            "--threshold",
            "0",
            "--max-hands",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o" / "x.json").read_text())
    assert np.asarray(rec["hands"][0]["vertices_m"]).shape == (V_ANNY, 3)
    assert not list((tmp_path / "o").glob("*.obj"))
    res = runner.invoke(app, ["demo", str(tmp_path / "x.png"), "--weights", str(tmp_path / "none.pt")])
    assert res.exit_code == 2 and "none.pt" in res.output


def test_packaged_half_precision_weights_load_and_agree(tiny_weights, tmp_path):
    from smhr.train.checkpoint import package_weights

    small = package_weights(tiny_weights, tmp_path / "small.pt", note="test")
    assert small.stat().st_size < 0.6 * tiny_weights.stat().st_size
    meta = torch.load(small, weights_only=True)["meta"]
    assert meta["stored_dtype"] == "float16" and meta["note"] == "test"
    img = _image()
    full = Reconstructor.from_pretrained(tiny_weights, "cpu", threshold=0.0, max_hands=1).predict(img)[0]
    half = Reconstructor.from_pretrained(small, "cpu", threshold=0.0, max_hands=1).predict(img)[0]
    assert abs(full.score - half.score) < 1e-2
    np.testing.assert_allclose(half.keypoints2d, full.keypoints2d, atol=1.0)


def test_the_weights_calibrated_threshold_is_the_default_and_an_argument_overrides_it(tiny_weights, tmp_path):
    from smhr.app.api import DEFAULT_THRESHOLD
    from smhr.train.checkpoint import package_weights

    assert Reconstructor.from_pretrained(tiny_weights, "cpu").threshold == DEFAULT_THRESHOLD  # no metadata
    calibrated = package_weights(tiny_weights, tmp_path / "cal.pt", score_threshold=0.999)
    rec = Reconstructor.from_pretrained(calibrated, "cpu", max_hands=2)
    assert rec.threshold == 0.999
    scores = [h.score for h in Reconstructor.from_pretrained(calibrated, "cpu", threshold=0.0,
                                                             max_hands=2).predict(_image())]  # fmt: skip
    assert len(rec.predict(_image())) == sum(s >= 0.999 for s in scores)
    res = runner.invoke(app, ["demo", str(tmp_path / "missing.png"), "--weights", str(calibrated)])
    assert res.exit_code == 1 and "missing.png" in res.output  # --threshold is optional on the CLI


def test_input_size_override_letterboxes_smaller_and_keeps_pixel_coordinates(tiny_weights, tmp_path):
    img = _image(96, 128, seed=3)
    rec = Reconstructor.from_pretrained(tiny_weights, "cpu", threshold=0.0, max_hands=2, input_size=96)
    assert rec.input_size == 96 and Reconstructor.from_pretrained(tiny_weights, "cpu").input_size == 64
    seen = []
    backbone = rec.network.module.net.backbone
    backbone.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    hands = rec.predict(img)
    assert seen == [(1, 3, 96, 96)]  # the letterbox really targets the override
    assert len(hands) == 2
    for h in hands:  # centres come back in the original image's pixels, whatever the network size
        assert h.keypoints2d.shape == (21, 2) and np.isfinite(h.keypoints2d).all()
        assert 0 <= h.center[0] <= 128 and 0 <= h.center[1] <= 96
    with pytest.raises(ValueError, match="multiple of 32"):
        Reconstructor.from_pretrained(tiny_weights, "cpu", input_size=100)
    cv2.imwrite(str(tmp_path / "x.png"), img[..., ::-1])
    res = runner.invoke(app, ["demo", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"), "--weights",
                              str(tiny_weights), "--input-size", "100"])  # fmt: skip
    assert res.exit_code == 2 and "multiple of 32" in res.output
    res = runner.invoke(app, ["demo", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"), "--weights",
                              str(tiny_weights), "--input-size", "96", "--threshold", "0"])  # fmt: skip
    assert res.exit_code == 0, res.output


class _RunsCode:
    """Unpickling this would create a folder (stands in for any code a malicious file runs)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def _bad_weights(root, tiny_weights):
    """name -> (path, text the one-line error must contain)."""
    root.mkdir()
    good = tiny_weights.read_bytes()
    (root / "notes.txt").write_text("these are not weights\n")
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)
    (root / "random.pt").write_bytes(noise.tobytes())
    (root / "empty.pt").write_bytes(b"")
    (root / "truncated.pt").write_bytes(good[: len(good) // 3])
    torch.save({"config": {}, "model": _RunsCode(root / "ran")}, root / "evil.pt")
    torch.save([1, 2, 3], root / "list.pt")
    torch.save({"config": {"backbone": "resnet51"}, "model": {}}, root / "badconfig.pt")
    (root / "folder.pt").mkdir()
    (root / "random.onnx").write_bytes(b"\x08\x07garbage" * 50)
    return {
        "text": (root / "notes.txt", "not an smhr model.pt (unreadable as a torch file"),
        "random bytes": (root / "random.pt", "not an smhr model.pt (unreadable as a torch file"),
        "empty": (root / "empty.pt", "not an smhr model.pt (unreadable as a torch file: EOFError"),
        "truncated": (root / "truncated.pt", "not an smhr model.pt (unreadable as a torch file"),
        "code in pickle": (root / "evil.pt", "which we do not load: it could run code"),
        "not a checkpoint": (root / "list.pt", "needs 'config' and 'model', got list"),
        "bad config": (root / "badconfig.pt", "resnet51"),
        "folder": (root / "folder.pt", "is a folder, not an smhr model.pt"),
        "bad onnx": (root / "random.onnx", "is not an smhr ONNX export"),
        "missing": (root / "none.pt", "not found: pass the path of a model.pt or .onnx file"),
    }


def test_bad_weights_files_are_one_line_errors_and_never_run_code(tiny_weights, tmp_path):
    cases = _bad_weights(tmp_path / "w", tiny_weights)
    cv2.imwrite(str(tmp_path / "x.png"), _image())
    for name, (path, text) in cases.items():
        with pytest.raises((ValueError, FileNotFoundError)) as e:
            Reconstructor.from_pretrained(path, "cpu")
        assert str(path) in str(e.value) and text in str(e.value) and "\n" not in str(e.value), name
        res = runner.invoke(app, ["demo", str(tmp_path / "x.png"), "--out", str(tmp_path / "o"),
                                  "--weights", str(path)])  # fmt: skip
        assert res.exit_code == 2, (name, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], name
    assert not (tmp_path / "w" / "ran").exists()
    assert not (tmp_path / "o").exists()  # nothing written when the weights cannot be loaded
    text_file = cases["text"][0]
    res = runner.invoke(app, ["export", "--onnx", str(tmp_path / "m.onnx"), "--weights", str(text_file)])
    assert res.exit_code == 2 and "notes.txt is not an smhr model.pt" in res.output
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*partial"))


def _demo(tiny_weights, *args):
    return runner.invoke(app, ["demo", *map(str, args), "--weights", str(tiny_weights), "--threshold", "0",
                               "--max-hands", "1", "--no-meshes"])  # fmt: skip


def _one_error(res, *needles):
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert all(n in lines[0] for n in needles), res.output
    return lines[0]


def test_unusable_out_is_one_line_and_exit_code_2_before_any_work(tiny_weights, tmp_path, monkeypatch):
    import errno
    import os
    import tempfile

    cv2.imwrite(str(tmp_path / "x.png"), _image())
    existing = tmp_path / "existing_file"
    existing.write_text("keep me")
    res = _demo(tiny_weights, tmp_path / "x.png", "--out", existing)
    assert res.exit_code == 2
    _one_error(res, f"--out {existing} is a file, not a folder")
    assert existing.read_text() == "keep me"
    res = _demo(tiny_weights, tmp_path / "x.png", "--out", existing / "sub")
    assert res.exit_code == 2
    _one_error(res, f"{existing} is a file, not a folder")
    # a read-only file system, as the kernel reports it to access(2) ...
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(tmp_path) else real_access(p, m))
    res = _demo(tiny_weights, tmp_path / "x.png", "--out", tmp_path / "ro")
    assert res.exit_code == 2
    _one_error(res, f"--out {tmp_path / 'ro'}", "not writable (read-only file system")
    monkeypatch.setattr(os, "access", real_access)
    assert not (tmp_path / "ro").exists()

    # ... and as it reports it to the first write (access(2) can be wrong on network file systems)
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    res = _demo(tiny_weights, tmp_path / "x.png", "--out", tmp_path / "ro2")
    assert res.exit_code == 2
    _one_error(res, f"--out {tmp_path / 'ro2'}: cannot write there", "Read-only file system")


def test_a_failed_write_loses_only_that_image_and_leaves_no_partial_output(
    tiny_weights, tmp_path, monkeypatch
):
    import errno

    import smhr.io.atomic as atomic

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"img{i}.png"), _image(seed=i))
    real_write, calls = atomic._write, []

    def disk_full_on_img1_json(tmp, data, durable):
        calls.append(tmp.name)
        if tmp.name.startswith(".img1.") and tmp.name.endswith(".json"):
            real_write(tmp, data[: len(data) // 2], durable)  # half written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(tmp, data, durable)

    monkeypatch.setattr(atomic, "_write", disk_full_on_img1_json)
    out = tmp_path / "out"
    res = _demo(tiny_weights, src, "--out", out)
    assert res.exit_code == 1
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "img1.png: cannot write its outputs" in errors[0]
    assert "No space left on device" in errors[0]
    assert "2 of 3 input(s) done" in res.output and "1 failed" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["img0.json", "img0_overlay.png", "img0_textured.png",
                                                     "img2.json", "img2_overlay.png",
                                                     "img2_textured.png", "index.html"]  # fmt: skip
    assert any(c.startswith(".img1_overlay.") for c in calls)  # its overlay was staged, then dropped


def png_header_only(width, height):
    """A PNG whose header claims width x height px, with 1 kB of zeros as its data."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_image_whose_header_claims_huge_dimensions_is_refused_before_decoding(tiny_weights, tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header_only(60000, 60000))  # 1 kB file, 3.6 gigapixels
    with pytest.raises(BadInput, match=r"bomb\.png: header says 3600 megapixels, over the 250 megapixel"):
        to_rgb_uint8(tmp_path / "bomb.png")
    (tmp_path / "big.png").write_bytes(png_header_only(300, 200))
    with pytest.raises(BadInput, match=r"big\.png: header says 300x200 px, over the 0 megapixel limit"):
        read_rgb(tmp_path / "big.png", max_pixels=50_000, untrusted=True)
    cv2.imwrite(str(tmp_path / "ok.png"), _image())
    res = _demo(tiny_weights, tmp_path / "bomb.png", tmp_path / "ok.png", "--out", tmp_path / "o")
    assert res.exit_code == 1 and "1 of 2 input(s) done" in res.output
    assert (tmp_path / "o" / "ok.json").exists() and not (tmp_path / "o" / "bomb.json").exists()


def test_help_texts_keep_their_brackets_and_name_the_formats():
    """Rich markup eats `[word]` in help texts unless escaped (`pip install 'smhr[anny]'` lost its extra)."""
    import typer

    def walk(cmd, path):
        yield cmd, path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    def squash(text):
        return re.sub(r"[\s│]", "", text)

    checked = 0
    for cmd, path in walk(typer.main.get_command(app), []):
        shown_params = [p for p in cmd.params if not getattr(p, "hidden", False)]
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in shown_params]
        wanted = [m.replace("\\", "") for t in texts for m in re.findall(r"\\?\[[^\]]*\]", t)]
        if not wanted:
            continue
        shown = runner.invoke(app, [*path, "--help"], env={"TERMINAL_WIDTH": "200"}).output
        for w in wanted:
            assert squash(w) in squash(shown), (path, w)
            checked += 1
    assert checked >= 2  # build-anny's extra and eval freihand's --pred layout at least
    demo_help = runner.invoke(app, ["demo", "--help"], env={"TERMINAL_WIDTH": "200"}).output
    assert ".onnx" in demo_help and "model.pt" in demo_help


def test_user_jpegs_that_libjpeg_would_complete_with_invented_pixels_are_refused(tmp_path):
    good = cv2.imencode(".jpg", _image(60, 80))[1].tobytes()
    thumb = cv2.imencode(".jpg", _image(16, 16))[1].tobytes()  # has its own scan and end marker
    app1 = b"Exif\0\0" + thumb
    with_thumb = good[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + good[2:]
    sof = good.index(b"\xff\xc0")
    bomb = bytearray(good)
    bomb[sof + 5 : sof + 9] = (15000).to_bytes(2, "big") * 2  # 225 MP (under the limit) in a 1 kB file
    files = {"cut": good[:-200], "head": good[:100], "bomb": bytes(bomb), "thumbcut": with_thumb[:-200],
             "tail": good + b"trailing bytes after the image are allowed", "thumb": with_thumb}  # fmt: skip
    for name, data in files.items():
        (tmp_path / f"{name}.jpg").write_bytes(data)
    refused = {
        "cut": "truncated JPEG (no end-of-image marker)",
        "thumbcut": "truncated JPEG (no end-of-image marker)",  # the thumbnail's end marker does not count
        "head": "truncated JPEG (ends before its image data)",
        "bomb": f"corrupt JPEG (a {len(bomb)}-byte file cannot hold the 225 megapixels its header says)",
    }
    for name, msg in refused.items():
        with pytest.raises(BadInput, match=re.escape(f"{name}.jpg: {msg}")):
            to_rgb_uint8(tmp_path / f"{name}.jpg")
    for name in ("tail", "thumb"):
        assert to_rgb_uint8(tmp_path / f"{name}.jpg").shape == (60, 80, 3)
    with pytest.raises(BadInput, match=r"cut\.jpg: not a readable image"):  # datasets: the decoder decides
        read_rgb(tmp_path / "cut.jpg")


def test_every_torch_load_in_the_package_is_weights_only():
    """Policy: user-supplied torch files never run pickle code (a new torch.load must keep it so)."""
    import ast
    from pathlib import Path

    import smhr

    def is_torch_load(node):
        f = getattr(node, "func", None)
        return isinstance(f, ast.Attribute) and f.attr == "load" and getattr(f.value, "id", None) == "torch"

    def weights_only(node):
        return any(k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in node.keywords)

    calls = [(f"{path.name}:{node.lineno}", weights_only(node))
             for path in Path(smhr.__file__).parent.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text())) if is_torch_load(node)]  # fmt: skip
    assert len(calls) >= 3 and all(safe for _, safe in calls), calls


def test_the_demo_default_output_folder_is_git_ignored():
    import inspect
    from pathlib import Path

    from smhr.app.demo import demo_command

    default = inspect.signature(demo_command).parameters["out"].default
    gitignore = Path(__file__).parents[1] / ".gitignore"
    if not gitignore.exists():
        pytest.skip("not a source checkout")
    assert f"/{default}/" in gitignore.read_text().splitlines()
