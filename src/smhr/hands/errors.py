"""Errors raised when a hand model cannot be loaded (one line each, naming the file and the fix)."""

from __future__ import annotations


class HandModelError(ValueError):
    """A hand-model file is corrupt, of the wrong kind, or inconsistent with the request."""


class HandModelNotFoundError(HandModelError, FileNotFoundError):
    """A hand-model file is missing (catchable as FileNotFoundError too)."""
