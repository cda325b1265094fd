"""`Registry`: the one kind of name -> plug-in table (hand models, datasets, backbones, necks, box
readers), guarding itself the way detectron2's `Registry` and timm's `list_models` do.

Why a class and not plain dicts: a plain dict silently lets a second `register` replace the first
(two modules picking one name, the later import winning), and every caller wrote its own "choose
one of ..." message. Here a duplicate name is refused with one line naming both entries, an unknown
name is one line listing the choices, and `names()` is what `smhr list` and the CLI choices show.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["DuplicateNameError", "Registry", "UnknownNameError"]

T = TypeVar("T")


class DuplicateNameError(ValueError):
    """A name registered twice in one registry; the message names both entries."""


class UnknownNameError(KeyError, ValueError):
    """A name no entry of the registry has; the message lists the registered names.

    A KeyError (so `Mapping` semantics hold) and a ValueError (what config checks catch)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class _Ref:
    """A registered object's address, "package.module:attr", imported on first lookup."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def resolve(self, where: str) -> object:
        module, _, attr = self.ref.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"{where} is registered as {self.ref}, which does not import: {exc}") from exc

    def __repr__(self) -> str:
        return self.ref


def _describe(value: object) -> str:
    if isinstance(value, _Ref):
        return value.ref
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None)
    return f"{module}.{name}" if module and name else repr(value)


class Registry(Mapping[str, T], Generic[T]):
    """Names -> plug-ins of one kind (`what`: "backbone", "dataset", ...), in registration order.

    `register(name, value)` (or `@register(name)` on a function / class) adds one; lookups by
    `registry[name]` raise `UnknownNameError` listing the choices; `names()` lists them sorted."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, value: T | None = None, *, ref: str | None = None) -> T | Callable[[T], T]:
        """Add `value` under `name` (returned, so this works as a decorator without `value`).

        ref="package.module:attr" registers an object by where it lives instead, imported on its
        first lookup: a plug-in in a new file is then one registration line here, with no import
        line and no import-order trap. A name already taken is an error naming both entries:
        plug-ins never replace each other."""
        if ref is not None:
            if value is not None or ":" not in ref:
                raise ValueError(f"{self.what} {name!r}: ref must be 'package.module:attr', got {ref!r}")
            value = _Ref(ref)  # type: ignore[assignment]
        if value is None:
            return lambda v: self.register(name, v)  # type: ignore[return-value]
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.what} names must be non-empty strings, got {name!r}")
        if name in self._entries:
            raise DuplicateNameError(
                f"{self.what} {name!r} is registered twice: {_describe(self._entries[name])} and "
                f"{_describe(value)}; pick another name for one of them"
            )
        self._entries[name] = value
        return value

    def unregister(self, name: str) -> None:
        """Remove `name` (tests that register a temporary plug-in clean up with this)."""
        if name not in self._entries:
            self[name]  # the usual one-line error listing the choices
        del self._entries[name]

    def names(self) -> list[str]:
        """The registered names, sorted (what `smhr list` prints and the CLI offers)."""
        return sorted(self._entries)

    def choices(self) -> str:
        """"a, b, c": the names for a one-line message."""
        return ", ".join(self.names())

    def __getitem__(self, name: str) -> T:
        try:
            value = self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(f"unknown {self.what} {name!r}; choose one of {self.choices()}") from None
        if isinstance(value, _Ref):
            value = self._entries[name] = value.resolve(f"{self.what} {name!r}")
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {self.choices()})"
