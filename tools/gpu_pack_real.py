"""The photo half of `tools/gpu_pack.py`: teacher-labelled training photos downscaled for the GPU
call, with their labels rewritten to the new pixel grid, chosen to fill a byte budget with the same
share of every set (one photo per near-duplicate group first). Split from gpu_pack.py so each file
keeps one job (weights / wheels / synthetic specs there, photos here)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path
from typing import Any


def scaled_record(rec: dict[str, Any], s: float, w: int, h: int, data: bytes, path: str) -> dict[str, Any]:
    """The label record of a photo shrunk by s (the loader's convention: u' = (u + 0.5) s - 0.5 for
    keypoints, boxes times s), so LabelledSet reads the same labels it would from the original."""

    def pts(p):
        return [[round((x + 0.5) * s - 0.5, 2), round((y + 0.5) * s - 0.5, 2)] for x, y in p]

    def box(b):
        return None if b is None else [round(v * s, 2) for v in b]

    hands = []
    for hand in rec["hands"]:
        hand = {**hand, "keypoints2d": pts(hand["keypoints2d"]), "box": box(hand["box"])}
        if hand.get("palm_box") is not None:
            hand["palm_box"] = box(hand["palm_box"])
        if hand.get("depth") is not None:
            hand["depth"] = [round(d * s, 2) for d in hand["depth"]]
        hands.append(hand)
    return {
        **rec,
        "path": path,
        "width": w,
        "height": h,
        "sha256": hashlib.sha256(data).hexdigest(),
        "hands": hands,
        "ignore": [box(b) for b in rec.get("ignore") or []],
        "source_boxes": None if rec.get("source_boxes") is None else [box(b) for b in rec["source_boxes"]],
    }


def ordered(records: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Shuffled train records, one per near-duplicate group first, then the rest."""
    rows = [r for r in records if r["split"] == "train"]
    random.Random(seed).shuffle(rows)
    seen: set[str] = set()
    first = [r for r in rows if not (r["group"] in seen or seen.add(r["group"]))]
    picked = {id(r) for r in first}
    return first + [r for r in rows if id(r) not in picked]


def encode(image_path: Path, max_side: int, quality: int) -> tuple[bytes, float, int, int]:
    import cv2

    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{image_path}: cannot read the photo (is the set's image_root there?)")
    h, w = image.shape[:2]
    s = 1.0
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        w, h = max(1, round(w * s)), max(1, round(h * s))
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    _, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes(), s, w, h


def pack_real(
    roots: list[str],
    out: Path,
    budget: int,
    max_side: int,
    quality: int,
    seed: int,
    image_roots: dict[str, str],
) -> dict[str, Any]:
    """Downscaled photos + rewritten labels of `roots` into out/real and out/labels, within `budget`
    bytes (labels included); returns per-set counts."""
    from smhr.data.labelled import read_meta, read_records, require_trainable, write_labelled_set

    sets, queue = {}, []
    for root in roots:
        require_trainable(root)  # test-only sets never travel to a training run
        meta = read_meta(root)
        name = meta["source"]["name"]
        rows = ordered(list(read_records(root)), seed)
        sets[name] = {
            "meta": meta,
            "root": Path(image_roots.get(name, meta["image_root"])),
            "train": len(rows),
        }
        queue += [((i + 0.5) / len(rows), name, r) for i, r in enumerate(rows)]
    queue.sort(key=lambda q: (q[0], q[1]))
    packed: dict[str, list[dict[str, Any]]] = {name: [] for name in sets}
    used, label_bytes = 0, 0
    for _, name, rec in queue:
        data, s, w, h = encode(sets[name]["root"] / rec["path"], max_side, quality)
        row = scaled_record(rec, s, w, h, data, str(Path(rec["path"]).with_suffix(".jpg")))
        row_bytes = len(gzip.compress(json.dumps(row, separators=(",", ":")).encode(), 6))
        if used + label_bytes + len(data) + row_bytes + 4096 * len(sets) > budget:
            break  # full: the fraction of every set is the same up to one photo
        dst = out / "real" / name / row["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        used, label_bytes = used + len(data), label_bytes + row_bytes
        packed[name].append(row)
    report = {}
    for name, rows in packed.items():
        meta = {k: v for k, v in sets[name]["meta"].items() if k not in ("format", "version")}
        meta.update(
            image_root=str(out / "real" / name),
            packed={
                "from": str(sets[name]["root"]),
                "max_side": max_side,
                "quality": quality,
                "seed": seed,
                "train_images": sets[name]["train"],
                "packed_images": len(rows),
            },
        )
        write_labelled_set(out / "labels" / name, meta, rows)
        files = [p for p in (out / "real" / name).rglob("*") if p.is_file()] + list(
            (out / "labels" / name).iterdir()
        )
        report[name] = {
            "images": len(rows),
            "of_train_images": sets[name]["train"],
            "hands": sum(len(r["hands"]) for r in rows),
            "bytes": sum(p.stat().st_size for p in files),
        }
    return report
