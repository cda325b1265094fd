"""Real photo sources: test-only sets are refused by training, their role survives relabelling, the
photos are rebuilt byte-exact from a git mirror, and near-duplicate photos are found under flips."""

import hashlib
import subprocess
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
