"""Run the 2D teacher over a photo source and write a labelled set (`smhr.data.labelled` format).

Steps per image: read it (a bad file is reported and counted, never fatal) -> skip exact
duplicates (same sha256) -> teacher hands -> compare with the source's own boxes: matched boxes
are counted, boxed hands the teacher missed become ignore regions -> a record. Groups of
near-duplicates (frames of one video, augmented copies of one photo) come from a regular
expression on the file name, and whole groups go to the held-out split, chosen by a seeded hash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smhr.errors import BadInput
from smhr.io.images import read_rgb
from smhr.label.boxes import read_boxes
from smhr.label.match import match_boxes
from smhr.teacher import HandTeacher, TeacherHand

__all__ = ["LabelOptions", "SourceInfo", "group_of", "label_source", "split_of"]


@dataclass
class SourceInfo:
    """Provenance of a photo source: a short name, the public repository and commit the files
    came from, their licence, and the local folder that holds the repository's files."""

    name: str
    root: Path
    repo: str = ""
    commit: str = ""
    licence: str = ""
    url: str = ""


@dataclass
class LabelOptions:
    """boxes: the source's box format (`smhr.label.boxes`); group_regex: a regular expression whose
    first group (or whole match) names an image's near-duplicate group, applied to the path relative
    to the root (None: every image its own group); group_frames: with a regex that captures
    (name, frame number), frames are grouped in blocks of this many; test_fraction / seed: the
    held-out split; max_hands: teacher palms per image; hand_in_every_photo: the source says every
    photo shows a hand (one-hand sign photos), so a photo where the teacher finds none holds an
    unlabelled hand: the whole photo becomes an ignore region, so a detection there counts neither
    as a true nor as a false hand (without it, benchmarks would charge the network a false hand
    for finding the hand the teacher missed)."""

    boxes: str = "none"
    group_regex: str | None = None
    group_frames: int = 0
    test_fraction: float = 0.1
    seed: int = 0
    max_hands: int = 4
    hand_in_every_photo: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def group_of(rel_path: str, regex: str | None, frames: int = 0) -> str:
    """The near-duplicate group of a file (see `LabelOptions`)."""
    if regex is None:
        return rel_path
    m = re.search(regex, rel_path)
    if m is None:
        return rel_path
    if frames and m.lastindex and m.lastindex >= 2:
        return f"{m.group(1)}/{int(m.group(2)) // frames}"
    return m.group(1) if m.lastindex else m.group(0)


def split_of(group: str, seed: int, test_fraction: float) -> str:
    """'test' for a seeded hash of the group below test_fraction, else 'train'."""
    h = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    return "test" if u < test_fraction else "train"


def _r(a: np.ndarray, digits: int) -> list:
    return np.round(np.asarray(a, np.float64), digits).tolist()


def hand_record(h: TeacherHand) -> dict[str, Any]:
    """One hand of a label file; `origin` says how the teacher found it (palm / tile / pose /
    pose-box). A box-level hand (`level: "box"`, teacher v2) has a box and a side but no measured
    keypoints: its `keypoints2d` are a template placed by the body's hand points (for drawing
    only; readers must not supervise or score them) and it has no depth or world landmarks."""
    common = {  # both levels; a box-level hand's keypoints2d are its template
        "side": h.side,
        "right_prob": round(h.right_prob, 4),
        "presence": round(h.presence, 4),
        "palm_score": round(h.palm_score, 4),
        "box": _r(h.box, 2),
        "palm_box": _r(h.palm_box, 2),
        "keypoints2d": _r(h.keypoints2d, 2),
    }
    if h.level == "box":
        return {**common, "origin": h.origin, "level": "box"}
    rec: dict[str, Any] = {**common, "depth": _r(h.depth, 2), "world": _r(h.world, 5), "origin": h.origin}
    if h.flip_err is not None:
        rec["flip_err"] = round(h.flip_err, 4)
    return rec


def label_source(
    images: Iterable[Path],
    source: SourceInfo,
    options: LabelOptions,
    teacher: Callable[[np.ndarray], list[TeacherHand]] | None = None,
    report: Callable[[str], None] = print,
    progress: Callable[[Iterable], Iterable] = lambda x: x,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Label every image with `teacher` (any teacher version; default v1's `HandTeacher`);
    returns (records, counts). Bad files are reported and counted."""
    teacher = teacher or HandTeacher(max_hands=options.max_hands)
    seen: set[str] = set()
    records: list[dict[str, Any]] = []
    n = {
        "files": 0,
        "bad_files": 0,
        "duplicates": 0,
        "images": 0,
        "teacher_hands": 0,
        "box_hands": 0,
        "source_boxes": 0,
        "matched_boxes": 0,
        "missed_boxes": 0,
        "unboxed_teacher_hands": 0,
        "images_without_box_file": 0,
        "photos_ignored_whole": 0,
        "train_images": 0,
        "test_images": 0,
    }
    root = source.root.resolve()
    for path in progress(sorted(images)):
        n["files"] += 1
        try:
            data = Path(path).read_bytes()
            image = read_rgb(path)
        except (BadInput, OSError) as exc:
            n["bad_files"] += 1
            report(f"skipped: {exc}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            n["duplicates"] += 1
            continue
        seen.add(digest)
        rel = Path(path).resolve().relative_to(root).as_posix()
        H, W = image.shape[:2]
        hands = teacher(image)
        boxes = read_boxes(options.boxes, Path(path), (W, H))
        rec_hands = [hand_record(h) for h in hands]
        ignore: list[list[float]] = []
        if boxes is not None:
            pairs = match_boxes(np.array([h.box for h in hands]).reshape(-1, 4), boxes)
            matched_t = {i for i, _ in pairs}
            matched_s = {j for _, j in pairs}
            for i, j in pairs:
                rec_hands[i]["source_box"] = j
            ignore = [_r(b, 1) for j, b in enumerate(boxes) if j not in matched_s]
            n["source_boxes"] += len(boxes)
            n["matched_boxes"] += len(pairs)
            n["missed_boxes"] += len(boxes) - len(pairs)
            n["unboxed_teacher_hands"] += len(hands) - len(matched_t)
        elif options.boxes != "none":
            n["images_without_box_file"] += 1
        if options.hand_in_every_photo and not hands and not ignore:
            ignore = [[0.0, 0.0, float(W), float(H)]]
            n["photos_ignored_whole"] += 1
        group = group_of(rel, options.group_regex, options.group_frames)
        split = split_of(group, options.seed, options.test_fraction)
        n[f"{split}_images"] += 1
        n["images"] += 1
        n["teacher_hands"] += len(hands)
        n["box_hands"] += sum(h.level == "box" for h in hands)
        records.append(
            {
                "path": rel,
                "sha256": digest,
                "width": W,
                "height": H,
                "split": split,
                "group": group,
                "hands": rec_hands,
                "ignore": ignore,
                "source_boxes": None if boxes is None else _r(boxes, 1),
            }
        )
    return records, n
