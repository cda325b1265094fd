"""Real photo sources: test-only sets are refused by training, their role survives relabelling, the
photos are rebuilt byte-exact from a git mirror, and near-duplicate photos are found under flips."""

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smhr.data.labelled import (
    LabelledSet,
    ReservedSourceError,
    previous_role,
    require_trainable,
    role_of,
    write_labelled_set,
)


def _record(path: str, data: bytes, split: str = "test") -> dict:
    kp = (np.stack([np.linspace(10, 40, 21), np.linspace(12, 44, 21)], 1)).tolist()
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "width": 64, "height": 64,
            "split": split, "group": path,
            "hands": [{"side": 1, "right_prob": 1.0, "presence": 1.0, "palm_score": 1.0,
                       "box": [10, 12, 40, 44], "palm_box": [0, 0, 1, 1], "keypoints2d": kp,
                       "depth": [0.0] * 21, "world": [[0.0] * 3] * 21}],
            "ignore": [], "source_boxes": None}


def _set(out: Path, records: list, role: str | None, repo: str = "", commit: str = "",
         root: str = "") -> Path:
    meta = {"source": {"name": out.name, "repo": repo, "commit": commit, "licence": "", "url": ""},
            "image_root": root, "teacher": {}, "split": {}, "counts": {}}
    if role is not None:
        meta["role"] = role
    return write_labelled_set(out, meta, records)


def _png(seed: int) -> bytes:
    import cv2

    img = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def test_test_only_sets_are_refused_by_training_and_allowed_for_validation(tmp_path):
    from smhr.train.config import build_data_config
    from smhr.train.data import build_training_set, build_validation_set

    (tmp_path / "img.png").write_bytes(_png(0))
    rec = _record("img.png", _png(0))
    test_only = _set(tmp_path / "heldout-src", [rec], "test", root=str(tmp_path))
    plain = _set(tmp_path / "plain-src", [rec], None, root=str(tmp_path))
    assert role_of({"role": "test"}) == "test" and previous_role(plain) == "train"
    require_trainable(plain)
    with pytest.raises(ReservedSourceError, match=r"heldout-src.*test only"):
        require_trainable(test_only)
    for kind in ("labelled", "composed_labelled"):
        cfg = build_data_config({"kind": kind, "roots": [str(plain), str(test_only)]})
        with pytest.raises(ReservedSourceError):
            build_training_set(cfg, 64, 0)
    val = build_validation_set(build_data_config({"kind": "labelled", "roots": [str(plain)],
                                                  "val_kind": "labelled", "val_roots": [str(test_only)]}), 64)
    assert len(val) == 1


def test_rebuild_writes_the_labelled_photos_byte_exact_and_reports_mismatches(tmp_path):
    import rebuild_real

    repo = tmp_path / "mirror" / "own+src" / "repo"
    (repo / "images").mkdir(parents=True)
    (repo / "labels").mkdir()
    a, b = _png(1), _png(2)
    (repo / "images" / "a.png").write_bytes(a)
    (repo / "images" / "b.png").write_bytes(b)
    (repo / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    good = _set(tmp_path / "labels" / "src", [_record("images/a.png", a), _record("images/b.png", b)],
                None, repo="own/src", commit=commit)
    c = rebuild_real.rebuild(good, tmp_path / "out", tmp_path / "mirror")
    assert (c["written"], c["missing"], c["bad_sha256"], c["box_files"]) == (2, 0, 0, 1)
    assert (tmp_path / "out" / "src" / "images" / "b.png").read_bytes() == b
    assert (tmp_path / "out" / "src" / "labels" / "a.txt").is_file()
    ds = LabelledSet(good, "all", image_root=tmp_path / "out" / "src")
    assert ds[0].image.shape == (64, 64, 3)
    again = rebuild_real.rebuild(good, tmp_path / "out", tmp_path / "mirror")
    assert (again["written"], again["present"]) == (0, 2)
    bad = _set(tmp_path / "labels" / "bad", [_record("images/a.png", b), _record("images/nope.png", a)],
               None, repo="own/src", commit=commit)
    c = rebuild_real.rebuild(bad, tmp_path / "out", tmp_path / "mirror")
    assert (c["written"], c["missing"], c["bad_sha256"]) == (0, 1, 1)
    with pytest.raises(FileNotFoundError, match=r"no git mirror of own/src"):
        rebuild_real.rebuild(good, tmp_path / "out", tmp_path / "elsewhere")


def test_content_hash_finds_the_same_photo_flipped_or_squashed_and_not_another(tmp_path):
    import cv2
    import select_unique

    rng = np.random.default_rng(5)
    base = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (15, 15), 5)
    other = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (15, 15), 5)
    for name, img in [("a.jpg", base), ("flip.jpg", base[::-1, ::-1]),
                      ("squash.jpg", cv2.resize(base, (64, 64))), ("other.jpg", other)]:
        cv2.imwrite(str(tmp_path / name), img)
    h = {n: select_unique.thumb_bits(tmp_path / n) for n in ("a.jpg", "flip.jpg", "squash.jpg", "other.jpg")}
    assert select_unique.distances(h["flip.jpg"], h["a.jpg"][:1]).min() <= 4
    assert select_unique.distances(h["squash.jpg"], h["a.jpg"][:1]).min() <= 8
    assert select_unique.distances(h["other.jpg"], h["a.jpg"][:1]).min() > 60
    assert select_unique.group_key("x_jpg.rf.0a9f.jpg") == "x_jpg" == select_unique.group_key("x_jpg.jpg")
    assert select_unique.thumb_bits(tmp_path / "missing.jpg") is None


def test_select_unique_says_which_labelled_photo_a_dropped_photo_resembles(tmp_path, monkeypatch, capsys):
    """A mirrored, squashed, recompressed copy of a labelled photo is dropped and named; a different
    photo on the same plain background (its 16x16 bits within --max-bits: only light and layout
    agree) is kept, as is an unrelated one."""
    import cv2
    import select_unique

    yy, xx = np.mgrid[0:90, 0:120]
    wall = (120 + 0.8 * xx + 0.3 * yy).astype(np.float32)

    def on_the_wall(mask, seed):
        noise = np.random.default_rng(seed).normal(0, 40, (90, 120)).astype(np.float32)
        grain = cv2.GaussianBlur(noise, (0, 0), 1)
        img = wall.copy()
        img[mask] = 80 + grain[mask]
        return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, 2)

    disc = on_the_wall((xx - 40) ** 2 + (yy - 50) ** 2 < 15**2, 1)
    bar = on_the_wall((abs(xx - 40) < 20) & (abs(yy - 50) < 7), 2)
    rng = np.random.default_rng(6)
    unrelated = cv2.GaussianBlur(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8), (15, 15), 5)
    labelled = tmp_path / "labels" / "old-set"
    labelled.mkdir(parents=True)
    (labelled / "meta.json").write_text(json.dumps({"source": {"name": "old-src"}}))
    (tmp_path / "real" / "old-src").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "real" / "old-src" / "p0.png"), disc)
    with gzip.open(labelled / "labels.jsonl.gz", "wt") as f:
        f.write(json.dumps({"path": "p0.png"}) + "\n")
    new = tmp_path / "new" / "imgs"
    new.mkdir(parents=True)
    copy = cv2.resize(disc[:, ::-1], (64, 64))
    cv2.imwrite(str(new / "again.jpg"), copy, [cv2.IMWRITE_JPEG_QUALITY, 50])
    cv2.imwrite(str(new / "lookalike.png"), bar)
    cv2.imwrite(str(new / "unrelated.png"), unrelated)
    bits = select_unique.distances(select_unique.thumb_bits(new / "lookalike.png"),
                                   select_unique.thumb_bits(tmp_path / "real" / "old-src" / "p0.png")[:1])
    assert bits.min() <= 24  # step 1 alone would have dropped it
    argv = ["select_unique", str(tmp_path / "new"), str(new), "--against", str(labelled),
            "--image-base", str(tmp_path / "real"), "--out", str(tmp_path / "list.txt"),
            "--dropped", str(tmp_path / "dropped.tsv")]
    monkeypatch.setattr(sys, "argv", argv)
    assert select_unique.main() == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["unique"] == 2 and counts["same_content_as_existing_by_set"] == {"old-set": 1}
    assert (tmp_path / "list.txt").read_text() == "imgs/lookalike.png\nimgs/unrelated.png\n"
    path, match, n_bits = (tmp_path / "dropped.tsv").read_text().strip().split("\t")
    assert (path, match) == ("imgs/again.jpg", "old-set:p0.png") and int(n_bits) <= 8
