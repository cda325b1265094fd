"""Dataclass configs from plain dicts (YAML, checkpoints, `--set` overrides), strictly.

Why strict: a typo in a config key must not silently train the default, so an unknown key is an
error that names it and lists the known ones (HaMeR's `new_allowed=True` accepts typos). Nested
dataclass fields (e.g. `data.augment`) are built the same way, recursively; numbers are coerced to
the declared type because YAML 1.1 reads `3e-4` (no dot) as a string; tuples come back from YAML
as lists.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

__all__ = ["from_dict"]

C = TypeVar("C")


def _plain(hint: Any) -> Any:
    """`X | None` -> X (any other hint unchanged)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _value(value: Any, hint: Any, key: str) -> Any:
    hint = _plain(hint)
    if value is None:
        return None
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"config: {key} must be a mapping of keys, got {value!r}")
        return from_dict(hint, value, f"{key}.")
    if hint in (float, int):
        try:
            return hint(value)
        except (TypeError, ValueError):
            raise ValueError(f"config: {key} must be a number, got {value!r}") from None
    if typing.get_origin(hint) is tuple:
        inner = [_plain(a) for a in typing.get_args(hint)]
        try:
            return tuple(t(v) if t in (float, int) else v for t, v in zip(inner, value, strict=True))
        except (TypeError, ValueError):
            raise ValueError(f"config: {key} must be {len(inner)} numbers, got {value!r}") from None
    return value


def from_dict(cls: type[C], values: dict[str, Any], where: str = "") -> C:
    """Dataclass `cls` from `values`; unknown keys are an error naming them (prefixed `where`)."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"config: unknown key(s) {[f'{where}{k}' for k in unknown]}; known: {sorted(names)}")
    return cls(**{k: _value(v, hints[k], f"{where}{k}") for k, v in values.items()})
