"""`smhr demo INPUTS... --out DIR`: reconstruct every hand in images (files, folders, globs) and
write, per image, an overlay PNG, a textured overlay PNG (the photo beside the hands drawn with
their predicted albedo and lighting), meshes (OBJ + PLY per hand, one GLB; vertex colours = the
predicted albedo) and a JSON record.

Bad inputs never stop the batch: each failure is one line on stderr naming the file and the fix,
the run goes on, and the exit code is 1 when anything failed. Bad options (`--out` a file or
read-only, unreadable `--weights`) are one line and exit code 2 before any work. Outputs are
written all-or-nothing per input (temporary files, then renames), so a failure or a kill never
leaves half an output. With no INPUTS, the bundled sample images run (our own synthetic renders,
free to redistribute). `--mode auto` (the default) runs images in photo mode (whole view plus tiles:
small hands of whole-body photos are found, `smhr.runtime.tiling`; `--zoom-out`, `--mirror`: its
extra views) and videos in fast mode (one view per frame); each image's JSON records the mode.
`--side-check auto` and `--hand-check auto` (the defaults) also take each image hand's side, and
each candidate's score, from classifiers of its crop (`smhr.runtime.side_check`,
`smhr.runtime.hand_check`), and leave video frames to the network's answers (speed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from smhr.app.inputs import VIDEO_EXTENSIONS, bundled_samples, check_for, expand_inputs, mode_for
from smhr.errors import BadInput
from smhr.records import DEFAULT_THRESHOLD
from smhr.runtime.large_hands import LARGE_THRESHOLD
from smhr.runtime.options import MIRROR, ZOOM_OUT


@dataclass
class DemoReport:
    processed: int = 0
    hands: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    network_seconds: list[float] = field(default_factory=list)  # the network stage's, per image
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds spent per stage over all images: read, network (letterbox + network + hand
    models), overlay, meshes, write (JSON and files)."""

    def timed(self, stage: str, start: float) -> float:
        """Add the time since `start` to `stage`; returns now (the next stage's start)."""
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - start
        return now


OVERLAY_MAX_SIDE = 1600
# the textured overlay's NumPy rasteriser costs ~0.5 s and ~270 MB at 1600 px on a 12-MP photo with two
# large hands; at 800 px a side (1,600 px wide with the photo beside it) about a quarter of that
TEXTURED_MAX_SIDE = 800


def _overlay_scale(image: np.ndarray, max_side: int = OVERLAY_MAX_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """The image shrunk to at most max_side px a side (overlays of huge photos would take seconds to
    render and nobody views them at full size) and the 3x3 pixel map to it."""
    import cv2

    H, W = image.shape[:2]
    s = min(1.0, max_side / max(H, W))
    if s == 1.0:
        return image, np.eye(3)
    w, h = round(W * s), round(H * s)
    sx = w / W  # aspect kept to rounding; pixel centres: u' = (u + 0.5) s - 0.5
    A = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sx, 0.5 * sx - 0.5], [0.0, 0.0, 1.0]])
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), A


def _png(picture: np.ndarray) -> bytes:
    import cv2

    ok, png = cv2.imencode(".png", picture[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding of the overlay failed")
    return png.tobytes()


def process_image(rec, path: Path, out: Path, *, focal: float | None, with_vertices: bool, meshes: bool,
                  stem: str | None = None, report: DemoReport | None = None, source: str | None = None,
                  provenance: dict | None = None, textured: bool = True,
                  mode: str = "auto") -> list:  # fmt: skip
    """Reconstruct one image file and write its outputs, all of them or none (`StagedFiles`), replacing
    the stem's earlier outputs as a set (`outputs.publish`); returns its hands. mode: auto | photo |
    fast (auto: photo for an image)."""
    from smhr.app.api import to_rgb_uint8
    from smhr.app.outputs import publish, shown_path
    from smhr.app.provenance import NAMES, camera_for, with_mode
    from smhr.app.provenance import provenance as make_provenance
    from smhr.app.rig import rigged_hand_glb
    from smhr.hands.keypoints import SIDE_NAMES
    from smhr.hands.params import join_params
    from smhr.io.appearance import linear_from_srgb, vertex_rgba
    from smhr.io.atomic import StagedFiles
    from smhr.io.exports import SIDE_RGBA, hand_mesh_files, image_record, json_text
    from smhr.render.overlay import overlay_hands

    report = report or DemoReport()
    t = time.perf_counter()
    image = to_rgb_uint8(path)
    t = report.timed("read", t)
    mode = mode_for(mode, path)
    hands = rec.predict(image, focal=focal, mode=mode)
    start, t = t, report.timed("network", t)
    report.network_seconds.append(t - start)
    stem = stem or path.stem
    faces = rec.faces
    small, A = _overlay_scale(image)
    K = A @ hands[0].K if hands else np.eye(3)
    picture = overlay_hands(
        small, [h.vertices for h in hands], [faces[h.side] for h in hands], K,
        keypoints2d=[h.keypoints2d * A[0, 0] + A[0, 2] for h in hands], sides=[h.side for h in hands],
        side_view=True,
    )  # fmt: skip
    pngs = {f"{stem}_overlay.png": _png(picture)}
    if textured:
        from smhr.render.textured import overlay_textured_hands

        tex_image, tex_A = _overlay_scale(image, TEXTURED_MAX_SIDE)
        pngs[f"{stem}_textured.png"] = _png(overlay_textured_hands(tex_image, hands, faces, tex_A))
    t = report.timed("overlay", t)
    mesh_files = hand_mesh_files(stem, hands, faces, formats=("obj", "ply")) if meshes else {}
    if meshes and hands:
        mesh_files.update(hand_mesh_files(stem, hands, faces, formats=("glb",)))
        for k, h in enumerate(hands):  # the rigged hand: skeleton, weights, pose as joint rotations
            theta = join_params(h.global_orient, h.pose, h.betas, h.transl)
            name = f"hand{k}_{SIDE_NAMES[h.side]}"
            albedo = vertex_rgba(h)  # per-vertex albedo (linear, glTF's rule) under a white material
            colors = None if albedo is None else linear_from_srgb(albedo[:, :3] / 255.0)
            rgba = SIDE_RGBA[h.side] if albedo is None else (255, 255, 255, 255)
            mesh_files[f"{stem}_{name}.glb"] = rigged_hand_glb(rec.hand_models[h.side], theta, h.side,
                                                               name=name, rgba=rgba, colors=colors)
    t = report.timed("meshes", t)
    camera = camera_for(image.shape[:2], rec.input_size, focal)
    prov = with_mode(provenance or make_provenance(rec, None, focal), mode,
                     [list(b) for b in rec.tiles(image.shape[:2], mode)])
    record = image_record(shown_path(source if source is not None else path), image.shape[:2], hands,
                          rec.hand_model, with_vertices, camera=camera, provenance=prov, **NAMES)  # fmt: skip
    staged = StagedFiles()
    try:
        for name, data in pngs.items():
            staged.write(out / name, data)
        for name, data in mesh_files.items():
            staged.write(out / name, data)
        staged.write(out / f"{stem}.json", json_text(record))
        publish(staged, out, stem)
    except BaseException:
        staged.discard()
        raise
    report.timed("write", t)
    return hands


def _source(path: Path, bundled: bool) -> str:
    """`source` of a record: the path as the user gave it (or reached through the folder or pattern
    they gave); a bundled sample is `bundled:NAME`."""
    return f"bundled:{path.name}" if bundled else str(path)


def run_demo(rec, files: list[Path], out: Path, *, focal: float | None = None, with_vertices: bool = False,
             meshes: bool = True, progress: bool = True, weights: Path | None = None, bundled: bool = False,
             viewer: bool = True, textured: bool = True, mode: str = "auto",
             side_check: str = "auto", hand_check: str = "auto") -> DemoReport:  # fmt: skip
    """Process every file (images; videos through `smhr.app.video`), collecting failures: each is one
    line on stderr (`echo_error`) and the batch goes on. The bar is drawn on terminals only. Ends by
    writing the browser viewer (`OUT/index.html`) of the images done. mode: auto | photo | fast
    (`mode_for`). side_check, hand_check: auto | on | off, for videos (auto: off, the fast path's
    speed; images use the reconstructor's classifiers whenever it has them)."""
    from tqdm import tqdm

    from smhr.app.outputs import output_stems, shown_path
    from smhr.app.provenance import provenance
    from smhr.io.messages import echo_error, one_line

    out.mkdir(parents=True, exist_ok=True)
    report = DemoReport()
    t0 = time.perf_counter()
    prov = provenance(rec, weights, focal)
    shown: list[tuple[str, str, list]] = []
    bar = tqdm(files, desc="smhr demo", unit="file", disable=None if progress else True)
    for path, stem in zip(bar, output_stems(files), strict=True):  # a stem per input: none overwrites another
        try:
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                from smhr.app.video import process_video

                report.hands += process_video(rec, path, out, stem=stem, focal=focal, progress=False,
                                              source=_source(path, bundled), provenance=prov,
                                              mode=mode_for(mode, path), rigged=meshes,
                                              with_vertices=with_vertices,
                                              side_check=check_for(side_check, path),
                                              hand_check=check_for(hand_check, path))  # fmt: skip
            else:
                source = _source(path, bundled)
                hands = process_image(rec, path, out, focal=focal, with_vertices=with_vertices, meshes=meshes,
                                      stem=stem, report=report, source=source, provenance=prov,
                                      textured=textured, mode=mode)  # fmt: skip
                report.hands += len(hands)
                shown.append((stem, shown_path(source), hands))
            report.processed += 1
        except BadInput as e:
            msg = one_line(e)
        except OSError as e:  # writing the outputs: disk full, folder removed meanwhile, ...
            msg = f"{path}: cannot write its outputs to {out} ({one_line(e)}); free space or change --out"
        except Exception as e:  # one broken file must not end the batch; say which and why
            msg = f"{path}: unexpected {type(e).__name__}: {one_line(e, 200)}; please report it with the file"
        else:
            continue
        report.failures.append(msg)
        echo_error(msg)
    if viewer and shown:  # a run that shows nothing (typo, videos only) keeps the folder's earlier page
        from smhr.app import viewer as page

        try:
            page.write_viewer(out, shown, rec.faces)
            if len(shown) > page.MAX_IMAGES:  # the page holds every hand inline: say what it leaves out
                typer.echo(f"note: {out / 'index.html'} shows the first {page.MAX_IMAGES} of {len(shown)} "
                           f"images; every image's overlay, meshes and JSON are in {out}", err=True)
        except OSError as e:
            msg = f"{out / 'index.html'}: cannot write the viewer ({one_line(e)}); free space or change --out"
            report.failures.append(msg)
            echo_error(msg)
    report.seconds = time.perf_counter() - t0
    return report


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM (a `kill`, a job scheduler's stop) raises SystemExit(143) in the main thread, so the
    cleanup of half-written outputs runs as for Ctrl-C instead of the process vanishing with hidden
    temporary files left in --out."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def demo_command(
    inputs: Annotated[list[str] | None, typer.Argument(help="Images, folders, globs or videos "
                                                       "(default: the bundled sample images).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("smhr-demo"),
    weights: Annotated[Path | None, typer.Option("--weights", help="model.pt from `smhr train`, or an .onnx "
                                                 "from `smhr export --onnx` (default: bundled).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    max_hands: Annotated[int, typer.Option("--max-hands", min=1, max=64)] = 10,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", min=0.0, max=1.0, help="Minimum detection score (default: the weights' calibrated "
        f"value, else {DEFAULT_THRESHOLD}).")] = None,
    input_size: Annotated[int | None, typer.Option(
        "--input-size", min=64, max=2048, help="Network input side, a multiple of 32 (default: the size "
        "the weights were trained at, 256 for the bundled ones; smaller is faster, larger finds smaller "
        "hands).")] = None,
    focal: Annotated[float | None, typer.Option("--focal", min=1.0, help="Focal length in pixels of the "
                                                "input images: places hands metrically.")] = None,
    backend: Annotated[str, typer.Option(
        "--backend", help="auto | onnxruntime | torch (auto: onnxruntime on the CPU when the weights have an "
        "ONNX export, docs/network.md).")] = "auto",
    vertices: Annotated[bool, typer.Option("--vertices", help="Also put vertices in the JSON.")] = False,
    meshes: Annotated[bool, typer.Option("--meshes/--no-meshes", help="Write OBJ/PLY/GLB.")] = True,
    textured: Annotated[bool, typer.Option("--textured/--no-textured", help="Also write NAME_textured.png: "
                                           "the photo beside the hands drawn with their predicted albedo "
                                           "and lighting.")] = True,
    mode: Annotated[str, typer.Option("--mode", help="auto | photo | fast. photo: the whole image plus "
                                      "overlapping tiles, finds the small hands of whole-body photos "
                                      "(~10x the network time); fast: one view, the network's input size; "
                                      "auto: photo for images, fast for videos.")] = "auto",
    zoom_out: Annotated[float, typer.Option("--zoom-out", min=0.0, max=0.95, help="Photo mode: also the "
                                            "whole image shrunk to this share of the network input (hands "
                                            "filling the frame; 0: off).")] = ZOOM_OUT,
    mirror: Annotated[bool, typer.Option("--mirror/--no-mirror", help="Photo mode: also the mirrored image, "
                                         "voting on each hand's side.")] = MIRROR,
    large_hand_threshold: Annotated[float | None, typer.Option(
        "--large-hand-threshold", min=0.0, max=1.0, help="Keep a hand spanning most of the image (0.6 of "
        "its long side for the bundled weights) from this lower score when it overlaps no other hand (the "
        "network scores hands that fill the frame low). Default: the weights' stored value, else "
        f"{LARGE_THRESHOLD}; off: any value >= --threshold.")] = None,
    min_hand_side: Annotated[float | None, typer.Option(
        "--min-hand-side", min=0.0, max=0.5, help="Drop hands shorter than this share of the network "
        "input's side in their view (photo mode's tiles see small hands larger). Default: the weights' "
        "stored value, else no limit; 0: no limit.")] = None,
    side_check: Annotated[str, typer.Option(
        "--side-check", help="auto | on | off: also take each hand's side from a classifier of its own "
        "crop (~1 ms a hand on a CPU). auto: on for images, off for videos.")] = "auto",
    hand_check: Annotated[str, typer.Option(
        "--hand-check", help="auto | on | off: also score each candidate by a classifier of its own crop "
        "asking whether it is a hand (~1 ms a candidate). auto: on for images, off for videos.")] = "auto",
    timing: Annotated[bool, typer.Option("--timing", help="Print seconds per stage (read, network, overlay, "
                                         "meshes, write) and the network's seconds per image.")] = False,
) -> None:
    """Find every hand in the inputs and write overlays, meshes and JSON to --out."""
    from smhr.app.api import Reconstructor
    from smhr.app.outputs import check_out_dir, make_out_dir
    from smhr.io.messages import echo_error, fail, native_stderr_filtered

    if device not in ("auto", "cpu", "cuda"):
        fail(f"--device must be auto, cpu or cuda, got {device!r}")
    if mode not in ("auto", "photo", "fast"):
        fail(f"--mode must be auto, photo or fast, got {mode!r}")
    for name, choice in (("--side-check", side_check), ("--hand-check", hand_check)):
        if choice not in ("auto", "on", "off"):
            fail(f"{name} must be auto, on or off, got {choice!r}")
    if mode == "fast" and (zoom_out > 0 or mirror):
        fail("--zoom-out / --mirror add views to photo mode only: drop them, or use --mode photo "
             "(or auto, photo for images)")
    if device != "auto" and device != "cpu":
        from smhr.runtime.options import check_cuda

        try:
            check_cuda(device, cli=True)
        except RuntimeError as e:
            fail(e)
    problem = check_out_dir(out)
    if problem:
        fail(problem)
    files, problems = expand_inputs(inputs, out) if inputs else (bundled_samples(), [])
    try:
        rec = Reconstructor.from_pretrained(weights, device, threshold=threshold, max_hands=max_hands,
                                            input_size=input_size, backend=backend, zoom_out=zoom_out,
                                            mirror=mirror, side_check=side_check != "off",
                                            hand_check=hand_check != "off",
                                            large_hand_threshold="auto" if large_hand_threshold is None
                                            else large_hand_threshold,
                                            min_hand_side="auto" if min_hand_side is None
                                            else min_hand_side or None)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        fail(e)
    problem = make_out_dir(out)
    if problem:
        fail(problem)
    for p in problems:
        echo_error(p)
    # libjpeg's own warnings would name no file: our one line says it all
    with native_stderr_filtered(), _terminate_as_exit():
        report = run_demo(rec, files, out, focal=focal, with_vertices=vertices, meshes=meshes,
                          weights=weights, bundled=not inputs, textured=textured, mode=mode,
                          side_check=side_check, hand_check=hand_check)
    failed = len(report.failures) + len(problems)
    typer.echo(f"{report.processed} of {len(files) + len(problems)} input(s) done, {report.hands} hand(s) "
               f"-> {out}  ({report.seconds:.1f} s; {failed} failed)")  # fmt: skip
    if timing:
        typer.echo("seconds per stage: " + ", ".join(f"{k} {v:.3f}" for k, v in report.stages.items()))
        if report.network_seconds:
            per = np.asarray(report.network_seconds)
            typer.echo(f"network seconds per image (--mode {mode}): median {np.median(per):.3f}, "
                       f"max {per.max():.3f} over {len(per)} image(s)")
    if failed:
        raise typer.Exit(1)
