"""List the images of a new photo source that are new in content: one per augmented-copy group, none
that (flipped or not) looks like a photo of an already labelled set or of an image listed before it.

Why: Roboflow exports hold each photo 2-3 times (flips, crops, noise), and different exports share
photos (e.g. "Glove Hand and Bare Hand" and ragadag-hands), so counting or labelling files would
count the same photo several times and could put a training photo into a test-only source. Content,
not file bytes, decides: a 16x16 grey thumbnail of the whole image (stretched to a square, so a
640x640 squash of the same photo still matches), thresholded at its mean (256 bits); two images are
the same photo when the bits differ in at most --max-bits places under any of the four flips.

    python tools/select_unique.py SOURCE_ROOT IMAGE_FOLDERS... --against labels/* \
        --image-base /work/data/real --out list.txt
prints one JSON line of counts; `list.txt` has one image path per line (relative to SOURCE_ROOT).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np

GROUP = re.compile(r"^(.*?)(?:\.rf\.[0-9a-f]+)?\.(?:jpe?g|png)$", re.IGNORECASE)
EXTS = {".jpg", ".jpeg", ".png"}
_POP = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def thumb_bits(path: Path) -> np.ndarray | None:
    """[4, 32] uint8: packed 256-bit mean-threshold hashes of the image and its three flips."""
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        return None
    t = cv2.resize(img, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    out = [t, t[:, ::-1], t[::-1], t[::-1, ::-1]]
    return np.stack([np.packbits((v > v.mean()).reshape(-1)) for v in out])


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances [len(a), len(b)] between packed hashes [N, 32] and [M, 32]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.int32)
    return _POP[a[:, None, :] ^ b[None, :, :]].sum(-1, dtype=np.int32)


def group_key(name: str) -> str:
    m = GROUP.match(name)
    return m.group(1) if m else name


def existing_hashes(labels: list[str], image_base: Path) -> tuple[np.ndarray, set[str]]:
    """Unflipped hashes [N, 32] and file-name group keys of every image of the labelled sets."""
    hashes, keys = [], set()
    for lab in labels:
        meta = json.loads((Path(lab) / "meta.json").read_text())
        root = image_base / meta["source"]["name"]
        with gzip.open(Path(lab) / "labels.jsonl.gz", "rt") as f:
            for line in f:
                rec = json.loads(line)
                keys.add(group_key(Path(rec["path"]).name))
                h = thumb_bits(root / rec["path"])
                if h is not None:
                    hashes.append(h[0])
    return np.stack(hashes) if hashes else np.zeros((0, 32), np.uint8), keys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="the source's root (paths in --out are relative to it)")
    ap.add_argument("folders", nargs="+", help="image folders under the root")
    ap.add_argument("--against", nargs="*", default=[], help="labelled sets whose photos are excluded")
    ap.add_argument("--image-base", default="/work/data/real", help="their images: BASE/<set name>")
    ap.add_argument("--max-bits", type=int, default=24, help="same photo at <= this many differing bits")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    root = Path(args.root)
    old, old_keys = existing_hashes(args.against, Path(args.image_base))
    files = sorted(p for f in args.folders for p in Path(f).rglob("*") if p.suffix.lower() in EXTS)
    groups: dict[str, Path] = {}
    for p in files:
        groups.setdefault(group_key(p.name), p)
    counts = {"files": len(files), "groups": len(groups), "same_name_as_existing": 0,
              "same_content_as_existing": 0, "same_content_within": 0, "unreadable": 0}
    kept: list[Path] = []
    kept_h = np.zeros((0, 32), np.uint8)
    for key, p in groups.items():
        if key in old_keys:
            counts["same_name_as_existing"] += 1
            continue
        h = thumb_bits(p)
        if h is None:
            counts["unreadable"] += 1
            print(f"{p}: unreadable image, skipped", file=sys.stderr)
            continue
        if (distances(h, old) <= args.max_bits).any():
            counts["same_content_as_existing"] += 1
            continue
        if (distances(h, kept_h) <= args.max_bits).any():
            counts["same_content_within"] += 1
            continue
        kept.append(p)
        kept_h = np.concatenate([kept_h, h[:1]])
    Path(args.out).write_text("".join(f"{p.relative_to(root)}\n" for p in kept))
    print(json.dumps({**counts, "unique": len(kept)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
