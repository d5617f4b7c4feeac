"""A study table checked before its seeds are averaged or compared: one line naming the rows it refuses.

:func:`check_seed_table` refuses a table that repeats a (cell, seed), mixes
configurations (within a cell, or in the study's protocol: dataset, epochs,
...), holds NaN metrics or metrics that are not fractions, or identifier
columns (``row``, ``N``, ``r``, ``k``) that disagree with the row's config;
:func:`parse_integer_keys` reads the integer keys in one spelling only. The
readers of :mod:`.study_tables` call them, and the write side
(:mod:`proxygml_lite.studies.tables`) refuses the same tables before it adds rows.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "parse_integer_keys",
    "FRACTION_METRICS",
    "is_fraction",
    "CELL_KEYS",
    "check_seed_table",
    "row_config",
]


def parse_integer_keys(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its integer identifier columns (``seed``, ``row``, ``N``, ``k``) as int64, parsed strictly.

    Each value must be an integer, or text of the ASCII digits 0-9
    (:func:`proxygml_lite.studies.row_checks.whole_number`): ``"0_0"``, ``"+1"``,
    ``" 1"``, ``"٠"`` or ``"０"``, which Python's ``int()`` and pandas take,
    are one ValueError naming the row (its file line when the table was
    read from a file), as is an empty one. ``"00"`` becomes 0, so the
    duplicate checks see the number, not its spelling. A copy is returned;
    ``attrs`` (the file's name) are kept.
    """
    from ..studies.row_checks import INTEGER_KEYS, whole_number

    parsed = table.copy()
    for column in [c for c in INTEGER_KEYS if c in table.columns]:
        numbers_ = [whole_number(v) for v in table[column]]
        bad = [label for label, number in zip(table.index, numbers_) if number is None]
        if bad:
            value = table.at[bad[0], column]
            if value is None:
                shown = "empty"
            elif isinstance(value, float) and np.isnan(value):  # the CSV reader reads "" and "nan" alike
                shown = "empty or NaN"
            else:
                shown = repr(value)
            raise ValueError(
                f"{_where(table, bad)}: {column} is {shown}, not a whole number written in the digits 0-9; "
                "restore the table (e.g. `git checkout -- FILE`) or correct those rows"
            )
        parsed[column] = np.asarray(numbers_, dtype=np.int64)
    return parsed


def _where(table: pd.DataFrame, index: Iterable) -> str:
    """``"lines 3, 7 of results/glyphs_hard/ablation.csv"`` (CSV lines, header = 1) or ``"rows 1, 5"`` (index)."""
    index = list(index)
    source = table.attrs.get("source")
    if source and all(isinstance(i, (int, np.integer)) for i in index):
        return f"line{'s' if len(index) > 1 else ''} {', '.join(str(int(i) + 2) for i in index)} of {source}"
    return f"row{'s' if len(index) > 1 else ''} {', '.join(str(i) for i in index)} (table index)"


def row_config(table: pd.DataFrame, label) -> dict:
    """The training configuration in the ``config`` column of row ``label``; one line naming the row if damaged."""
    text = table.at[label, "config"]
    try:
        config = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"the config of {_where(table, [label])} is not JSON ({type(exc).__name__}: {exc}); "
            "restore the table (e.g. `git checkout -- FILE`) or rerun that cell"
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"the config of {_where(table, [label])} is not a JSON object; restore the table")
    return config


#: The metric columns of the study tables that are fractions in [0, 1] (R@K and NMI, not percent).
FRACTION_METRICS = ("R@1", "R@2", "R@4", "R@8", "NMI", "untrained R@1", "untrained NMI")


def is_fraction(value) -> bool:
    """True for a number in [0, 1]; False for a boolean (a column of True is no metric), text, NaN or inf."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    return 0 <= value <= 1


def _not_computed(metric: str) -> str:
    """Why the writer may have left ``metric`` empty (a run that did not compute it), and what to do then."""
    flags = ["--no-eval-untrained"] if metric.startswith("untrained ") else []
    if metric.endswith("NMI"):
        flags.append("--no-nmi")
    elif metric.removeprefix("untrained ").startswith("R@"):  # R@1 too: `--recall-ks 2 4` leaves it out
        flags.append("other --recall-ks")
    if not flags:
        return ""
    return f" (runs made with {' or '.join(flags)} have no {metric}: choose another metric)"


#: The config keys that the cell identifier columns ``by`` vary: every other key is one value in the whole table.
CELL_KEYS = {
    "row": ("positive_mask", "mask_softmax", "weight_lambda"),
    "N": ("N",),
    "r": ("r",),
    # each probe changes one of these (proxygml_lite.studies.identity.CELL_FIELDS["probes"], seed aside; a test checks)
    "probe": ("positive_mask", "mask_softmax", "weight_lambda", "N", "centerlr", "proxy_optimizer", "loss_kwargs"),
}


def check_seed_table(table: pd.DataFrame, *, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """``ValueError`` naming the rows unless ``table`` is safe to average per cell (``by``) over seeds.

    Returns the table with its integer keys parsed (:func:`parse_integer_keys`).
    Refused: an integer key (``seed``, ``row``, ``N``, ``k``) that is not
    written in the digits 0-9; a (cell, seed) that appears more than once,
    compared as numbers (``"0"`` and ``"00"`` repeat seed 0); a metric that is not
    a finite number (a boolean neither), or, for :data:`FRACTION_METRICS`, not
    in [0, 1]. With a ``config`` column: a config that is not JSON, a row whose
    ``seed``/``row``/``N``/``r``/``k`` columns disagree with its own config
    (:func:`proxygml_lite.studies.row_checks.row_problem`,
    :func:`~proxygml_lite.studies.row_checks.grid_k_problem`), and configs that
    differ beyond the seed, the keys the cells vary (:data:`CELL_KEYS`: an
    ablation table holds one ``N``, one λ, one learning rate, ...) and the
    settings that only say where a run reported
    (:data:`proxygml_lite.studies.identity.RUN_ONLY`, the write side's too: a
    ``device`` or ``workers`` of its own makes a row another configuration).
    """
    by = list(by)
    table = parse_integer_keys(table)  # "00" and "0" are one seed; "+1" or "٠" no seed at all
    repeated = table[table.duplicated(by + ["seed"], keep=False)]
    if len(repeated):
        key, group = next(iter(repeated.groupby(by + ["seed"], sort=True)))
        key = key if isinstance(key, tuple) else (key,)
        cell = ", ".join(f"{c}={v}" for c, v in zip(by + ["seed"], key))
        raise ValueError(
            f"{_where(table, group.index)} repeat the cell {cell} ({len(repeated)} repeated rows in all); "
            "keep one row per (cell, seed), e.g. table.drop_duplicates(subset=[...], keep='last')"
        )
    fix = "restore the table (e.g. `git checkout -- FILE`) or drop those rows"
    for metric in metrics:
        flags = table.index[[isinstance(v, (bool, np.bool_)) for v in table[metric]]]
        if len(flags):  # True would read as 1.0: a column of booleans is no metric
            raise ValueError(f"{metric} is {table.at[flags[0], metric]} in {_where(table, flags)}, not a number; {fix}")
        values = pd.to_numeric(table[metric], errors="coerce").to_numpy(dtype=float)
        bad = table.index[~np.isfinite(values)]
        if len(bad):
            value = table.at[bad[0], metric]
            raise ValueError(
                f"{metric} is not a finite number in {_where(table, bad)} ({repr(value) if isinstance(value, str) else value}): those runs "
                "failed or are unfinished, or the file was edited; rerun them or drop those rows before averaging"
                + ("" if isinstance(value, str) or not pd.isna(value) else _not_computed(metric))
            )
        outside = table.index[(values < 0) | (values > 1)] if metric in FRACTION_METRICS else []
        if len(outside):
            value = table.at[outside[0], metric]
            raise ValueError(
                f"{metric} is {value} in {_where(table, outside)}, not a fraction in [0, 1] (the tables hold 0.82, "
                f"not 82); {fix}"
            )
    if "config" not in table.columns:
        return table
    from ..studies.identity import cell_identity
    from ..studies.row_checks import grid_k_problem, row_problem, study_lambda

    configs = {label: row_config(table, label) for label in table.index}
    shown_columns = [c for c in ("seed", *by, "S^pos", "M", "L^p") if c in table.columns]
    for label, config in configs.items():
        problem = row_problem({c: table.at[label, c] for c in shown_columns}, config)
        if problem:
            raise ValueError(
                f"{_where(table, [label])} does not match its config: {problem}; restore the table "
                "(e.g. `git checkout -- FILE`) or drop that row"
            )
    varied = {"seed", *(key for column in by for key in CELL_KEYS.get(column, ()))}
    shared = {  # the identity of the write side (without RUN_ONLY; absent settings at their defaults)
        label: {k: json.dumps(v, sort_keys=True) for k, v in json.loads(cell_identity(c)).items() if k not in varied}
        for label, c in configs.items()
    }
    names = sorted({k for c in shared.values() for k in c})
    for name in names:
        values: dict[str, list] = {}
        for label, config in shared.items():
            values.setdefault(config.get(name, "absent"), []).append(label)
        if len(values) > 1:
            shown = " vs ".join(f"{v} ({_where(table, labels)})" for v, labels in values.items())
            raise ValueError(
                f"the table mixes configurations: {name} is {shown}; average and compare only runs of one "
                "configuration (split the table, or rerun the odd rows)"
            )
    if "row" in by:
        lambdas = {label: study_lambda([c]) for label, c in configs.items()}
        if len(set().union(*lambdas.values())) > 1:
            values = {}
            for label, found in lambdas.items():
                for lam in found:
                    values.setdefault(lam, []).append(label)
            shown = " vs ".join(f"{v} ({_where(table, labels)})" for v, labels in values.items())
            raise ValueError(
                f"the table mixes configurations: the rows with L^p have weight_lambda {shown}; "
                "compare only runs of one λ (split the table, or rerun the odd rows)"
            )
    if "k" in table.columns:  # after the settings: a table of one data set has one C, which the k column must fit
        found = grid_k_problem((table.at[label, "k"], config) for label, config in configs.items())
        if found:
            raise ValueError(
                f"{_where(table, [list(configs)[found[0]]])} does not match its config: {found[1]}; restore the table "
                "(e.g. `git checkout -- FILE`) or drop that row"
            )
    return table
