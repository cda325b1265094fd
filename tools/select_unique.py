"""List the images of a new photo source that are new in content: one per augmented-copy group, none
that (flipped or not) looks like a photo of an already labelled set or of an image listed before it.

Why: Roboflow exports hold each photo 2-3 times (flips, crops, noise), and different exports share
photos (e.g. "Glove Hand and Bare Hand" and ragadag-hands), so counting or labelling files would
count the same photo several times and could put a training photo into a test-only source. Content,
not file bytes, decides, in two steps:
1. a 16x16 grey thumbnail of the whole image (stretched to a square, so a 640x640 squash of the same
   photo still matches), thresholded at its mean (256 bits): a candidate pair differs in at most
   --max-bits places under one of the four flips;
2. the pair is the same photo only if its details agree too: the correlation of 32x32 high-pass
   thumbnails (the grey thumbnail minus its blur) under the best flip is at least --min-detail-corr.
   Why: on plain backgrounds the bits of step 1 see only light and layout, and matched 42 of 216
   finger-spelling photos to unrelated photos of other sets (11-24 bits; their detail correlation
   was at most 0.27), while a squashed, recompressed or flipped copy keeps it near 1.

    python tools/select_unique.py SOURCE_ROOT IMAGE_FOLDERS... --against labels/* \
        --image-base /work/data/real --out list.txt
prints one JSON line of counts (photos dropped as already labelled, per set they resemble); `list.txt`
has one image path per line (relative to SOURCE_ROOT). `--dropped FILE` lists each photo dropped as a
photo of a labelled set with the image it matched and the bit distance, so a reader can look at the
pairs before trusting the drop.
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


def _flips(t: np.ndarray) -> list[np.ndarray]:
    return [t, t[:, ::-1], t[::-1], t[::-1, ::-1]]


def hash_bits(grey: np.ndarray) -> np.ndarray:
    """[4, 32] uint8: packed 256-bit mean-threshold hashes of a grey image and its three flips."""
    t = cv2.resize(grey, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.stack([np.packbits((v > v.mean()).reshape(-1)) for v in _flips(t)])


def thumb_bits(path: Path) -> np.ndarray | None:
    """`hash_bits` of an image file; None when it cannot be read."""
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if grey is None else hash_bits(grey)


def detail(grey: np.ndarray) -> np.ndarray:
    """[4, 1024] float32: the 32x32 high-pass thumbnail of the image and its three flips, each
    scaled to zero mean and unit length, so a dot product is their correlation."""
    t = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    hp = t - cv2.GaussianBlur(t, (0, 0), 2.0)
    out = np.stack([v.reshape(-1) for v in _flips(hp)])
    out = out - out.mean(1, keepdims=True)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def fingerprint(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(hash bits [4, 32], detail [4, 1024]) of an image file; None when it cannot be read."""
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        return None
    return hash_bits(grey), detail(grey)


def same_photo(bits: np.ndarray, det: np.ndarray, bits_old: np.ndarray, det_old: np.ndarray,
               max_bits: int, min_corr: float) -> tuple[np.ndarray, np.ndarray]:
    """Which of the old unflipped fingerprints (bits [N, 32], detail [N, 1024]) show the same photo
    as the new one (all four flips: bits [4, 32], detail [4, 1024]); returns (same [N] bool, bits to
    each [N])."""
    to_old = distances(bits, bits_old).min(0)  # [N]: the best of the new photo's four flips
    close = to_old <= max_bits
    same = np.zeros(len(bits_old), bool)
    if close.any():
        same[close] = (det @ det_old[close].T).max(0) >= min_corr
    return same, to_old


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances [len(a), len(b)] between packed hashes [N, 32] and [M, 32]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.int32)
    return _POP[a[:, None, :] ^ b[None, :, :]].sum(-1, dtype=np.int32)


def group_key(name: str) -> str:
    m = GROUP.match(name)
    return m.group(1) if m else name


def existing_hashes(
    labels: list[str], image_base: Path
) -> tuple[np.ndarray, np.ndarray, set[str], list[str]]:
    """Unflipped hashes [N, 32] and details [N, 1024] of every image of the labelled sets, their
    file-name group keys, and for each image "set:path"."""
    hashes, details, keys, origins = [], [], set(), []
    for lab in labels:
        meta = json.loads((Path(lab) / "meta.json").read_text())
        root = image_base / meta["source"]["name"]
        with gzip.open(Path(lab) / "labels.jsonl.gz", "rt") as f:
            for line in f:
                rec = json.loads(line)
                keys.add(group_key(Path(rec["path"]).name))
                fp = fingerprint(root / rec["path"])
                if fp is not None:
                    hashes.append(fp[0][0])
                    details.append(fp[1][0])
                    origins.append(f"{Path(lab).name}:{rec['path']}")
    if not hashes:
        return np.zeros((0, 32), np.uint8), np.zeros((0, 1024), np.float32), keys, origins
    return np.stack(hashes), np.stack(details), keys, origins


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="the source's root (paths in --out are relative to it)")
    ap.add_argument("folders", nargs="+", help="image folders under the root")
    ap.add_argument("--against", nargs="*", default=[], help="labelled sets whose photos are excluded")
    ap.add_argument("--image-base", default="/work/data/real", help="their images: BASE/<set name>")
    ap.add_argument("--max-bits", type=int, default=24, help="candidate pair at <= this many differing bits")
    ap.add_argument("--min-detail-corr", type=float, default=0.5,
                    help="a candidate pair is the same photo at >= this high-pass correlation")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dropped", help="write the photos dropped as labelled ones: path, match, bits (TSV)")
    args = ap.parse_args()
    root = Path(args.root)
    old, old_det, old_keys, origins = existing_hashes(args.against, Path(args.image_base))
    files = sorted(p for f in args.folders for p in Path(f).rglob("*") if p.suffix.lower() in EXTS)
    groups: dict[str, Path] = {}
    for p in files:
        groups.setdefault(group_key(p.name), p)
    counts = {"files": len(files), "groups": len(groups), "same_name_as_existing": 0,
              "same_content_as_existing": 0, "same_content_within": 0, "unreadable": 0}
    by_set: dict[str, int] = {}
    dropped: list[str] = []
    kept: list[Path] = []
    kept_h, kept_d = np.zeros((0, 32), np.uint8), np.zeros((0, 1024), np.float32)
    for key, p in groups.items():
        if key in old_keys:
            counts["same_name_as_existing"] += 1
            continue
        fp = fingerprint(p)
        if fp is None:
            counts["unreadable"] += 1
            print(f"{p}: unreadable image, skipped", file=sys.stderr)
            continue
        same, to_old = same_photo(*fp, old, old_det, args.max_bits, args.min_detail_corr)
        if same.any():
            counts["same_content_as_existing"] += 1
            best = int(np.flatnonzero(same)[to_old[same].argmin()])
            name = origins[best].split(":", 1)[0]
            by_set[name] = by_set.get(name, 0) + 1
            dropped.append(f"{p.relative_to(root)}\t{origins[best]}\t{int(to_old[best])}\n")
            continue
        if same_photo(*fp, kept_h, kept_d, args.max_bits, args.min_detail_corr)[0].any():
            counts["same_content_within"] += 1
            continue
        kept.append(p)
        kept_h = np.concatenate([kept_h, fp[0][:1]])
        kept_d = np.concatenate([kept_d, fp[1][:1]])
    Path(args.out).write_text("".join(f"{p.relative_to(root)}\n" for p in kept))
    if args.dropped:
        Path(args.dropped).write_text("".join(dropped))
    print(json.dumps({**counts, "unique": len(kept), "same_content_as_existing_by_set": by_set}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
