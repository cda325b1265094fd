"""Synthetic single-hand data written in FreiHAND's exact on-disk layout (`smhr synth`).

Why FreiHAND's layout: one loader (`smhr.data.freihand.FreiHAND`) then serves real and synthetic
data, and the multi-hand composer (`smhr compose`) takes either as its source.

Per image: a hand-model pose from the pose prior (articulation, shape, global orientation), a
pinhole camera (focal 1.8-2.8 x the image side, principal point at the image centre) placed so the
hand's projected box fills 40-80 % of the image side around the centre (like FreiHAND's crops),
skin albedo (a tone between light and dark, low-frequency per-vertex variation, lighter nails via
the model's part labels), random SH-9 lighting, a procedural background, then motion blur, sensor
noise and a random JPEG quality. Rendering is batched on the GPU when there is one (the image is
supersampled 2x for anti-aliased edges; the mask is the mesh's coverage of the pixel centres).
Switches (SynthConfig, `smhr synth --arm-prob / --glove-prob / --low-light-prob / --palm-cue-prob`):
an arm at the wrist (it may hide part of the hand: the mask and `*_vis.json` follow the depth test),
gloves, low light, a paler and creased palmar side; each draws from its own stream, so at 0 the
files are those of a run without the switch.

Files (N training, M evaluation records):
    training/rgb/%08d.jpg, training/mask/%08d.jpg (0/255 JPEG, like FreiHAND), training_K.json,
    training_xyz.json, training_verts.json, training_mano.json, training_scale.json,
    evaluation/rgb/%08d.jpg and evaluation_{K,xyz,verts,mano,scale}.json, meta.json; with an arm
    also {training,evaluation}_vis.json ([21] bools: keypoint not hidden behind the arm) and
    training/arm/%08d.png (255 = the arm where it is front-most; read into Sample.meta["arm_mask"]).
`*_mano.json` holds [[61]] per record in OUR layout (FreiHAND's is 48 pose + 10 shape + uv_root 2 +
scale 1): 0:3 global orientation (axis-angle, camera frame), 3:48 articulation (15 joints x
axis-angle, flat mean, the model's native joint order), 48:58 betas, 58:61 translation (metres)
such that `HandModel.forward(orient, pose, betas, transl)` reproduces `*_xyz` and `*_verts`.
`*_scale.json` is FreiHAND's reference-bone length: |xyz[10] - xyz[9]| (middle MCP -> PIP), m.
meta.json states the hand model, side(s), seed, package version, this layout and the keypoint
definition of *_xyz ("joints": the model's raw keypoints; `FreiHAND(..., keypoints=)` converts them).
Same seed (and device kind) -> byte-identical files: every chunk of CHUNK images draws its numbers
from its own generator seeded by (seed, split, chunk).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.synth_post import degrade, low_light_rng
from smhr.data.synth_render import SWITCHES, SynthConfig, SynthRenderer

__all__ = ["CHUNK", "SynthConfig", "SynthRenderer", "write_split", "write_synth"]

CHUNK = 32  # images per random-number stream (fixed, so files do not depend on the batch size)
SPLIT_IDS = {"training": 0, "evaluation": 1}


# ----------------------------------------------------------------------------- writing
class _JsonArray:
    """Stream a JSON array record by record (verts of 10^5 hands do not fit in Python lists)."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "w")  # noqa: SIM115 - closed in close()
        self.f.write("[")
        self.first = True

    def append(self, value: Any) -> None:
        self.append_raw(json.dumps(value))

    def append_raw(self, text: str) -> None:
        """Append an already serialised value."""
        self.f.write(("" if self.first else ", ") + text)
        self.first = False

    def close(self) -> None:
        self.f.write("]")
        self.f.close()


def _chunk_seed(seed: int, split: str, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, SPLIT_IDS[split], chunk]).generate_state(1, np.uint64)[0] >> 1)


def _r(a: np.ndarray, decimals: int = 7) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def _write_chunk(
    renderer: SynthRenderer, out: Path, split: str, seed: int, chunk: int, count: int
) -> tuple[dict[str, list[str]], list[int]]:
    """Render chunk `chunk` (images chunk * CHUNK ...), write its image files; returns its JSON
    records (serialised, per annotation key) and sides, for the caller to append in chunk order."""
    import cv2

    arms = split == "training" and renderer.cfg.arm_prob > 0
    batch = renderer.render(count, _chunk_seed(seed, split, chunk))
    rows: dict[str, list[str]] = {k: [] for k in _keys(renderer)}
    sides: list[int] = []
    for i in range(count):
        idx = chunk * CHUNK + i
        rng = np.random.default_rng(int(batch["post_seed"][i]))
        dark = low_light_rng(batch["post_seed"][i]) if renderer.cfg.low_light_prob > 0 else None
        img, quality = degrade(batch["image"][i], rng, renderer.cfg, dark)
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(out / split / "rgb" / f"{idx:08d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if split == "training":
            mask = batch["mask"][i].astype(np.uint8) * 255
            cv2.imwrite(str(out / split / "mask" / f"{idx:08d}.jpg"), mask, [cv2.IMWRITE_JPEG_QUALITY, 100])
        if arms:  # the composer pastes the hand with its arm
            arm = batch["arm"][i].astype(np.uint8) * 255
            cv2.imwrite(str(out / split / "arm" / f"{idx:08d}.png"), arm)
        xyz = batch["xyz"][i]
        rows["K"].append(json.dumps(_r(batch["K"][i], 9)))
        rows["xyz"].append(json.dumps(_r(xyz)))
        rows["verts"].append(json.dumps(_r(batch["verts"][i])))
        rows["mano"].append(json.dumps([_r(batch["theta"][i])]))
        rows["scale"].append(json.dumps(float(np.round(np.linalg.norm(xyz[10] - xyz[9]), 7))))
        if "vis" in rows:
            rows["vis"].append(json.dumps(batch["vis"][i].tolist()))
        sides.append(int(batch["side"][i]))
    return rows, sides


def _keys(renderer: SynthRenderer) -> tuple[str, ...]:
    return ("K", "xyz", "verts", "mano", "scale") + (("vis",) if renderer.cfg.arm_prob > 0 else ())


_WORKER: dict[str, SynthRenderer] = {}


def _start_worker(cfg: SynthConfig) -> None:
    import torch

    torch.set_num_threads(1)  # one process per core
    _WORKER["renderer"] = SynthRenderer(cfg)


def _worker_chunk(task: tuple[str, str, int, int, int]) -> tuple[dict[str, list[str]], list[int]]:
    out, split, seed, chunk, count = task
    return _write_chunk(_WORKER["renderer"], Path(out), split, seed, chunk, count)


def write_split(
    renderer: SynthRenderer, out: Path, split: str, n: int, seed: int, progress: bool = True, workers: int = 1
) -> list[int]:
    """Write one FreiHAND split (training: rgb + mask; evaluation: rgb) of n records; returns the
    per-record sides (0 left, 1 right). workers > 1: chunks rendered by that many processes (each
    one thread, its own renderer), written in chunk order: the same files as one process."""
    if n <= 0:
        return []
    (out / split / "rgb").mkdir(parents=True, exist_ok=True)
    if split == "training":
        (out / split / "mask").mkdir(parents=True, exist_ok=True)
    if split == "training" and renderer.cfg.arm_prob > 0:
        (out / split / "arm").mkdir(parents=True, exist_ok=True)
    files = {k: _JsonArray(out / f"{split}_{k}.json") for k in _keys(renderer)}
    counts = [min(CHUNK, n - chunk * CHUNK) for chunk in range((n + CHUNK - 1) // CHUNK)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc=f"synth {split}", unit="img")
    sides: list[int] = []
    pool = None
    try:
        if workers > 1 and len(counts) > 1:
            import multiprocessing

            pool = multiprocessing.get_context("spawn").Pool(
                min(workers, len(counts)), initializer=_start_worker, initargs=(renderer.cfg,)
            )
            tasks = [(str(out), split, seed, chunk, count) for chunk, count in enumerate(counts)]
            results = pool.imap(_worker_chunk, tasks)
        else:
            results = (_write_chunk(renderer, out, split, seed, c, k) for c, k in enumerate(counts))
        for rows, chunk_sides in results:
            for k, values in rows.items():
                for v in values:
                    files[k].append_raw(v)
            sides.extend(chunk_sides)
            if bar is not None:
                bar.update(len(chunk_sides))
    finally:
        if pool is not None:
            pool.terminate()
        for f in files.values():
            f.close()
        if bar is not None:
            bar.close()
    return sides


def write_synth(
    out: str | Path,
    n: int,
    n_eval: int | None = None,
    cfg: SynthConfig | None = None,
    seed: int = 0,
    progress: bool = True,
    workers: int = 1,
) -> Path:
    """Render n training and n_eval (default n // 10) evaluation records into `out` (see module
    docstring for the files); workers > 1 renders chunks in that many processes (same files)."""
    import smhr

    cfg = cfg or SynthConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_eval = n // 10 if n_eval is None else n_eval
    renderer = SynthRenderer(cfg)
    sides = {
        "training": write_split(renderer, out, "training", n, seed, progress, workers),
        "evaluation": write_split(renderer, out, "evaluation", n_eval, seed, progress, workers),
    }
    meta = {
        "format": "freihand",
        "generator": "smhr synth",
        "smhr_version": smhr.__version__,
        "hand_model": cfg.hand,
        "side": cfg.side,
        "seed": seed,
        "res": cfg.res,
        "count": {"training": n, "evaluation": n_eval},
        "mano_layout": {
            "0:3": "global_orient, axis-angle, camera frame",
            "3:48": "pose: 15 joints x axis-angle, flat mean (zero = rest pose), model native joint order",
            "48:58": "betas",
            "58:61": "transl, metres: HandModel.forward(orient, pose, betas, transl) gives *_xyz / *_verts",
        },
        "pose_space": "flat",
        "keypoints": "joints",  # *_xyz: raw keypoints; loaders convert them (smhr.hands.keypoint_definitions)
        "scale": "|xyz[10] - xyz[9]| (middle MCP -> PIP), metres",
        "mask": "training/mask/%08d.jpg: 255 hand, 0 background (threshold at 128)",
        "switches": {k: getattr(cfg, k) for k in SWITCHES},
        "config": asdict(cfg),
    }
    if cfg.side == "both":
        meta["sides"] = sides  # 0 left, 1 right per record (FreiHAND's layout has no side field)
    with open(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
    return out
