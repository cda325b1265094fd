"""Package attributes loaded on first use (PEP 562), so that importing a light module of a package
does not import the heavy ones its `__init__` names (PyTorch, above all: the CLI's `--help`, the
demo and the torch-free runtime must not pay for it)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `names[attr]` (a module path) when `attr` is first asked for."""

    def module_getattr(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return module_getattr
