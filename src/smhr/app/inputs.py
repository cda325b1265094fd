"""Which files `smhr demo` runs and how: folders, globs and paths expanded into one list of inputs
(problems as one line each, never a crash), the bundled samples, and each input's mode and side
check under `--mode auto` / `--side-check auto` (images: photo mode, checked; videos: fast, not).

Why apart from the command: these are pure file-list rules, and `smhr.app.video` and the
benchmarks ask them too without the demo's outputs code.
"""

from __future__ import annotations

import glob
import importlib.resources
from pathlib import Path

from smhr.io.images import IMAGE_EXTENSIONS

__all__ = ["VIDEO_EXTENSIONS", "bundled_samples", "check_for", "expand_inputs", "mode_for"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def mode_for(mode: str, path: Path) -> str:
    """The inference mode of one input: `--mode auto` is photo for images, fast for videos."""
    return mode if mode != "auto" else "fast" if path.suffix.lower() in VIDEO_EXTENSIONS else "photo"


def check_for(choice: str, path: Path) -> bool | None:
    """A crop check of one input (`Reconstructor.predict(side_check=, hand_check=)`) from its option
    (`--side-check` / `--hand-check`): auto skips it for videos (the fast path's speed) and keeps the
    reconstructor's for images; on: None (the reconstructor's, loaded with the classifier); off: False."""
    if choice == "off" or (choice == "auto" and path.suffix.lower() in VIDEO_EXTENSIONS):
        return False
    return None


def bundled_samples() -> list[Path]:
    """The sample images that ship with the package."""
    root = Path(str(importlib.resources.files("smhr") / "assets" / "samples"))
    return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def expand_inputs(inputs: list[str], out: Path | None = None) -> tuple[list[Path], list[str]]:
    """(files to process, problems): folders give their images and videos (sorted, not recursive);
    patterns with * ? [ are globbed; a missing path or an empty match is a problem, not a crash.
    Overlays and annotated videos that the demo wrote into `out` are skipped when a folder or a
    pattern reaches them (an `--out` that is also the input folder), not when named one by one."""
    from smhr.app.outputs import is_demo_output

    files: list[Path] = []
    problems: list[str] = []
    media = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
    out_real = out.resolve() if out is not None else None

    def ours(q: Path) -> bool:
        return out_real is not None and is_demo_output(q) and q.resolve().parent == out_real

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir()  # hidden files too are left out, as glob does
                           if q.is_file() and q.suffix.lower() in media and not q.name.startswith(".")
                           and not ours(q))  # fmt: skip
            if not found:
                problems.append(f"{p}: folder has no images or videos ({', '.join(media)})")
            files += found
        elif p.is_file():
            files.append(p)
        elif any(c in item for c in "*?["):
            found = sorted(Path(q) for q in glob.glob(item) if Path(q).is_file() and not ours(Path(q)))
            if not found:
                problems.append(f"{item}: pattern matches no file")
            files += found
        else:
            problems.append(f"{p}: no such file or folder")
    unique: dict[Path, Path] = {}  # a file named twice (a folder and one of its files) is one input
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values()), problems
