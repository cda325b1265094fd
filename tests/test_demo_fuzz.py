"""Fuzz: a few hundred damaged image files through ONE `smhr demo` process (real stderr on a
pseudo-terminal, so the progress bar is drawn), bounded in time and memory.

Every damaged file must either be processed (a bit flip can leave a decodable picture) or give
exactly one `error: FILE: ...` line of a known kind (no "unexpected" error, no traceback, no
decoder chatter, nothing glued to the bar); the good images in the batch are processed; no output
is left half-written.
"""

import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

import smhr

TIMEOUT_S = 240
MAX_RSS_MB = 2000
KNOWN_ERRORS = re.compile(
    r"no such image file|empty file|not a readable image|too small|header says .* over the .* limit|"
    r"truncated JPEG|corrupt JPEG|cannot read it"
)


def _picture(seed, h=48, w=64):
    """A smooth picture (gradients + blobs) so that the encoders produce realistic streams."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * x + c) * np.cos(5 * y - c) for c in rng.uniform(0, 3, 3)], -1)
    return ((img * 0.5 + 0.5) * 255).astype(np.uint8)


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_size(fmt, data, w, h):
    """The encoded image with the width / height in its header replaced (checksums kept valid)."""
    data = bytearray(data)
    if fmt == ".png":
        ihdr = struct.pack(">II", w, h) + bytes(data[24:29])
        return bytes(data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:])
    if fmt == ".jpg":
        i = data.find(b"\xff\xc0")
        data[i + 5 : i + 9] = struct.pack(">HH", min(h, 65535), min(w, 65535))
    elif fmt == ".bmp":
        data[18:26] = struct.pack("<ii", w, h)
    elif fmt == ".webp":  # lossy VP8: 14-bit sizes in the key frame header
        data[26:30] = struct.pack("<HH", min(w, 16383), min(h, 16383))
    elif fmt == ".ppm":
        head, rest = bytes(data).split(b"\n", 1)
        return head + b"\n" + f"{w} {h}".encode() + rest[rest.index(b"\n") :]
    return bytes(data)


def _corpus(root, n_flip=150, n_cut=90):
    """name -> bytes of ~300 damaged files (and 4 good ones), deterministic."""
    rng = np.random.default_rng(2024)
    formats = (".jpg", ".png", ".webp", ".bmp", ".ppm", ".tif")
    base = {f: cv2.imencode(f, _picture(i)[..., ::-1])[1].tobytes() for i, f in enumerate(formats)}
    files = {f"good_{i}{f}": base[f] for i, f in enumerate((".jpg", ".png", ".webp", ".bmp"))}
    for k in range(n_flip):  # bit flips, anywhere (header or data)
        f = formats[k % len(formats)]
        data = bytearray(base[f])
        for pos in rng.integers(0, len(data), int(rng.integers(1, 24))):
            data[pos] ^= 1 << int(rng.integers(0, 8))
        files[f"flip_{k:03d}{f}"] = bytes(data)
    for k in range(n_cut):  # truncations, including empty and header-only
        f = formats[k % len(formats)]
        files[f"cut_{k:03d}{f}"] = base[f][: int(rng.integers(0, len(base[f])))]
    for k, (src, dst) in enumerate([(".png", ".jpg"), (".jpg", ".png"), (".webp", ".bmp"), (".bmp", ".webp"),
                                    (".tif", ".jpg"), (".ppm", ".png")]):  # fmt: skip
        files[f"wrongext_{k}{dst}"] = base[src]  # decoders sniff content: these are fine images
    junk = {"text": b"not an image\n" * 20, "json": b'{"a": 1}', "zip": b"PK\x03\x04" + bytes(200),
            "pt": b"\x80\x02}q\x00.", "noise": rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(),
            "html": b"<html><body>404</body></html>"}  # fmt: skip
    for k, (name, data) in enumerate(junk.items()):
        files[f"junk_{name}{formats[k % 4]}"] = data
    sizes = [(60000, 60000), (65535, 65535), (2**31 - 1, 2**31 - 1), (16383, 16383), (15000, 15000),
             (100000, 3), (0, 0), (1, 1), (7, 5000)]  # fmt: skip
    for f in (".png", ".jpg", ".bmp", ".webp", ".ppm"):
        for k, (w, h) in enumerate(sizes):
            if f == ".png" and (w == 0 or w >= 2**31 - 1):
                w = h = 2**31 - 1 if w else 0
            files[f"size_{k}_{w}x{h}{f}"] = _with_size(f, base[f], w, h)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def _run_on_a_terminal(cmd, env, cwd):
    """Run `cmd` with stderr on a pseudo-terminal (120 columns) and stdout in a file; returns
    (exit code, stdout, raw terminal bytes, seconds, peak resident memory in MB). Killed after
    TIMEOUT_S."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    out_path = Path(cwd) / "stdout.txt"
    t0 = time.perf_counter()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=slave, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    os.close(slave)
    peak_kb = [0]

    def watch():  # the child's own high-water mark (rusage would count the parent's pages at fork)
        status = Path(f"/proc/{proc.pid}/status")
        while proc.returncode is None:
            try:
                hwm = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            except OSError:
                return
            if hwm:
                peak_kb[0] = max(peak_kb[0], int(hwm.group(1)))
            time.sleep(0.02)

    threads = [threading.Thread(target=f, daemon=True) for f in (drain, watch)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    seconds = time.perf_counter() - t0
    for t in threads:
        t.join(timeout=10)
    os.close(master)
    return proc.returncode, out_path.read_text(), b"".join(chunks), seconds, peak_kb[0] / 1024


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal and /proc memory figures: Linux")
def test_hundreds_of_damaged_images_through_one_demo_process(tiny_weights, tmp_path):
    src = tmp_path / "fuzz"
    src.mkdir()
    files = _corpus(src)
    assert len(files) >= 250
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(smhr.__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}  # fmt: skip  (one thread: no OpenMP spinning against the test runner)
    cmd = [sys.executable, "-m", "smhr.cli", "demo", str(src), "--out", str(out), "--weights",
           str(tiny_weights), "--device", "cpu", "--threshold", "1",  # threshold 1: no hands, a fast batch
           "--no-meshes"]  # fmt: skip
    code, stdout, terminal, seconds, rss_mb = _run_on_a_terminal(cmd, env, tmp_path)

    assert seconds < TIMEOUT_S, "the demo hung"
    assert rss_mb < MAX_RSS_MB, f"peak memory {rss_mb:.0f} MB"
    text = terminal.decode("utf-8", "replace")
    assert "Traceback" not in text and "Traceback" not in stdout, text[-3000:]
    assert code == 1, (code, stdout, text[-3000:])
    # every piece of terminal output is an error line, a progress-bar frame or blank: no chatter,
    # and no error glued behind the bar (the bar is cleared first)
    segments = [s.strip() for s in re.split(r"[\r\n]", text) if s.strip()]
    errors = [s for s in segments if s.startswith("error: ")]
    stray = [s for s in segments if not s.startswith("error: ") and not s.startswith("smhr demo:")]
    assert not stray, stray[:5]
    assert not [s for s in segments if "error:" in s and not s.startswith("error: ")]
    named = {}
    for line in errors:
        found = re.match(r"error: (.+?): (.*)$", line)
        assert found and Path(found.group(1)).parent == src, line
        assert KNOWN_ERRORS.search(found.group(2)), line  # a handled case, never "unexpected ..."
        named[Path(found.group(1)).name] = found.group(2)
    summary = re.search(r"(\d+) of (\d+) input\(s\) done, (\d+) hand\(s\) .*; (\d+) failed\)", stdout)
    assert summary, stdout
    done, total, _, failed = map(int, summary.groups())
    assert total == len(files) and done + failed == total and failed == len(named) == len(errors)
    written = {p.name for p in out.iterdir()}
    assert not [n for n in written if n.startswith(".")]  # no temporary file left
    for name in files:
        stem = Path(name).stem
        has_outputs = {f"{stem}.json", f"{stem}_overlay.png"} <= written
        assert has_outputs != (name in named), name  # outputs exactly for the files that did not fail
    for name in (n for n in files if n.startswith(("good_", "wrongext_"))):
        record = json.loads((out / f"{Path(name).stem}.json").read_text())
        assert record["image_size"] == {"height": 48, "width": 64} and record["hands"] == [], name
    must_fail = [n for n in files if n.startswith(("junk_", "cut_0", "size_0", "size_1", "size_2", "size_6"))]
    assert must_fail and all(n in named for n in must_fail), [n for n in must_fail if n not in named]
    assert any("over the 250 megapixel limit" in m for m in named.values())
    assert any("truncated JPEG" in m for m in named.values())


def test_decoder_chatter_on_fd_2_is_dropped_and_everything_else_kept(tmp_path):
    script = (
        "import os, sys\n"
        "from smhr.io.messages import echo_error, native_stderr_filtered\n"
        "with native_stderr_filtered():\n"
        "    os.write(2, b'Corrupt JPEG data: 3 extraneous bytes before marker 0xd9\\n')\n"
        "    os.write(2, b'libpng warning: iCCP: known incorrect sRGB profile\\n')\n"
        "    os.write(2, b'something a C library needs to say\\n')\n"
        "    echo_error('a.jpg: not a readable image\\nsecond line')\n"
        "print('done', file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(smhr.__file__).parents[1])}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.decode().splitlines()
    want = ["something a C library needs to say", "error: a.jpg: not a readable image second line", "done"]
    assert sorted(lines) == sorted(want)
