"""Reading the efficiency table back: one row per (series, ``C``), in either format.

:func:`efficiency_cells` reads a table written by
:func:`proxygml_lite.studies.efficiency.measure_efficiency`, including the
tables written before the runner kept the per-repeat times and the ``skipped``
column (the table committed until 2026-12-06, now
``tests/studies/efficiency_old_format.csv``); :func:`repeat_table` lists every
kept repeat.
"""

from __future__ import annotations

import math

import pandas as pd

from .efficiency import EFFICIENCY_SERIES, parse_times, skip_reason, text_cell

__all__ = ["efficiency_cells", "repeat_table"]


def efficiency_cells(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (series, ``C``) of an efficiency table, in either format, with the repeats as lists.

    Columns: ``series``, ``num_classes``, ``batch_size``, ``dim``,
    ``loss_parameters``, ``measured`` (bool), ``repeats`` (how many repeat
    times the table keeps: 0 for a table written before they were kept),
    ``repeat_times_ms`` (a list), ``time_ms`` (median), ``time_ms_min``,
    ``time_ms_max`` (NaN without repeats), ``saved_tensors_mb``,
    ``peak_rss_mb``, ``load_1min`` (NaN where not recorded), ``cpu`` and
    ``machine`` (the fingerprint id; ``""`` where not recorded) and ``skipped``
    (``""`` for a measured cell).

    A table without a ``skipped`` column (written before it existed) lists
    only the measured cells; the cells of its series (those of
    :data:`EFFICIENCY_SERIES`) and class counts that it lacks get the reason
    the runner gives today, recomputed with :func:`skip_reason` (the same
    estimate and cap as when that table was made), marked as recomputed.
    """
    name = "series" if "series" in table.columns else "loss"
    missing = [c for c in (name, "num_classes", "time_ms") if c not in table.columns]
    if missing:
        raise ValueError(
            f"the efficiency table lacks the column(s) {missing}; pass efficiency.csv (it has {list(table.columns)})"
        )
    out = []
    for _, row in table.iterrows():
        skipped = text_cell(row.get("skipped"))
        times = parse_times(row.get("repeat_times_ms", ""))
        out.append(
            {
                "series": row[name],
                "num_classes": int(row["num_classes"]),
                "batch_size": row.get("batch_size", math.nan),
                "dim": row.get("dim", math.nan),
                "loss_parameters": row.get("loss_parameters", math.nan),
                "measured": not skipped,
                "repeats": len(times),
                "repeat_times_ms": times,
                "time_ms": float(row["time_ms"]),
                "time_ms_min": _fastest(row, times),
                "time_ms_max": max(times) if times else math.nan,
                "saved_tensors_mb": float(row.get("saved_tensors_mb", math.nan)),
                "peak_rss_mb": float(row.get("peak_rss_mb", math.nan)),
                "load_1min": float(row.get("load_1min", math.nan)),
                "cpu": text_cell(row.get("cpu")),
                "machine": text_cell(row.get("machine")),
                "skipped": skipped,
            }
        )
    if "skipped" not in table.columns and name == "series" and {"batch_size", "dim"} <= set(table.columns):
        have = {(r["series"], r["num_classes"]) for r in out}
        batch_size, dim = int(table["batch_size"].iloc[0]), int(table["dim"].iloc[0])
        for series in dict.fromkeys(table["series"]):
            if series not in EFFICIENCY_SERIES:
                continue
            loss, kwargs = EFFICIENCY_SERIES[series]
            for c in sorted({int(c) for c in table["num_classes"]}):
                reason = skip_reason(loss, kwargs, c, batch_size, dim)
                if (series, c) in have or not reason:
                    continue
                out.append(
                    {
                        "series": series,
                        "num_classes": c,
                        "batch_size": batch_size,
                        "dim": dim,
                        "loss_parameters": math.nan,
                        "measured": False,
                        "repeats": 0,
                        "repeat_times_ms": [],
                        **{k: math.nan for k in ("time_ms", "time_ms_min", "time_ms_max")},
                        **{k: math.nan for k in ("saved_tensors_mb", "peak_rss_mb", "load_1min")},
                        "cpu": "",
                        "machine": "",
                        "skipped": f"{reason} (recomputed: the table predates its skipped column)",
                    }
                )
    order = {s: i for i, s in enumerate(dict.fromkeys(table[name]))}
    cells = pd.DataFrame(out)
    cells = cells.sort_values(
        ["series", "num_classes"], key=lambda col: col.map(order) if col.name == "series" else col
    )
    return cells.reset_index(drop=True)


def _fastest(row: pd.Series, times: list[float]) -> float:
    """The fastest repeat: the table's ``time_ms_min``, else the kept repeats' minimum, else the median itself."""
    value = float(row.get("time_ms_min", math.nan))
    if math.isnan(value):
        value = min(times) if times else float(row["time_ms"])
    return value


def repeat_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every kept repeat as a row: ``series``, ``num_classes``, ``repeat``, ``time_ms`` (empty for an old table)."""
    rows = [
        {"series": cell["series"], "num_classes": cell["num_classes"], "repeat": i, "time_ms": t}
        for _, cell in efficiency_cells(table).iterrows()
        for i, t in enumerate(cell["repeat_times_ms"])
    ]
    return pd.DataFrame(rows, columns=["series", "num_classes", "repeat", "time_ms"])
