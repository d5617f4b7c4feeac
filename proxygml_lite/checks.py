"""The argument checks of the package, in one place: each raises ``ValueError`` naming the value and the fix.

``hint`` says what the value is or which flag sets it, e.g.
``check_int("N", 0, 1, "--N")`` -> ``N must be an integer >= 1 (--N); got 0``.
These run on settings (constructors, configs), never per training step.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = ["check_int", "check_number", "check_in_range", "check_choice"]


def check_int(name: str, value: Any, minimum: int, hint: str, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (bools are not integers here)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        span = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {span} ({hint}); got {value!r}")
    return int(value)


def check_number(name: str, value: Any, minimum: float, hint: str, *, strict: bool = False) -> float:
    """``value`` as a finite ``float`` ``>= minimum`` (``> minimum`` with ``strict``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or (value <= minimum if strict else value < minimum)
    ):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum} ({hint}); got {value!r}")
    return float(value)


def check_in_range(
    name: str, value: Any, low: float, high: float, hint: str, *, low_open: bool = True, noun: str | None = "a number"
) -> float:
    """``value`` as a ``float`` in ``(low, high]`` (``[low, high]`` without ``low_open``)."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(value)
        and (low < value if low_open else low <= value)
        and value <= high
    )
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise ValueError(f"{name} must be {noun + ' ' if noun else ''}in {interval} ({hint}); got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[str], hint: str) -> str:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)} ({hint}); got {value!r}")
    return value
