"""A study table row checked against its own configuration, and the table's whole numbers read one way.

A row whose identifier columns (``seed``, ``row`` with ``S^pos``/``M``/``L^p``,
``N``/``r``/``k``) name another cell than its configuration ran would be
averaged into the wrong cell, or, on the write side, never found again:
:func:`row_problem` and :func:`grid_k_problem` say why a row disagrees,
:func:`whole_number` reads an integer key in one spelling only, and
:func:`study_lambda` reads the ablation's λ. Both sides use them: the checks
before gathering (:mod:`.tables`) and reading (:mod:`proxygml_lite.lab.study_tables`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable

import numpy as np

from ..steps import subgraph_size
from ..training.config import TrainConfig
from .design import ABLATION_ROWS

__all__ = [
    "INTEGER_KEYS",
    "whole_number",
    "whole_numbers",
    "study_lambda",
    "row_problem",
    "grid_k_problem",
]


def study_lambda(configs: Iterable[TrainConfig | dict]) -> set:
    """The λ values of the ablation rows with L^p among ``configs`` (one value in a consistent table)."""
    values = (c.to_dict() if isinstance(c, TrainConfig) else c for c in configs)
    return {c.get("weight_lambda") for c in values if _setting_number(c.get("weight_lambda")) not in (None, 0.0)}


def _number(value) -> float | None:
    """A table cell ``value`` as a finite float (not a bool; numeric text too, as a CSV column may hold it), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


#: The identifier columns of the study tables that hold whole numbers (a cell's ``seed``, ablation ``row``, ``N``, ``k``).
INTEGER_KEYS = ("seed", "row", "N", "k")
_DECIMAL = re.compile(r"-?[0-9]+")  # ASCII digits only: Python's int() also takes '٠', '０', ' 1', '+1', '0_0'


def whole_number(value) -> int | None:
    """An integer key (a table's ``seed``/``row``/``N``/``k``, a command line's seed or index) as an int, else None.

    Taken: an integer (not a bool), a float that is whole (a column pandas made float), or text of ASCII decimal
    digits with an optional leading ``-``. Refused, although ``int()`` takes them: ``"0_0"``, ``"+1"``, ``" 1"``,
    ``"1 "``, the Arabic-Indic ``"٠"`` and the full-width ``"０"``, so that one number has one spelling in a table
    (``"00"`` is ``0``: the duplicate checks compare the parsed values).
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return int(value) if math.isfinite(value) and value == int(value) else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return None


def whole_numbers(values: Iterable, what: str) -> list[int]:
    """``values`` as ints (:func:`whole_number`); one ValueError naming ``what`` and the first value refused."""
    parsed = []
    for value in values:
        number = whole_number(value)
        if number is None:
            raise ValueError(f"{what} must be whole numbers written in the digits 0-9; got {value!r}")
        parsed.append(number)
    return parsed


def _setting_number(value) -> float | None:
    """A config setting ``value`` as a float when it is a finite JSON number (not a bool, null, text, NaN or inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value) if math.isfinite(value) else None


def _shown(value) -> str:
    """A table cell as a message shows it: ``1.5``, ``'abc'``, ``None`` (NumPy's scalars as the Python values they hold)."""
    return repr(value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value)


def _switch(value) -> bool | None:
    """A table's S^pos/M/L^p cell as a bool (True/False, or their text), else None."""
    if isinstance(value, numbers.Integral) and value in (0, 1):  # bool, int, and NumPy's ints (a 1/0 column)
        return bool(value)
    return {"true": True, "false": False}.get(str(value).strip().lower())


def row_problem(columns: dict, config: dict) -> str | None:
    """Why a study table row's identifier columns disagree with its own ``config``; None when they agree.

    ``columns``: the row's ``seed`` and ``row`` (with ``S^pos``, ``M``,
    ``L^p``) or ``N`` and ``r`` values, as read from the file. A row whose
    columns name another cell than its configuration ran would be averaged
    into the wrong cell, or, on the write side, never found again (the cell
    would retrain forever).
    """
    if "seed" in columns:
        seed = whole_number(columns["seed"])
        if seed is None:
            return f"its seed {_shown(columns['seed'])} is not a whole number written in the digits 0-9"
        if seed != config.get("seed"):
            return f"its seed column says {seed} but its config ran seed {config.get('seed')!r}"
    if "row" in columns:
        number = whole_number(columns["row"])
        switches = {row: (s_pos, mask, l_p) for row, s_pos, mask, l_p in ABLATION_ROWS}
        if number not in switches:
            return f"its row {_shown(columns['row'])} is not an ablation row (1-8)"
        lam = _setting_number(config.get("weight_lambda"))
        if lam is None or lam < 0:  # inf, NaN, text or null must not pass as "L^p off"
            return f"its config's weight_lambda {config.get('weight_lambda')!r} is not a number λ >= 0 (0: L^p off)"
        ran = {"S^pos": config.get("positive_mask"), "M": config.get("mask_softmax"), "L^p": lam > 0}
        for name, want in zip(("S^pos", "M", "L^p"), switches[number]):
            if ran[name] is not want:
                return f"row {number} has {name} {'on' if want else 'off'}, but its config ran {name} {ran[name]!r}"
            if name in columns and _switch(columns[name]) is not want:
                return f"its {name} column says {_shown(columns[name])}, but row {number} has {name} {want}"
    for name in ("N", "r"):
        if name in columns:
            value, ran = _number(columns[name]), _setting_number(config.get(name))
            if name == "N" and whole_number(columns[name]) is None:  # 1.0000000001 would be a cell of its own
                return f"its N {_shown(columns[name])} is not a whole number written in the digits 0-9"
            # r: a CSV parser may miss the last bit of a decimal; 1e-12 still keeps apart any two r worth comparing
            if value is None or ran is None or not math.isclose(value, ran, rel_tol=1e-12, abs_tol=0.0):
                return f"its {name} column says {_shown(columns[name])} but its config ran {name} {config.get(name)!r}"
    return None


def _classes_giving(k: int, r: float, n: int) -> tuple[int, int] | None:
    """The class counts ``C`` with ``subgraph_size(r, C, n) == k``, as ``(lowest, highest)``; None when there are none.

    ``k = ceil(r C N)`` never falls as ``C`` grows, so they are one interval, found by bisection.
    """

    def first(target: int) -> int:  # the smallest C >= 1 with subgraph_size(r, C, n) >= target
        low, high = 1, max(2, math.ceil(target / (r * n)) + 2)
        while subgraph_size(r, high, n) < target:
            high *= 2
        while low < high:
            middle = (low + high) // 2
            low, high = (middle + 1, high) if subgraph_size(r, middle, n) < target else (low, middle)
        return low

    lowest = first(k)
    if subgraph_size(r, lowest, n) != k:
        return None
    return lowest, first(k + 1) - 1


def _row_classes(value, config: dict) -> tuple[int, int] | str:
    """The class counts ``C`` (lowest, highest) for which a grid row's ``k`` column ``value`` fits its config; else why not."""
    k = whole_number(value)
    if k is None or k < 1:
        return f"its k {_shown(value)} is not a whole number >= 1 written in the digits 0-9"
    n, r = _setting_number(config.get("N")), _setting_number(config.get("r"))
    if n is None or n != int(n) or n < 1 or r is None or not 0 < r <= 1:
        return f"its config's N {config.get('N')!r} and r {config.get('r')!r} give no k = ceil(r C N)"
    k, n = int(k), int(n)
    if config.get("C") is None:
        classes = _classes_giving(k, r, n)
        return classes or f"its k column says {k}, but no class count C gives k = ceil(r C N) = {k} at N {n}, r {r}"
    c = _setting_number(config["C"])  # a config that names C (-C) fixes it
    if c is None or c != int(c) or c < 1:
        return f"its config's C {config['C']!r} is not a whole number >= 1"
    given = subgraph_size(r, int(c), n)
    return (int(c), int(c)) if given == k else f"its k column says {k} but its config's C {int(c)} gives k = {given}"


def grid_k_problem(rows: Iterable[tuple[object, dict]]) -> tuple[int, str] | None:
    """The first grid row whose ``k`` column disagrees with its config, as ``(position, why)``; None when all agree.

    ``rows``: each row's ``k`` value (as read from the file) and its config.
    ``k = ceil(r C N)`` (:func:`proxygml_lite.steps.subgraph_size`) with the
    config's ``r`` and ``N`` and the class count ``C``: the config's own when
    it records one, else the one ``C`` of the table (its rows share their
    data set), found from the rows' ``k``: the odd row out is the one named.
    """
    rows = list(rows)
    fitting: list[tuple[int, int]] = []
    for position, (value, config) in enumerate(rows):
        classes = _row_classes(value, config)
        if isinstance(classes, str):
            return position, classes
        fitting.append(classes)
    if not fitting:
        return None

    def support(c: int) -> tuple[int, int]:  # rows that fit C = c; on a tie, the C that the first rows fit
        fits = [low <= c <= high for low, high in fitting]
        return sum(fits), fits.index(False) if False in fits else len(fits)

    # the table's C: the one that most rows' k fit (the most-covered point of intervals is one of their lower ends)
    table_c = max(sorted({low for low, _ in fitting}), key=support)
    agreeing = [(low, high) for low, high in fitting if low <= table_c <= high]
    lowest, highest = max(low for low, _ in agreeing), min(high for _, high in agreeing)  # all the C they allow
    for position, ((value, config), (low, high)) in enumerate(zip(rows, fitting)):
        if not low <= table_c <= high:
            n, r = int(config["N"]), config["r"]
            ks = sorted({subgraph_size(r, lowest, n), subgraph_size(r, highest, n)})
            return position, (
                f"its k column says {whole_number(value)}, but the table's other rows fit C = "
                f"{'-'.join(map(str, sorted({lowest, highest})))} classes, for which k = ceil(r C N) = "
                f"{'-'.join(map(str, ks))} at N {n}, r {r}"
            )
    return None
