"""The study tables ``<results>/{ablation,grid,probes}.csv``: gathered from finished cell folders, never destroyed.

Cells train in their own folders (:mod:`.cells`); a table is only ever
written by :func:`gather`, which reads the finished cell folders and adds
their rows to the rows the table already holds. So:

* concurrent cell processes (a Slurm job array, one process per GPU) never
  write a table; gathering afterwards gives the complete table;
* a narrower rerun (fewer seeds, fewer rows) never drops a row: rows the
  current selection does not cover are kept;
* a row is matched by its full configuration (:func:`.cells.cell_identity`),
  so a changed configuration (other epochs, say) never reuses a row;
* a table holds one study's settings: cells whose settings differ from the
  table's rows are an error naming the difference, unless ``replace`` is
  given (then the rows of other settings are dropped) or the results go to
  another folder.

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
import math
import os
import re
from pathlib import Path

import pandas as pd

from ..fileio import atomic_write_csv, read_csv
from ..lab.experiments import repository_root
from ..lab.study_tables import (
    FRACTION_METRICS,
    committed_results_dir,
    inside_installation,
    is_fraction,
    make_hint,
    parse_integer_keys,
)
from ..steps import subgraph_size
from ..training.config_io import REPLACED_BUILTINS
from .cells import (
    INTEGER_KEYS,
    PROBES,
    Cell,
    cell_id,
    cell_identity,
    grid_k_problem,
    read_results,
    recorded_config,
    row_problem,
    study_lambda,
    study_settings,
)
from .snapshots import PROXY_COLUMNS, proxy_cosines

__all__ = [
    "STUDY_COLUMNS",
    "PROBE_EPOCH_COLUMNS",
    "runs_dir",
    "check_writable",
    "check_settings",
    "load_table",
    "table_row",
    "gather",
]

_METRICS = ["R@1", "R@2", "R@4", "R@8", "NMI", "untrained R@1", "untrained NMI", "elapsed_s", "config", "machine"]
#: The columns of each study table, in order.
STUDY_COLUMNS = {
    "ablation": ["row", "S^pos", "M", "L^p", "seed", *_METRICS],
    "grid": ["N", "r", "k", "seed", *_METRICS],
    "probes": ["probe", "base", "change", "seed", *PROXY_COLUMNS, *_METRICS],
}
_ORDER = {"ablation": ["row", "seed"], "grid": ["N", "r", "seed"], "probes": ["probe", "seed"]}
#: The columns of ``probe_epochs.csv``: the probes' proxy geometry after every kept epoch, per cell.
PROBE_EPOCH_COLUMNS = ["probe", "seed", "epoch", *PROXY_COLUMNS, "cell"]


def runs_dir(preset: str) -> Path:
    """Default folder of the cell folders: ``<repository or working directory>/runs/studies/<preset>``."""
    return repository_root() / "runs" / "studies" / preset


def check_writable(folder: str | os.PathLike) -> Path:
    """``folder`` as a Path; ValueError if it lies inside the installed package (nothing writes there)."""
    folder = Path(folder)
    if inside_installation(folder):
        raise ValueError(
            f"{folder.resolve()} is inside the installed package; give a folder of your own "
            "(--results/--runs, or set PROXYGML_RESULTS_DIR)"
        )
    return folder


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


def table_row(cell: Cell, results: dict) -> dict:
    """The table row of a finished cell, from its ``results.json``."""
    untrained = results.get("untrained_metrics") or {}
    ids = dict(cell.ids)
    if results.get("num_classes") and "k" in ids:
        ids["k"] = subgraph_size(ids["r"], results["num_classes"], ids["N"])
    machine = results.get("machine")
    return {
        **ids,
        "seed": cell.seed,
        **results["metrics"],
        "untrained R@1": untrained.get("R@1"),
        "untrained NMI": untrained.get("NMI"),
        "elapsed_s": results.get("elapsed_s"),
        "config": json.dumps({**recorded_config(cell.config), "out": None, "resume": False}, sort_keys=True),
        "machine": machine.get("id") if isinstance(machine, dict) else machine,
    }


_FIX = "restore the table (e.g. `git checkout -- FILE`) or delete that line to rerun its cell"


def _read_rows(path: Path, study: str) -> list[dict]:
    """The rows of ``study``'s table at ``path``, each with its cell id in ``_id`` and its line in ``_line``.

    A bad line is one ValueError naming it. Refused: a config that is not
    JSON, identifier columns (``row``/``N``/``r``, ``seed``, the grid's ``k``)
    that disagree with the row's own config (:func:`.cells.row_problem`,
    :func:`.cells.grid_k_problem`), a metric that is not a fraction (a boolean
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
    missing = [c for c in [*_ORDER[study], "R@1"] if c not in table.columns]
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
                continue  # not computed (--no-nmi, or an older table without the column); R@1 every run has
            if metric in row and not is_fraction(value):
                shown = _written(path, index, metric) if value is None else repr(value)
                raise ValueError(f"{line}: {metric} is {shown}, not a fraction in [0, 1]; {_FIX}")
        # one row per cell and seed (two lines of one config have one key too: their columns match the config);
        # the parsed numbers, so "0" and "00" are one seed
        key = tuple(row[c] if c == "probe" else float(row[c]) for c in _ORDER[study])  # a probe is a name
        if key in keys:
            raise ValueError(
                f"lines {keys[key]} and {index + 2} of {path} hold the same cell and seed "
                f"({', '.join(f'{c}={row[c]}' for c in _ORDER[study])}); delete one of them"
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
    (:func:`.cells.study_settings`): an ablation run with another ``N`` or
    another λ, or a grid run with another λ, is not the table's study. Rows
    made with other settings are an error (naming the difference) unless
    ``replace``, which drops them. The rows kept hold one λ among them too,
    whichever rows are rerun: a rerun of rows 1-3 (no L^p, so no λ of their
    own) never keeps a table whose rows 4-8 mix two λ.
    """
    study = cells[0].study if cells else path.stem
    rows = _read_rows(path, study)
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
    """A configuration's identity (:func:`.cells.cell_identity`) without its seed."""
    return {k: v for k, v in json.loads(cell_identity(config)).items() if k != "seed"}


def _sort_key(study: str):
    """The order of a table's rows: by its identifier columns; the probes in the order of :data:`.cells.PROBES`."""
    if study != "probes":
        return lambda row: tuple(row[k] for k in _ORDER[study])
    position = {probe.name: index for index, probe in enumerate(PROBES)}
    return lambda row: (position.get(row["probe"], len(position)), str(row["probe"]), row["seed"])


def _gather_probe_epochs(
    cells: list[Cell], table_ids: set[str], results: Path, runs: Path, measured: dict[str, pd.DataFrame]
) -> None:
    """``<results>/probe_epochs.csv``: the proxy geometry per kept epoch of every probe row's cell.

    Rows of cells still in ``probes.csv`` are kept as they are (their folders may be gone); a probe row's cell
    without rows gets them from its finished folder (:func:`.snapshots.proxy_cosines`; ``measured``: by cell id,
    those already read).
    """
    path = results / "probe_epochs.csv"
    rows = [row for row in _read_epoch_rows(path) if row["cell"] in table_ids]
    have = {row["cell"] for row in rows}
    for cell in cells:
        folder = cell.folder(runs)
        if cell.id in table_ids and cell.id not in have and read_results(folder) is not None:
            curve = measured[cell.id] if cell.id in measured else proxy_cosines(folder)
            for row in curve.to_dict("records"):
                rows.append({"probe": cell.ids["probe"], "seed": cell.seed, **row, "cell": cell.id})
            have.add(cell.id)
    order = _sort_key("probes")
    rows.sort(key=lambda row: (*order(row), row["epoch"]))
    atomic_write_csv(path, rows, PROBE_EPOCH_COLUMNS)


def _read_epoch_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    table = read_csv(path)
    missing = [c for c in ("probe", "seed", "epoch", "cell") if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; restore it or delete it to gather it again")
    return table.astype(object).where(table.notna(), None).to_dict("records")


#: The metric columns of ``metrics.csv`` (:func:`proxygml_lite.training.evaluate.metric_columns`).
_METRIC_COLUMN = re.compile(r"R@[0-9]+|NMI|MAP@R|RP")


def _same(a, b) -> bool:
    """Two metric values equal up to the last bits a CSV parser may lose (a faked value differs by far more)."""
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False
    return math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _finished_cell(cell: Cell, folder: Path) -> dict | None:
    """The finished run of ``cell`` in ``folder`` (its ``results.json``), cross-checked; None when it has not finished.

    Before a row enters a table, the run's own files must agree: the configuration of ``results.json`` and of
    ``config.json`` is the cell's (:func:`.cells.cell_id`), ``results.json`` ran the cell's epochs, and its final
    and untrained metrics are the last and the first row of ``metrics.csv`` (the same metrics, the same values).
    Anything else (a faked or edited ``results.json``, a folder copied from another cell) is one ValueError naming
    the folder.
    """
    results = read_results(folder)  # a damaged results.json: one line naming it
    if results is None:
        return None
    fix = f"delete {folder} to train that cell again, or restore its files"

    def refuse(why: str) -> ValueError:
        return ValueError(f"the finished run in {folder} {why}, so it cannot enter a table; {fix}")

    ran = cell_id(results["config"])
    if ran != cell.id:
        raise refuse(
            f"says in results.json that it ran another configuration (cell id {ran}) than {cell.label} ({cell.id})"
        )
    config_path = folder / "config.json"
    try:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise refuse(f"has no readable config.json ({type(exc).__name__})") from None
    if not isinstance(saved, dict):
        raise refuse("has a config.json that is not a JSON object")
    saved = {k: v for k, v in saved.items() if k != REPLACED_BUILTINS}
    if cell_id(saved) != cell.id:
        raise refuse(
            f"ran another configuration in its config.json (cell id {cell_id(saved)}) than {cell.label} ({cell.id})"
        )
    if results["epochs"] != cell.config.epochs:
        raise refuse(f"says it ran {results['epochs']!r} epochs, not the cell's {cell.config.epochs}")
    metrics_path = folder / "metrics.csv"
    if not metrics_path.is_file():
        raise refuse("has no metrics.csv to check its results.json against")
    history = read_csv(metrics_path)  # empty or cut short: one line naming it
    if "epoch" not in history.columns or history.empty:
        raise refuse("has a metrics.csv without epoch rows")
    rows = history.astype(object).where(history.notna(), None).to_dict("records")
    last = rows[-1]
    if not _same(last["epoch"], results["epochs"]):
        raise refuse(f"has a metrics.csv whose last row is epoch {last['epoch']}, not {results['epochs']}")
    columns = {c for c in history.columns if _METRIC_COLUMN.fullmatch(str(c))}
    if set(results["metrics"]) != columns:
        raise refuse(
            f"has final metrics {sorted(results['metrics'])} in results.json but {sorted(columns)} in metrics.csv"
        )
    for name, value in results["metrics"].items():
        if isinstance(value, float) and math.isnan(value):  # NaN equals nothing, not even metrics.csv's NaN
            raise refuse(f"has {name} NaN (not a number) in results.json: its evaluation failed")
        if not _same(value, last[name]):
            raise refuse(f"has {name} {value!r} in results.json but {last[name]!r} in the last row of metrics.csv")
    untrained = results.get("untrained_metrics")
    first = next((row for row in rows if _same(row["epoch"], 0)), None)
    if isinstance(untrained, dict) and first is not None:
        for name, value in untrained.items():
            if name in first and not (value is None and first[name] is None) and not _same(value, first[name]):
                raise refuse(
                    f"has the untrained {name} {value!r} in results.json but {first[name]!r} in epoch 0 of metrics.csv"
                )
    return results


def gather(cells: list[Cell], results: str | Path, runs: str | Path, replace: bool = False) -> dict[str, pd.DataFrame]:
    """Add the finished cells' rows to ``<results>/<study>.csv``; returns ``{study: table}``.

    A row already in the table (same full configuration) stays as it is; a
    cell whose folder in ``runs`` holds a finished run adds its row; a cell
    without one is left out (not yet run). Rows of cells outside ``cells`` are
    kept. A finished folder enters only if its own files agree (:func:`_finished_cell`: ``results.json``'s
    configuration and ``config.json``'s are the cell's, its metrics are ``metrics.csv``'s last row); a folder
    whose files disagree (a faked ``results.json``) is one ValueError naming it. A new probe row gets its final
    proxy geometry from its folder, and
    ``probe_epochs.csv`` the geometry per epoch. Only one process should
    gather into a folder at a time (:func:`proxygml_lite.studies.make_studies`
    holds the folder's lock).
    """
    results = check_writable(results)
    runs = Path(runs)
    results.mkdir(parents=True, exist_ok=True)
    tables = {}
    measured: dict[str, pd.DataFrame] = {}  # the probes' proxy geometry per epoch, read once per cell
    for study in STUDY_COLUMNS:
        selected = [c for c in cells if c.study == study]
        path = results / f"{study}.csv"
        if not selected:
            if path.exists():
                tables[study] = read_csv(path)
            continue
        rows = check_settings(path, selected, replace)
        have = {row["_id"] for row in rows}
        for cell in selected:
            if cell.id in have:
                continue
            finished = _finished_cell(cell, cell.folder(runs))  # cross-checked with the run's own files
            if finished is not None:
                row = table_row(cell, finished)
                if study == "probes":  # the final proxies' geometry: the last kept epoch of the cell's folder
                    measured[cell.id] = proxy_cosines(cell.folder(runs))
                    final = measured[cell.id].tail(1).to_dict("records")
                    row.update({name: (final[0][name] if final else None) for name in PROXY_COLUMNS})
                rows.append(row)
                have.add(cell.id)
        rows.sort(key=_sort_key(study))
        atomic_write_csv(path, rows, STUDY_COLUMNS[study])
        if study == "probes":
            ids = {row["_id"] if "_id" in row else cell_id(json.loads(row["config"])) for row in rows}
            _gather_probe_epochs(selected, ids, results, runs, measured)
        tables[study] = pd.read_csv(path)
    return tables
