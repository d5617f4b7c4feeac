"""Gathering the study tables ``<results>/{ablation,grid,probes}.csv`` from finished cell folders, never destroying a row.

Cells train in their own folders (:mod:`.cells`); a table is only ever
written by :func:`gather`, which reads the finished cell folders and adds
their rows to the rows the table already holds. So:

* concurrent cell processes (a Slurm job array, one process per GPU) never
  write a table; gathering afterwards gives the complete table;
* a narrower rerun (fewer seeds, fewer rows) never drops a row: rows the
  current selection does not cover are kept;
* a row is matched by its full configuration (:func:`.identity.cell_identity`),
  so a changed configuration (other epochs, say) never reuses a row;
* a table holds one study's settings: cells whose settings differ from the
  table's rows are an error naming the difference, unless ``replace`` is
  given (then the rows of other settings are dropped) or the results go to
  another folder.

The tables' columns, and the checks of the rows a table already holds, are in
:mod:`.tables`.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pandas as pd

from ..atomic_writers import atomic_write_csv
from ..fileio import read_csv
from ..lab.experiments import repository_root
from ..lab.study_tables import inside_installation
from ..steps import subgraph_size
from ..training.config_io import REPLACED_BUILTINS
from .cells import Cell, read_results
from .design import PROBES
from .identity import cell_id, recorded_config
from .snapshots import PROXY_COLUMNS, proxy_cosines
from .tables import CELL_ORDER, PROBE_EPOCH_COLUMNS, STUDY_COLUMNS, check_settings

__all__ = [
    "runs_dir",
    "check_writable",
    "table_row",
    "gather",
]


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


def _sort_key(study: str):
    """The order of a table's rows: by its identifier columns; the probes in the order of :data:`.design.PROBES`."""
    if study != "probes":
        return lambda row: tuple(row[k] for k in CELL_ORDER[study])
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
    ``config.json`` is the cell's (:func:`.identity.cell_id`), ``results.json`` ran the cell's epochs, and its final
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
            if isinstance(value, float) and math.isnan(value):
                raise refuse(f"has the untrained {name} NaN (not a number) in results.json: its evaluation failed")
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
