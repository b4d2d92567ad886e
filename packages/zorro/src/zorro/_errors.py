"""zorro's exceptions."""

from __future__ import annotations


class ZorroError(Exception):
    """Base class of zorro's errors."""


class InputError(ZorroError, ValueError):
    """A movie, gain reference, defect map or parameter that zorro cannot use; the message says why."""
