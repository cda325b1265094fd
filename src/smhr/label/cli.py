"""`smhr label`: give real photos weak 2D labels with the offline teacher (docs/real-photos.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from smhr.io.images import IMAGE_EXTENSIONS
from smhr.io.messages import fail


def _images(inputs: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            out.extend(
                f for f in sorted(p.rglob("*")) if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()
            )
        elif p.is_file():
            out.append(p)
        else:
            fail(f"{p}: no such file or folder; pass image files or folders of images")
    return out


def _dataset_images(kind: str, inputs: list[Path], split: str | None) -> list[Path]:
    """The image files of the registered dataset `kind` at the one root in `inputs` (each file
    once, in the dataset's order): labelling reads the same loader registry as training and
    evaluation (`smhr.data.registry`)."""
    from smhr.data.registry import open_dataset, openable

    if kind not in openable():
        fail(f"--dataset {kind!r}: choose one of {', '.join(openable())}")
    if len(inputs) != 1 or not inputs[0].is_dir():
        fail(f"--dataset {kind}: pass exactly one input, the dataset's root folder")
    try:
        dataset = open_dataset(kind, inputs[0], split)
    except (FileNotFoundError, ValueError) as exc:  # DatasetLayoutError is a FileNotFoundError
        fail(f"--dataset {kind} at {inputs[0]}: {exc}")
    return list(dict.fromkeys(dataset.image_path(i) for i in range(len(dataset))))


def label_command(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: meta.json + labels.jsonl.gz.")],
    name: Annotated[str, typer.Option("--name", help="Short name of the source (e.g. subhih-hands).")],
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Folder the stored paths are relative to (the source repository's root); "
            "default: the first input folder.",
        ),
    ] = None,
    repo: Annotated[str, typer.Option("--repo", help="Public repository of the source, owner/name.")] = "",
    commit: Annotated[str, typer.Option("--commit", help="Commit of that repository.")] = "",
    licence: Annotated[str, typer.Option("--licence", help="Licence of the images (e.g. Apache-2.0).")] = "",
    url: Annotated[str, typer.Option("--url", help="Where the source is described.")] = "",
    boxes: Annotated[
        str, typer.Option("--boxes", help="The source's own hand boxes: voc, yolo, yolo-obb or none.")
    ] = "none",
    group_regex: Annotated[
        str | None,
        typer.Option(
            "--group-regex", help="Regex on the relative path naming near-duplicate groups (first group)."
        ),
    ] = None,
    group_frames: Annotated[
        int,
        typer.Option("--group-frames", help="With a regex capturing (name, frame number): frames per group."),
    ] = 0,
    test_fraction: Annotated[float, typer.Option("--test-fraction", help="Held-out share of groups.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out split.")] = 0,
    max_hands: Annotated[int, typer.Option("--max-hands", help="Most hands per image.")] = 4,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Read the images through a registered dataset loader (freihand, rhd, ho3d, interhand, "
            "composed, labelled, coco_hands): the one input is that dataset's root.",
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="With --dataset: the split to read (default: the loader's).")
    ] = None,
    teacher_version: Annotated[
        str,
        typer.Option(
            "--teacher",
            help="Teacher version: v1 (MediaPipe Hands' whole-image pipeline, exact) or v2 (v1 + tiles + "
            "hands from body pose; finds small and distant hands, and labels hands too small for the "
            "landmark model as box-level hands: box and side only).",
        ),
    ] = "v2",
    hand_in_every_photo: Annotated[
        bool,
        typer.Option(
            "--hand-in-every-photo",
            help="The source shows a hand in every photo: a photo where the teacher finds none is "
            "ignored whole (its hand is unlabelled, not absent).",
        ),
    ] = False,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="'train' (may enter training mixtures) or 'test' (test only: every training mixture "
            "refuses it); default: the role already in --out's meta.json, else 'train'.",
        ),
    ] = None,
) -> None:
    """Label photos with the 2D teacher (MediaPipe's hand and pose models, offline): per hand 21 keypoints,
    side, scores and relative 3D; per image provenance, held-out split and ignore regions (the
    source's boxed hands the teacher missed). The teacher runs in onnxruntime, which smhr installs."""
    from tqdm import tqdm

    from smhr.data.labelled import ROLES, previous_role, write_labelled_set
    from smhr.label.boxes import BOX_READERS
    from smhr.label.writer import LabelOptions, SourceInfo, label_source
    from smhr.teacher import TEACHER_VERSIONS, make_teacher, model_files

    if teacher_version not in TEACHER_VERSIONS:
        fail(f"--teacher {teacher_version!r}: choose one of {', '.join(TEACHER_VERSIONS)}")
    if boxes not in BOX_READERS:
        fail(f"--boxes {boxes!r}: choose one of {BOX_READERS.choices()}")
    if not 0.0 <= test_fraction < 1.0:
        fail(f"--test-fraction {test_fraction}: must be in [0, 1)")
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder; choose a folder path")
    if role is not None and role not in ROLES:
        fail(f"--role {role!r}: choose one of {', '.join(ROLES)}")
    role = role or previous_role(out)
    images = _images(inputs) if dataset is None else _dataset_images(dataset, inputs, split)
    if not images:
        fail("no images found in the inputs; pass .jpg/.png files or folders that hold them")
    base = root if root is not None else next((p for p in inputs if p.is_dir()), images[0].parent)
    base = base.resolve()
    outside = [p for p in images if not p.resolve().is_relative_to(base)]
    if outside:
        fail(f"{outside[0]} is not under --root {base}; pass the source repository's root as --root")
    source = SourceInfo(name=name, root=base, repo=repo, commit=commit, licence=licence, url=url)
    options = LabelOptions(
        boxes=boxes,
        group_regex=group_regex,
        group_frames=group_frames,
        test_fraction=test_fraction,
        seed=seed,
        max_hands=max_hands,
        hand_in_every_photo=hand_in_every_photo,
    )
    bar = tqdm(images, desc=f"label {name}", unit="img")

    def report(msg: str) -> None:
        bar.write(msg, file=__import__("sys").stderr)

    teacher_model = make_teacher(teacher_version, max_hands=max_hands)
    records, counts = label_source(
        images, source, options, teacher_model, report=report, progress=lambda it: bar
    )
    bar.close()
    teacher = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_files(teacher_version)}
    meta = {
        "source": {"name": name, "repo": repo, "commit": commit, "licence": licence, "url": url},
        "role": role,
        "image_root": str(base),
        "teacher": {
            "version": teacher_version,
            "models": teacher,
            "max_hands": max_hands,
            "min_palm_score": 0.5,
            "min_presence": 0.5,
            **(teacher_model.settings() if hasattr(teacher_model, "settings") else {}),
        },
        "split": {
            "seed": seed,
            "test_fraction": test_fraction,
            "group_regex": group_regex,
            "group_frames": group_frames,
        },
        **({"hand_in_every_photo": True} if hand_in_every_photo else {}),
        "counts": counts,
    }
    write_labelled_set(out, meta, records)
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
    if counts["bad_files"]:
        raise typer.Exit(code=1)
