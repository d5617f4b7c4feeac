"""A widget as a finite set of views: one declaration for the live widget and for the offline site.

A :class:`Views` is a pure draw function, its fixed arguments, and its
controls (:class:`Control`), each over a finite list of values. Two places
show it:

* in a notebook, :class:`proxygml_lite.teaching.widgets.InteractivePlot` makes
  ipywidgets controls from it and redraws as they move;
* the site builder (``scripts/build_book.py``) draws every view when the site
  is built, when there are at most about a hundred (:attr:`Views.count`), and
  ships a small script that swaps them as the controls move, with no kernel.

View ``i`` is numbered in mixed radix over the controls, the first control the
most significant digit; a control's digit is its value's position, a switch's
is 0 (off) or 1 (on), and a subset's is the bit mask of its chosen items (bit
``j`` for item ``j``). :meth:`Views.values_at` and the site's script count the
same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Control", "Views", "slider", "menu", "switch", "subset"]

KINDS = ("slider", "menu", "switch", "subset")


@dataclass(frozen=True)
class Control:
    """One control: the draw function's argument ``name``, over the finite ``values``, starting at ``value``.

    ``kind`` says how it is shown: ``"slider"`` (ordered values), ``"menu"``
    (a drop-down), ``"switch"`` (a check box, values ``False``/``True``) or
    ``"subset"`` (any subset of ``values``, chosen item by item; its value is
    a tuple in the order of ``values``). ``labels`` write each value.
    """

    name: str
    label: str
    kind: str
    values: tuple
    labels: tuple[str, ...]
    value: Any

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"control {self.name!r}: kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        if not self.values or len(set(self.values)) != len(self.values):
            raise ValueError(f"control {self.name!r} needs distinct values; got {list(self.values)}")
        if len(self.labels) != len(self.values):
            raise ValueError(f"control {self.name!r}: {len(self.labels)} labels for {len(self.values)} values")
        chosen = self.value if self.kind == "subset" else (self.value,)
        unknown = [v for v in chosen if v not in self.values]
        if unknown or (self.kind == "subset" and tuple(chosen) != tuple(v for v in self.values if v in chosen)):
            raise ValueError(
                f"control {self.name!r} starts at {self.value!r}, which is not one of its values {list(self.values)}"
                + (" (a subset, in their order)" if self.kind == "subset" else "")
            )

    @property
    def size(self) -> int:
        """How many values the control can take (``2 ** len(values)`` for a subset)."""
        return 2 ** len(self.values) if self.kind == "subset" else len(self.values)

    def value_at(self, digit: int):
        """The value at position ``digit`` (for a subset: the items of bit mask ``digit``)."""
        if self.kind == "subset":
            return tuple(v for j, v in enumerate(self.values) if digit >> j & 1)
        return self.values[digit]

    def digit(self, value) -> int:
        """The position of ``value``, the inverse of :meth:`value_at`."""
        if self.kind == "subset":
            return sum(1 << j for j, v in enumerate(self.values) if v in value)
        return self.values.index(value)


def _labels(values, labels) -> tuple[str, ...]:
    """``labels``, or each value written out (numbers shortest: ``0.3``, not ``0.30000000000000004``)."""
    if labels is not None:
        return tuple(str(label) for label in labels)
    return tuple(f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v) for v in values)


def slider(name: str, label: str, values: Iterable, value, *, labels: Iterable[str] | None = None):
    """A slider over ordered ``values``."""
    values = tuple(values)
    return Control(name, label, "slider", values, _labels(values, labels), value)


def menu(name: str, label: str, values: Iterable, value, *, labels: Iterable[str] | None = None):
    """A drop-down menu over ``values``."""
    values = tuple(values)
    return Control(name, label, "menu", values, _labels(values, labels), value)


def switch(name: str, label: str, value: bool):
    """A check box: ``False`` or ``True``."""
    return Control(name, label, "switch", (False, True), ("off", "on"), bool(value))


def subset(name: str, label: str, items: Iterable, value: Iterable, *, labels: Iterable[str] | None = None):
    """Any subset of ``items`` (``2 ** len(items)`` views), starting with the items in ``value``."""
    items = tuple(items)
    chosen = set(value)
    return Control(name, label, "subset", items, _labels(items, labels), tuple(v for v in items if v in chosen))


@dataclass(frozen=True)
class Views:
    """``draw(**fixed, **{control.name: value})`` for every combination of the controls' values.

    ``draw`` returns a matplotlib figure and depends on its arguments alone,
    so each view can be drawn ahead of time.
    """

    draw: Callable
    controls: tuple[Control, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        names = [control.name for control in self.controls]
        clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(self.fixed)))
        if clash:
            raise ValueError(f"controls {clash} are named twice (or also fixed); give each argument one source")

    @property
    def count(self) -> int:
        """How many views there are: the product of the controls' sizes."""
        return math.prod(control.size for control in self.controls)

    def start(self) -> dict:
        """The values the widget opens with, by argument name."""
        return {control.name: control.value for control in self.controls}

    def index(self, values: Mapping) -> int:
        """The number of the view showing ``values`` (mixed radix, first control most significant)."""
        number = 0
        for control in self.controls:
            number = number * control.size + control.digit(values[control.name])
        return number

    def values_at(self, number: int) -> dict:
        """The control values of view ``number``, the inverse of :meth:`index`."""
        if not 0 <= number < self.count:
            raise ValueError(f"view {number} does not exist; there are {self.count}")
        values = {}
        for control in reversed(self.controls):
            number, digit = divmod(number, control.size)
            values[control.name] = control.value_at(digit)
        return {control.name: values[control.name] for control in self.controls}

    def figure(self, values: Mapping | None = None):
        """The figure of the view showing ``values`` (default: :meth:`start`)."""
        return self.draw(**self.fixed, **(self.start() if values is None else values))
