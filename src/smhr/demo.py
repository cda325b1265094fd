"""`smhr demo INPUTS... --out DIR`: reconstruct every hand in images (files, folders, globs) and
write, per image, an overlay PNG, meshes (OBJ + PLY per hand, one GLB) and a JSON record.

Bad inputs never stop the batch: each failure is one line on stderr naming the file and the fix,
the run goes on, and the exit code is 1 when anything failed (2 for bad options). With no INPUTS,
the bundled sample images run (our own synthetic renders, free to redistribute).
"""

from __future__ import annotations

import glob
import importlib.resources
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from smhr.data.images import IMAGE_EXTENSIONS
from smhr.data.sample import BadInput

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def bundled_samples() -> list[Path]:
    """The sample images that ship with the package."""
    root = Path(str(importlib.resources.files("smhr") / "assets" / "samples"))
    return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """(files to process, problems): folders give their images and videos (sorted, not recursive);
    patterns with * ? [ are globbed; a missing path or an empty match is a problem, not a crash."""
    files: list[Path] = []
    problems: list[str] = []
    media = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in media)
            if not found:
                problems.append(f"{p}: folder has no images or videos ({', '.join(media)})")
            files += found
        elif p.is_file():
            files.append(p)
        elif any(c in item for c in "*?["):
            found = sorted(Path(q) for q in glob.glob(item) if Path(q).is_file())
            if not found:
                problems.append(f"{item}: pattern matches no file")
            files += found
        else:
            problems.append(f"{p}: no such file or folder")
    return files, problems


@dataclass
class DemoReport:
    processed: int = 0
    hands: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


OVERLAY_MAX_SIDE = 1600


def _overlay_scale(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image shrunk to at most OVERLAY_MAX_SIDE px a side (overlays of huge photos would take
    seconds to render and nobody views them at full size) and the 3x3 pixel map to it."""
    import cv2

    H, W = image.shape[:2]
    s = min(1.0, OVERLAY_MAX_SIDE / max(H, W))
    if s == 1.0:
        return image, np.eye(3)
    w, h = round(W * s), round(H * s)
    sx = w / W  # aspect kept to rounding; pixel centres: u' = (u + 0.5) s - 0.5
    A = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sx, 0.5 * sx - 0.5], [0.0, 0.0, 1.0]])
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), A


def process_image(rec, path: Path, out: Path, *, focal: float | None, with_vertices: bool,
                  meshes: bool, stem: str | None = None) -> int:  # fmt: skip
    """Reconstruct one image file and write its outputs; returns the number of hands."""
    import cv2

    from smhr.api import to_rgb_uint8
    from smhr.io.exports import image_record, write_hand_meshes, write_json
    from smhr.render.overlay import overlay_hands

    image = to_rgb_uint8(path)
    hands = rec.predict(image, focal=focal)
    stem = stem or path.stem
    faces = rec.faces
    small, A = _overlay_scale(image)
    K = A @ hands[0].K if hands else np.eye(3)
    picture = overlay_hands(
        small, [h.vertices for h in hands], [faces[h.side] for h in hands], K,
        keypoints2d=[h.keypoints2d * A[0, 0] + A[0, 2] for h in hands], sides=[h.side for h in hands],
        side_view=True,
    )  # fmt: skip
    cv2.imwrite(str(out / f"{stem}_overlay.png"), picture[..., ::-1])
    if meshes:
        write_hand_meshes(out, stem, hands, faces)
    kind = rec.net.config.hand_model
    write_json(out / f"{stem}.json", image_record(str(path), image.shape[:2], hands, kind, with_vertices))
    return len(hands)


def run_demo(rec, files: list[Path], out: Path, *, focal: float | None = None, with_vertices: bool = False,
             meshes: bool = True, progress: bool = True) -> DemoReport:  # fmt: skip
    """Process every file (images; videos through `smhr.video`), collecting failures."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    report = DemoReport()
    t0 = time.perf_counter()
    stems: dict[str, int] = {}
    bar = tqdm(files, desc="smhr demo", unit="file", disable=not progress)

    def say(message: str) -> None:
        with tqdm.external_write_mode():  # on its own line, not glued to the progress bar
            typer.echo(f"error: {message}", err=True)

    for path in bar:
        # two inputs with the same name (from different folders) must not overwrite each other
        n = stems.get(path.stem, 0)
        stems[path.stem] = n + 1
        stem = path.stem if n == 0 else f"{path.stem}_{n}"
        try:
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                from smhr.video import process_video

                report.hands += process_video(rec, path, out, stem=stem, focal=focal, progress=False)
            else:
                report.hands += process_image(rec, path, out, focal=focal, with_vertices=with_vertices,
                                              meshes=meshes, stem=stem)  # fmt: skip
            report.processed += 1
        except BadInput as e:
            report.failures.append(str(e))
            say(str(e))
        except Exception as e:  # one broken file must not end the batch; say which and why
            msg = f"{path}: {type(e).__name__}: {e}"
            report.failures.append(msg)
            say(msg)
    report.seconds = time.perf_counter() - t0
    return report


def demo_command(
    inputs: Annotated[list[str] | None, typer.Argument(help="Images, folders, globs or videos "
                                                       "(default: the bundled sample images).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("smhr-demo"),
    weights: Annotated[Path | None, typer.Option("--weights", help="model.pt (default: bundled).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    max_hands: Annotated[int, typer.Option("--max-hands", min=1, max=64)] = 10,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Minimum detection score (default: the weights' calibrated "
        "value, else 0.3).")] = None,
    input_size: Annotated[int | None, typer.Option(
        "--input-size", min=64, max=2048, help="Network input side, a multiple of 32 (default: the size "
        "the weights were trained at; smaller is faster, e.g. 256 for the bundled 320 px model).")] = None,
    focal: Annotated[float | None, typer.Option("--focal", min=1.0, help="Focal length in pixels of the "
                                                "input images: places hands metrically.")] = None,
    vertices: Annotated[bool, typer.Option("--vertices", help="Also put vertices in the JSON.")] = False,
    meshes: Annotated[bool, typer.Option("--meshes/--no-meshes", help="Write OBJ/PLY/GLB.")] = True,
) -> None:
    """Find every hand in the inputs and write overlays, meshes and JSON to --out."""
    from smhr.api import Reconstructor

    if device not in ("auto", "cpu", "cuda"):
        typer.echo(f"error: --device must be auto, cpu or cuda, got {device!r}", err=True)
        raise typer.Exit(2)
    files, problems = expand_inputs(inputs) if inputs else (bundled_samples(), [])
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    try:
        rec = Reconstructor.from_pretrained(weights, device, threshold=threshold, max_hands=max_hands,
                                            input_size=input_size)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    report = run_demo(rec, files, out, focal=focal, with_vertices=vertices, meshes=meshes)
    failed = len(report.failures) + len(problems)
    typer.echo(f"{report.processed} file(s), {report.hands} hand(s) -> {out}  "
               f"({report.seconds:.1f} s; {failed} failed)")  # fmt: skip
    if failed:
        raise typer.Exit(1)
