"""The `data:` config of each kind of training set, and how each builds its training set.

Why one config class per kind (HaMeR keeps one config node per dataset): a flat bag of every
field for every kind let a labelled run carry a `root` it never read and a FreiHAND run a
`background_real_prob`; here each kind declares what it reads, so a key its kind does not use is
an unknown-key error like any typo. What every kind shares is `DataConfig`: the image count, the
hand slots, the DataLoader workers, the validation set, and the augmentation settings, which are
`smhr.data.augment.AugmentConfig` itself (`augment:`; its `out_size` is the network's input size).

Kinds and their classes (registered by name in `smhr.data.registry`):
  `FolderConfig`           any set with a loader (freihand, rhd, ho3d, interhand, coco_hands,
                           composed_folder, or a new one): root + split, augmented
  `LabelledConfig`         `smhr label` folders of real photos (labelled)
  `ComposedConfig`         multi-hand composites made on the fly from FreiHAND-layout roots (composed)
  `ComposedLabelledConfig` ... from the labelled photos' hand crops (composed_labelled)
  `CloseupLabelledConfig`  close-ups of the labelled photos' hands, cut at the wrist (closeup_labelled)
  `MixtureConfig`          several of the above with fixed weights (mixture)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from smhr.data.augment import AugmentConfig
from smhr.data.registry import DATASETS, open_dataset

__all__ = [
    "CloseupLabelledConfig", "ComposedConfig", "ComposedLabelledConfig", "DataConfig", "FolderConfig",
    "LabelledConfig", "MixtureConfig", "PhotoSettings", "build_data_config", "labelled_sets",
    "upgrade_saved_data_config",
]  # fmt: skip


@dataclass
class DataConfig:
    """What every kind of training set has.

    kind: the registered set (`smhr list datasets`). limit: use only the first N samples (tiny
    runs). max_hands: target slots per image. num_workers: DataLoader worker processes.
    augment: crop / rotation / flip / colour (`AugmentConfig`; official single-hand: hand_fraction
    0.3-0.6, 40 deg, no flip, colour 0.5). Validation, scored every `eval_every` steps: val_kind
    "freihand" (a FreiHAND-layout set at val_root, split val_split) or "labelled" (the held-out
    split of the `smhr label` folders val_roots, default this config's roots); val_limit images.
    side_taught false: the hands' sides still decode their geometry, but no side loss learns them
    (a mixture part whose pixels do not show the side, e.g. untextured synthetic hands).
    """

    kind: str = "freihand"
    limit: int | None = None
    max_hands: int = 1
    num_workers: int = 2
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    val_kind: str = "freihand"
    val_root: str | None = None
    val_split: str = "eval"
    val_limit: int | None = 256
    val_roots: list[str] = field(default_factory=list)
    side_taught: bool = True

    def build(self, input_size: int, seed: int, keypoints: str = "joints") -> Any:
        """The training set (a torch `Dataset` of target dicts) this config names; keypoints: the
        keypoint definition of the net being trained (`SMHRConfig.keypoints`), which hand-model
        labels (`smhr synth` folders) are converted to."""
        raise NotImplementedError(f"data.kind {self.kind!r} has no training set")

    def training_set(self, base: Any, input_size: int, seed: int, geometric: bool = True) -> Any:
        from smhr.data.training import TrainingSet

        return TrainingSet(base, input_size, self.augment, self.max_hands, seed, geometric, self.limit,
                           side_taught=self.side_taught)


def _require(value: Any, key: str, kind: str, what: str) -> Any:
    if not value:
        raise ValueError(f"config: data.{key} is required for data.kind {kind!r} ({what})")
    return value


@dataclass
class FolderConfig(DataConfig):
    """A set with a loader: root = its folder, split = the split to train on (ignored by loaders
    without splits, such as composed_folder)."""

    root: str | None = None
    split: str = "train"

    def build(self, input_size: int, seed: int, keypoints: str = "joints") -> Any:
        root = _require(self.root, "root", self.kind, "the set's folder")
        laid_out = DATASETS[self.kind].laid_out
        extra = {"keypoints": keypoints} if self.kind == "freihand" else {}  # the loader that reads synth
        return self.training_set(open_dataset(self.kind, root, self.split, **extra), input_size, seed,
                                 geometric=not laid_out)


@dataclass
class PhotoSettings:
    """Reading `smhr label` folders: image_roots = {source name: folder of its images} where they
    moved since labelling, max_side = shrink larger photos on load, preload = keep them in memory."""

    image_roots: dict[str, str] = field(default_factory=dict)
    max_side: int | None = None
    preload: bool = False


_LOADED: dict[tuple, Any] = {}


def labelled_sets(roots: list[str], split: str, photos: PhotoSettings) -> list[Any]:
    """The labelled sets of `roots`; each (root, split, image root, size, preload) is read once per
    process, so mixture parts and validation that share photos share one copy in memory. Test-only
    sets (meta.json role "test") are refused for anything but the held-out split (validation)."""
    from smhr.data.labelled import LabelledSet, read_meta, require_trainable

    sets = []
    for root in roots:
        if split != "test":
            require_trainable(root)
        image_root = photos.image_roots.get(read_meta(root)["source"]["name"])
        key = (str(root), split, image_root, photos.max_side, photos.preload)
        if key not in _LOADED:
            _LOADED[key] = LabelledSet(root, split, image_root=image_root, max_side=photos.max_side,
                                       preload=photos.preload)
        sets.append(_LOADED[key])
    return sets


@dataclass
class LabelledConfig(DataConfig):
    """Real photos with teacher labels: roots = `smhr label` folders, split = their split."""

    roots: list[str] = field(default_factory=list)
    split: str = "train"
    photos: PhotoSettings = field(default_factory=PhotoSettings)

    def sources(self) -> list[Any]:
        roots = _require(self.roots, "roots", self.kind, "`smhr label` folders")
        return labelled_sets(roots, self.split, self.photos)

    def build(self, input_size: int, seed: int, keypoints: str = "joints") -> Any:
        from torch.utils.data import ConcatDataset

        return self.training_set(ConcatDataset(self.sources()), input_size, seed)


@dataclass
class BackgroundSettings:
    """The composers' backgrounds: folder = an image folder; else roots = `smhr label` folders
    whose hand-free regions are mixed with procedural backgrounds at real_prob; neither =
    procedural only."""

    folder: str | None = None
    roots: list[str] = field(default_factory=list)
    real_prob: float = 0.5


def _backgrounds(bg: BackgroundSettings, photos: PhotoSettings) -> Any:
    if bg.folder is not None:
        return bg.folder
    if not bg.roots:
        return None
    key = ("backgrounds", tuple(bg.roots), photos.max_side, photos.preload, bg.real_prob)
    if key not in _LOADED:
        from smhr.data.backgrounds import MixedBackgrounds, ProceduralBank
        from smhr.data.real_crops import HandFreeBackgrounds

        real = HandFreeBackgrounds(labelled_sets(bg.roots, "train", photos))
        _LOADED[key] = MixedBackgrounds([(real, bg.real_prob), (ProceduralBank(), 1.0 - bg.real_prob)])
    return _LOADED[key]


def _require_known_keys(values: dict[str, Any], options_class: type, key: str,
                        extra: tuple[str, ...] = ()) -> None:
    """A one-line error naming the keys of `data.<key>` that `options_class` (a dataclass) has no
    field for (nor `extra`), and the known ones."""
    known = {f.name for f in dataclasses.fields(options_class)} | set(extra)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"config: data.{key} key(s) {unknown} unknown; choose from {sorted(known)}")


def _composer(cfg: Any, source: Any, input_size: int, seed: int) -> Any:
    """Composites of `source`'s hands on cfg.backgrounds, laid out at the network size."""
    from smhr.data.compose import ComposeConfig, ComposedHands

    _require_known_keys(cfg.compose, ComposeConfig, "compose", extra=("length",))
    options = {"out_size": input_size, "max_hands": cfg.max_hands, **cfg.compose}
    length = int(options.pop("length", max(len(source), 1024)))
    composer = ComposedHands(source, length, ComposeConfig(**options), seed=seed,
                             backgrounds=_backgrounds(cfg.backgrounds, cfg.photos))
    return cfg.training_set(composer, input_size, seed, geometric=False)


@dataclass
class ComposedConfig(DataConfig):
    """Multi-hand composites made on the fly from the hands of FreiHAND-layout folders (`smhr
    synth` output or the real set): roots (or root), split. compose: keyword arguments of
    `smhr.data.compose.ComposeConfig` (+ length: composites per epoch); backgrounds; photos: how
    the background roots' photos are read."""

    root: str | None = None
    roots: list[str] = field(default_factory=list)
    split: str = "train"
    compose: dict[str, Any] = field(default_factory=dict)
    backgrounds: BackgroundSettings = field(default_factory=BackgroundSettings)
    photos: PhotoSettings = field(default_factory=PhotoSettings)

    def build(self, input_size: int, seed: int, keypoints: str = "joints") -> Any:
        from torch.utils.data import ConcatDataset

        roots = self.roots or [_require(self.root, "root", self.kind, "FreiHAND-layout folders")]
        source: Any = ConcatDataset([open_dataset("freihand", r, self.split, keypoints=keypoints)
                                     for r in roots])
        if self.limit is not None:
            source = [source[i] for i in range(min(self.limit, len(source)))]
        return _composer(self, source, input_size, seed)


@dataclass
class ComposedLabelledConfig(LabelledConfig):
    """Composites of the labelled photos' hand crops (roots, split, photos as `LabelledConfig`;
    compose and backgrounds as `ComposedConfig`)."""

    compose: dict[str, Any] = field(default_factory=dict)
    backgrounds: BackgroundSettings = field(default_factory=BackgroundSettings)

    def build(self, input_size: int, seed: int, keypoints: str = "joints") -> Any:
        from smhr.data.real_crops import RealHandCrops

        return _composer(self, RealHandCrops(self.sources()), input_size, seed)


@dataclass
class CloseupLabelledConfig(LabelledConfig):
    """Close-ups of the labelled photos' hands (roots, split, photos as `LabelledConfig`), cut
    just below the wrist, turned and mirrored at random (`smhr.data.closeups`); closeup: keyword
    arguments of `smhr.data.closeups.CloseupConfig`. Only colour is augmented on top."""

    closeup: dict[str, Any] = field(default_factory=dict)

    def build(self, input_size: int, seed: int, keypoints: str = "joints") -> Any:
        from smhr.data.closeups import CloseupConfig, CloseupViews

        _require_known_keys(self.closeup, CloseupConfig, "closeup")
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in self.closeup.items()}
        views = CloseupViews(self.sources(), input_size, CloseupConfig(**options), seed=seed)
        return self.training_set(views, input_size, seed, geometric=False)


@dataclass
class MixtureConfig(DataConfig):
    """Several sets drawn with fixed weights. mixture: a list of {kind, weight, ...its config's
    keys}; each part starts from this config's shared settings (max_hands, limit, augment, ...;
    a part's augment keys change only those keys) and from `shared`, whose keys go to every part
    whose kind declares them (e.g. photos, backgrounds). length: items per epoch (default: the
    parts' lengths summed)."""

    mixture: list[dict[str, Any]] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)
    length: int | None = None

    def part_values(self) -> list[tuple[float, dict[str, Any]]]:
        """(weight, config dict) per part, before building (what `build_data_config` checks)."""
        from smhr.data.registry import data_config_class

        if not self.mixture:
            raise ValueError("config: data.kind mixture needs data.mixture: a list of {kind, weight, ...}")
        common = {f.name for f in dataclasses.fields(DataConfig)} - {"kind"}
        base = {k: v for k, v in dataclasses.asdict(self).items() if k in common}
        base["augment"].pop("out_size")  # set by the network's input size, not by the config
        used: set[str] = set()
        parts = []
        for i, item in enumerate(self.mixture):
            item = dict(item)
            weight = float(item.pop("weight", 1.0))
            kind = item.get("kind")
            if kind is None or kind == "mixture":
                raise ValueError(f"config: data.mixture[{i}] needs a kind other than mixture")
            own = {f.name for f in dataclasses.fields(data_config_class(kind))}
            shared = {k: v for k, v in self.shared.items() if k in own}
            used |= set(shared)
            values = {**base, **shared, **item}
            values["augment"] = {**base["augment"], **item.get("augment", {})}
            parts.append((weight, values))
        unused = sorted(set(self.shared) - used)
        if unused:
            raise ValueError(f"config: data.shared key(s) {unused} are used by no part's kind")
        return parts

    def build(self, input_size: int, seed: int, keypoints: str = "joints") -> Any:
        from smhr.data.training import MixtureSet

        parts, weights = [], []
        for i, (weight, values) in enumerate(self.part_values()):
            part = build_data_config(values, f"data.mixture[{i}].")
            parts.append(part.build(input_size, seed + 1000 * (i + 1), keypoints))
            weights.append(weight)
        length = int(self.length or sum(len(p) for p in parts))
        return MixtureSet(parts, weights, length, seed)


def build_data_config(values: dict[str, Any], where: str = "data.") -> DataConfig:
    """The config of `values["kind"]` (default freihand) from a dict: unknown keys, for that kind,
    are an error naming them; a mixture's parts are checked the same way, each as its own kind."""
    from smhr.configdict import from_dict
    from smhr.data.registry import data_config_class

    values = {"kind": "freihand", **values}
    if values["kind"] not in DATASETS:
        kind = values["kind"]
        raise ValueError(f"config: {where}kind {kind!r} unknown; choose one of {DATASETS.choices()}")
    if "out_size" in (values.get("augment") or {}):
        raise ValueError(f"config: {where}augment.out_size is the network's input size; set model.input_size")
    cfg = from_dict(data_config_class(values["kind"]), values, where)
    if cfg.val_kind not in ("freihand", "labelled"):
        raise ValueError(f"config: {where}val_kind must be freihand or labelled, got {cfg.val_kind!r}")
    if isinstance(cfg, MixtureConfig):
        for i, (_, part) in enumerate(cfg.part_values()):
            build_data_config(part, f"{where}mixture[{i}].")
    return cfg


_MOVED = {  # key of the one flat DataConfig (checkpoints before per-kind configs) -> its place now
    "hand_fraction": "augment.hand_fraction", "rotation_deg": "augment.rotation_deg",
    "translate": "augment.translate", "flip_prob": "augment.flip_prob", "color_prob": "augment.color_prob",
    "max_crop": "augment.max_crop", "image_roots": "photos.image_roots", "max_side": "photos.max_side",
    "preload": "photos.preload", "backgrounds": "backgrounds.folder", "background_roots": "backgrounds.roots",
    "background_real_prob": "backgrounds.real_prob",
}  # fmt: skip


def upgrade_saved_data_config(values: dict[str, Any]) -> dict[str, Any]:
    """A `data` section saved by an older smhr (one flat bag of fields) in today's layout, so that
    resuming such a checkpoint compares like with like; today's sections come back unchanged.
    (A mixture's parts are compared as saved: such a run resumes with --allow-config-change.)"""
    if not any(k in values for k in ("hand_fraction", "rotation_deg", "color_prob")):
        return values
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k in _MOVED and not (k == "backgrounds" and isinstance(v, dict)):
            group, _, name = _MOVED[k].partition(".")
            out.setdefault(group, {})[name] = v
        else:
            out[k] = v
    return out
