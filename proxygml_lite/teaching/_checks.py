"""Argument checks of the teaching wing: each error names the argument, what it means and what it got."""

from __future__ import annotations

import math
import numbers


def check_int(name: str, value, minimum: int, hint: str) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} ({hint}); got {value!r}")
    return int(value)


def check_float(name: str, value, minimum: float, hint: str) -> float:
    """``value`` as a ``float`` if it is a finite number >= ``minimum``, else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum} ({hint}); got {value!r}")
    return float(value)


def check_dim(dim) -> int:
    """2 (unit circle) or 3 (unit sphere)."""
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 (unit circle) or 3 (unit sphere); got {dim!r}")
    return int(dim)
