"""Rebuild the photos of labelled real sets from their public git repositories, sha256-checked.

Why this exists: `labels/<set>/` keeps only labels and provenance (repo, commit, and per image the
path inside that repository and its sha256); the photos stay in their repositories. This script
writes each labelled image, byte for byte, from a local git mirror of the recorded commit into
`OUT/<set name>/<path>` and checks its sha256, so any machine can rebuild exactly the photos the
labels describe (training, `benchmarks/bench_real.py`, relabelling).

Usage (numpy-free, git only):
    python tools/rebuild_real.py labels/* --out /work/data/real --mirrors /work/.mirror
The mirror of `owner/name` is looked for at MIRRORS/owner+name/repo(/.git) (what the `fetch` tool
writes) or MIRRORS/owner+name; `git clone --bare https://github.com/owner/name MIRRORS/owner+name`
makes one by hand. Each set prints one JSON line (written, already there, missing, bad sha256);
the exit code is 1 when any file is missing or differs. Already-present files with the right
sha256 are kept.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any


def find_git_dir(mirrors: Path, repo: str) -> Path | None:
    """The git directory of `repo` ("owner/name") under `mirrors`, or None."""
    base = mirrors / repo.replace("/", "+")
    for cand in (base / "repo" / ".git", base / "repo", base / ".git", base):
        if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
            return cand
    return None


def read_labels(labels: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(meta.json, records) of a labelled set (the format of `smhr.data.labelled`)."""
    meta = json.loads((labels / "meta.json").read_text())
    with gzip.open(labels / "labels.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return meta, records


def _sha256_file(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def companions(path: str) -> list[str]:
    """The source's own box files of image `path` (what `smhr label --boxes` reads): the Pascal VOC
    XML beside it and the YOLO txt in the `labels/` folder that mirrors `images/`."""
    p = PurePosixPath(path)
    parts = list(p.parts)
    out = [str(p.with_suffix(".xml"))]
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            out.append(str(PurePosixPath(*parts).with_suffix(".txt")))
            break
    return out


def rebuild(labels: Path, out: Path, mirrors: Path) -> dict[str, Any]:
    """Write every image of the labelled set `labels` (and the source's box files beside them, so the
    set can be relabelled) into `out` / set name; counts per outcome."""
    meta, records = read_labels(labels)
    src = meta["source"]
    name, repo, commit = src["name"], src["repo"], src["commit"]
    git_dir = find_git_dir(mirrors, repo)
    if git_dir is None:
        raise FileNotFoundError(
            f"{labels}: no git mirror of {repo} under {mirrors}; fetch it first "
            f"(git clone --bare https://github.com/{repo} {mirrors / repo.replace('/', '+')})"
        )
    dest = out / name
    counts = {"set": name, "repo": repo, "commit": commit, "images": len(records), "written": 0,
              "present": 0, "missing": 0, "bad_sha256": 0, "box_files": 0,
              "box_files_written": 0, "dest": str(dest)}
    todo: list[tuple[str, str | None]] = [
        (r["path"], r["sha256"]) for r in records if _sha256_file(dest / r["path"]) != r["sha256"]
    ]
    counts["present"] = len(records) - len(todo)
    tree = set(subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", commit],
                              check=True, capture_output=True, text=True).stdout.splitlines())
    boxes = sorted({c for r in records for c in companions(r["path"]) if c in tree})
    counts["box_files"] = len(boxes)
    todo += [(b, None) for b in boxes if not (dest / b).is_file()]
    if not todo:
        return counts
    # one `git cat-file --batch` process for all blobs: "<size> bytes" header, content, newline
    proc = subprocess.Popen(["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    problems: list[str] = []
    for path, sha in todo:
        proc.stdin.write(f"{commit}:{path}\n".encode())
        proc.stdin.flush()
        header = proc.stdout.readline().decode().split()
        if len(header) != 3 or header[1] != "blob":
            counts["missing"] += 1
            problems.append(f"{name}: {path} not in {repo}@{commit[:8]}")
            continue
        data = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)
        if sha is not None and hashlib.sha256(data).hexdigest() != sha:
            counts["bad_sha256"] += 1
            problems.append(f"{name}: {path} sha256 differs from the labels")
            continue
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        counts["written" if sha is not None else "box_files_written"] += 1
    proc.stdin.close()
    proc.wait()
    for p in problems[:20]:
        print(p, file=sys.stderr)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labels", nargs="+", help="labelled set folders (labels/<set>)")
    ap.add_argument("--out", required=True, help="images go to OUT/<set name>/<path in the repo>")
    ap.add_argument("--mirrors", default="/work/.mirror", help="folder of git mirrors (owner+name)")
    args = ap.parse_args()
    bad = 0
    for lab in args.labels:
        try:
            c = rebuild(Path(lab), Path(args.out), Path(args.mirrors))
        except (FileNotFoundError, KeyError, json.JSONDecodeError, OSError) as e:
            print(f"{lab}: {e}", file=sys.stderr)
            bad += 1
            continue
        print(json.dumps(c))
        bad += c["missing"] + c["bad_sha256"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
