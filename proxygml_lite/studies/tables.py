"""The study tables ``<results>/{ablation,grid,probes}.csv``: their columns, and their rows read back and checked.

A table is only ever written by :func:`.gathering.gather`, which first reads the rows the table holds
(:func:`check_settings`): a damaged line, a row that disagrees with its own configuration and rows made with
other settings are one ValueError naming them, before anything is added.

Every row holds the cell's identifiers (``row``, ``N``/``r``/``k``, or ``probe``/``base``/``change``),
``seed``, the final metrics (fractions), the untrained model's ``R@1``/``NMI``,
``elapsed_s``, the full configuration as JSON in ``config`` (``python -m
proxygml_lite.train --config FILE`` re-runs it) and, when the run recorded
it, the ``machine`` fingerprint id it ran on (``results.json["machine"]["id"]``,
:mod:`proxygml_lite.training.fingerprint`; the full fingerprint stays in the
cell folder). The committed-cell test demands an exact rerun only on the same id.

The probes' rows also hold the final proxies' geometry (:data:`.snapshots.PROXY_COLUMNS`:
the mean within-class and between-class proxy cosines, the mean norm), and
``probe_epochs.csv`` holds it for every kept epoch of each probe row's cell
(``probe``, ``seed``, ``epoch``, the columns, and ``cell``: the cell's id), so
that the notebooks draw the curves without the git-ignored cell folders.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pandas as pd

from ..fileio import read_csv
from ..lab.seed_table_checks import FRACTION_METRICS, is_fraction, parse_integer_keys
from ..lab.study_tables import committed_results_dir, make_hint
from .cells import Cell
from .identity import cell_id, cell_identity, study_settings
from .row_checks import INTEGER_KEYS, grid_k_problem, row_problem, study_lambda
from .snapshots import PROXY_COLUMNS

__all__ = [
    "STUDY_COLUMNS",
    "PROBE_EPOCH_COLUMNS",
    "check_settings",
    "load_table",
    "CELL_ORDER",
    "read_table_rows",
]

_METRICS = ["R@1", "R@2", "R@4", "R@8", "NMI", "untrained R@1", "untrained NMI", "elapsed_s", "config", "machine"]
#: The columns of each study table, in order.
STUDY_COLUMNS = {
    "ablation": ["row", "S^pos", "M", "L^p", "seed", *_METRICS],
    "grid": ["N", "r", "k", "seed", *_METRICS],
    "probes": ["probe", "base", "change", "seed", *PROXY_COLUMNS, *_METRICS],
}
#: The columns that order a study table and identify its cells (a cell and its seed).
CELL_ORDER = {"ablation": ["row", "seed"], "grid": ["N", "r", "seed"], "probes": ["probe", "seed"]}
#: The columns of ``probe_epochs.csv``: the probes' proxy geometry after every kept epoch, per cell.
PROBE_EPOCH_COLUMNS = ["probe", "seed", "epoch", *PROXY_COLUMNS, "cell"]


def load_table(study: str, preset: str = "glyphs_hard", folder: str | Path | None = None) -> pd.DataFrame:
    """The table ``<folder>/<study>.csv`` (default: the committed one, ``committed_results_dir(preset)``).

    study: ablation, grid, probes, probe_epochs or efficiency.
    """
    if study not in (*STUDY_COLUMNS, "probe_epochs", "efficiency"):
        raise ValueError(
            f"study must be one of {', '.join((*STUDY_COLUMNS, 'probe_epochs', 'efficiency'))}; got {study!r}"
        )
    path = Path(folder) / f"{study}.csv" if folder is not None else committed_results_dir(preset) / f"{study}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {make_hint()}")
    table = read_csv(path)
    if study in STUDY_COLUMNS and "config" not in table.columns:  # its rows could not be checked nor matched
        raise ValueError(f"{path} has no config column, so its rows cannot be matched; move it away or restore it")
    return table


_FIX = "restore the table (e.g. `git checkout -- FILE`) or delete that line to rerun its cell"


def read_table_rows(path: Path, study: str) -> list[dict]:
    """The rows of ``study``'s table at ``path``, each with its cell id in ``_id`` and its line in ``_line``.

    A bad line is one ValueError naming it. Refused: a config that is not
    JSON, identifier columns (``row``/``N``/``r``, ``seed``, the grid's ``k``)
    that disagree with the row's own config (:func:`.row_checks.row_problem`,
    :func:`.row_checks.grid_k_problem`), a metric that is not a fraction (a boolean
    neither; an empty one only where it was not computed, never R@1), and two
    lines of one cell.
    """
    if not path.exists():
        return []
    # an empty or damaged file: one ValueError naming it; the integer keys as text, parsed strictly below
    table = read_csv(path, dtype=dict.fromkeys(INTEGER_KEYS, str))
    table.attrs["source"] = str(path)
    if "config" not in table.columns:
        raise ValueError(f"{path} has no config column, so its rows cannot be matched; move it away or restore it")
    columns = [c for c in STUDY_COLUMNS[study] if c not in _METRICS]
    missing = [c for c in [*CELL_ORDER[study], "R@1"] if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; restore it (e.g. `git checkout -- FILE`)")
    table = parse_integer_keys(table)  # "0_0", "+1", " 1", "٠": one line naming it; "00" is 0
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    keys: dict[tuple, int] = {}
    configs = []
    for index, row in enumerate(rows):
        line = f"line {index + 2} of {path}"
        try:
            config = json.loads(row["config"])
            if not isinstance(config, dict):
                raise ValueError("not a JSON object")
            row["_id"], row["_line"] = cell_id(config), index + 2
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the config of {line} is not JSON ({type(exc).__name__}: {exc}); {_FIX}") from None
        configs.append(config)
        problem = row_problem({c: row[c] for c in columns if c in row}, config)
        if problem:
            raise ValueError(f"{line} does not match its config: {problem}; {_FIX}")
        for metric in FRACTION_METRICS:
            value = row.get(metric)
            if value is None and metric != "R@1":
                continue  # not computed (--no-nmi, or a table without the column); R@1 is required: findings read it
            if metric in row and not is_fraction(value):
                shown = _written(path, index, metric) if value is None else repr(value)
                raise ValueError(f"{line}: {metric} is {shown}, not a fraction in [0, 1]; {_FIX}")
        # one row per cell and seed (two lines of one config have one key too: their columns match the config);
        # the parsed numbers, so "0" and "00" are one seed
        key = tuple(row[c] if c == "probe" else float(row[c]) for c in CELL_ORDER[study])  # a probe is a name
        if key in keys:
            raise ValueError(
                f"lines {keys[key]} and {index + 2} of {path} hold the same cell and seed "
                f"({', '.join(f'{c}={row[c]}' for c in CELL_ORDER[study])}); delete one of them"
            )
        keys[key] = index + 2
    if "k" in table.columns:
        found = grid_k_problem((row["k"], config) for row, config in zip(rows, configs))
        if found:
            raise ValueError(f"line {found[0] + 2} of {path} does not match its config: {found[1]}; {_FIX}")
    return rows


def _written(path: Path, index: int, column: str) -> str:
    """How ``column`` of data row ``index`` of the CSV ``path`` is written, where pandas read NaN: ``"empty"``,
    ``"NaN (not a number)"`` for ``nan``, or the text (``'NA'``, ``'None'``) with ``(not a number)``."""
    with open(path, newline="", encoding="utf-8") as fh:
        text = (next(itertools.islice(csv.DictReader(fh), index, None), {}).get(column) or "").strip()
    if not text:
        return "empty"
    return "NaN (not a number)" if text.lower().lstrip("+-") == "nan" else f"{text!r} (not a number)"


def _difference(table_settings: dict, ours: dict) -> str:
    keys = sorted(k for k in set(table_settings) | set(ours) if table_settings.get(k) != ours.get(k))
    return ", ".join(f"{k}: table {table_settings.get(k)!r} vs now {ours.get(k)!r}" for k in keys[:6])


def check_settings(path: Path, cells: list[Cell], replace: bool = False) -> list[dict]:
    """The rows of the table at ``path`` to keep: all of them, if they were made with the cells' settings.

    The settings are everything but what the study varies between its cells
    (:func:`.identity.study_settings`): an ablation run with another ``N`` or
    another λ, or a grid run with another λ, is not the table's study. Rows
    made with other settings are an error (naming the difference) unless
    ``replace``, which drops them. The rows kept hold one λ among them too,
    whichever rows are rerun: a rerun of rows 1-3 (no L^p, so no λ of their
    own) never keeps a table whose rows 4-8 mix two λ.
    """
    study = cells[0].study if cells else path.stem
    rows = read_table_rows(path, study)
    if not cells:
        return rows
    ours = study_settings(cells[0].config, study)
    our_lambda = study_lambda(c.config for c in cells)
    keep = []
    for row in rows:
        config = json.loads(row["config"])
        theirs, their_lambda = study_settings(config, study), study_lambda([config])
        if theirs != ours:
            difference = _difference(theirs, ours)
        elif our_lambda and their_lambda and their_lambda != our_lambda:  # the ablation's λ (the grid's is in theirs)
            difference = f"weight_lambda: table {min(their_lambda)!r} vs now {min(our_lambda)!r}"
        else:
            keep.append(row)
            continue
        if not replace:
            raise ValueError(
                f"{path} holds rows made with other settings ({difference}); "
                "give another --results folder for these settings, or --replace to drop those rows"
            )
    lambdas: dict = {}
    for row in keep:
        for lam in study_lambda([json.loads(row["config"])]):
            lambdas.setdefault(lam, []).append(str(row["_line"]))
    if len(lambdas) > 1:
        shown = " vs ".join(f"{lam!r} (lines {', '.join(lines)})" for lam, lines in sorted(lambdas.items()))
        raise ValueError(
            f"{path} mixes λ among its rows with L^p: weight_lambda {shown}; delete the lines of the wrong λ, "
            "or rerun the rows with L^p with --replace and the λ wanted"
        )
    if study == "probes":  # each probe varies another field: compare every row with this selection's probe
        keep = _probe_rows(path, keep, cells, replace)
    return keep


def _probe_rows(path: Path, rows: list[dict], cells: list[Cell], replace: bool) -> list[dict]:
    """The probe rows to keep: a row whose probe this selection runs must have that probe's settings (seed aside).

    Each probe changes another setting of its base, so the study's shared settings cannot tell a probe run with
    another base (say another centerlr) from this one; its own configuration can.
    """
    ours: dict[str, dict] = {}
    for cell in cells:
        ours.setdefault(cell.ids["probe"], _without_seed(cell.config.to_dict()))
    keep = []
    for row in rows:
        wanted = ours.get(row.get("probe"))
        theirs = _without_seed(json.loads(row["config"]))
        if wanted is None or theirs == wanted:
            keep.append(row)  # a probe this selection does not run (another version's list) is kept as it is
        elif not replace:
            raise ValueError(
                f"{path} holds probe {row['probe']} made with other settings ({_difference(theirs, wanted)}); "
                "give another --results folder for these settings, or --replace to drop those rows"
            )
    return keep


def _without_seed(config: dict) -> dict:
    """A configuration's identity (:func:`.identity.cell_identity`) without its seed."""
    return {k: v for k, v in json.loads(cell_identity(config)).items() if k != "seed"}
