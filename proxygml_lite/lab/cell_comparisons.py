"""Two cells of a study table compared: the difference, its 95% interval and the Holm-corrected p, with the family
the correction runs across named (the comparison widgets of notebooks 8 and 10).

A corrected p depends on the comparisons it is corrected with, so :func:`compare_pair` fixes the family by a rule
that does not look at the result, and says which it used:

* ``"grid"`` (cells ``(N, r)``): when the two cells differ in one setting only (``N`` at one ``r``, or ``r`` at one
  ``N``), the family is every such pair of the grid (:func:`.grid_findings.one_variable_pairs`, the pairs of notebook 8's
  findings tables); when they differ in both, it is every pair of the grid's cells;
* ``"ablation"`` (cells = ``row``): every pair of the table's rows.

Welch's t-test over the seeds gives each difference's interval (per comparison, not corrected) and its p-value;
Holm's step-down correction (:func:`proxygml_lite.statistics.holm`) gives the corrected p. A cell "beats" another
only where the corrected p < 0.05.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import statistics
from .findings import mean_std_text
from .grid_findings import one_variable_pairs
from .study_tables import study_comparisons, summarize_seeds
from .study_views import plot_ablation_seeds, plot_metric_against

__all__ = ["CELL_COLUMNS", "cell_key", "cells_of", "compare_pair", "comparison_title", "plot_cell_comparison"]

#: The identifier columns of a cell, per kind of study table.
CELL_COLUMNS: dict[str, tuple[str, ...]] = {"grid": ("N", "r"), "ablation": ("row",)}


def _columns(kind: str) -> list[str]:
    if kind not in CELL_COLUMNS:
        raise ValueError(f"kind must be one of {', '.join(CELL_COLUMNS)}; got {kind!r}")
    return list(CELL_COLUMNS[kind])


def cell_key(kind: str, values) -> tuple | int:
    """A cell's key in plain Python numbers: ``(N, r)`` as ``(int, float)`` for the grid, the row as ``int``."""
    if kind == "grid":
        n, r = values
        return (int(n), float(r))
    return int(values[0] if isinstance(values, tuple) else values)


def cells_of(table: pd.DataFrame, kind: str, *, metric: str = "R@1") -> list:
    """The table's cells, highest mean ``metric`` first: ``(N, r)`` tuples for the grid, row numbers for the ablation."""
    by = _columns(kind)
    summary = summarize_seeds(table, by=by, metrics=[metric]).sort_values(f"{metric} mean", ascending=False)
    return [cell_key(kind, tuple(row)) for row in summary[by].itertuples(index=False)]


def compare_pair(table: pd.DataFrame, kind: str, a, b, *, metric: str = "R@1") -> dict:
    """Cell ``a`` against cell ``b`` (``mean a - mean b``), Holm-corrected across the family the module states.

    Returns:
        ``{"A", "B"}`` (the cells' labels), ``"mean A"``, ``"mean B"``, ``"std A"``, ``"std B"``, ``"seeds"``,
        ``"difference"``, ``"CI low"``, ``"CI high"`` (Welch's 95% interval), ``"p"``, ``"p (Holm)"``,
        ``"pairs"`` (the family's size) and ``"family"`` (the family in words). Numbers are fractions.
    """
    by = _columns(kind)
    a, b = cell_key(kind, a), cell_key(kind, b)
    label_a, label_b = statistics.cell_label(by, a), statistics.cell_label(by, b)
    if a == b:
        raise ValueError(f"cell A and cell B are the same cell ({label_a}); pick two different cells")
    summary = summarize_seeds(table, by=by, metrics=[metric])
    cells = {cell_key(kind, tuple(row[by])): row for _, row in summary.iterrows()}
    absent = [label for key, label in ((a, label_a), (b, label_b)) if key not in cells]
    if absent:
        raise ValueError(f"no cell {absent[0]} in the table; its cells are {', '.join(map(str, cells))}")
    if kind == "grid":
        n_pairs, r_pairs = one_variable_pairs(summary)
        family = [(cell_key(kind, x), cell_key(kind, y)) for x, y in n_pairs + r_pairs]
        if (a, b) in family or (b, a) in family:
            compared = study_comparisons(table, kind, metric=metric, pairs=family)
            words = f"Holm across the {len(compared)} pairs of cells that differ in N only or in r only"
        else:
            compared = study_comparisons(table, kind, metric=metric)
            words = f"Holm across all {len(compared)} pairs of the grid's cells (A and B differ in N and in r)"
    else:
        compared = study_comparisons(table, kind, metric=metric)
        words = f"Holm across all {len(compared)} pairs of the table's {len(cells)} rows"
    row = statistics.find_comparison(compared, label_a, label_b)
    sign = 1.0 if row["A"] == label_a else -1.0  # the table may hold the pair as (b, a)
    low, high = sorted((sign * row["CI low"], sign * row["CI high"]))
    seeds = {int(cells[a]["seeds"]), int(cells[b]["seeds"])}
    return {
        "A": label_a,
        "B": label_b,
        "mean A": float(cells[a][f"{metric} mean"]),
        "mean B": float(cells[b][f"{metric} mean"]),
        "std A": float(cells[a][f"{metric} std"]),
        "std B": float(cells[b][f"{metric} std"]),
        "seeds": " and ".join(str(s) for s in sorted(seeds)),
        "difference": sign * float(row["difference"]),
        "CI low": float(low),
        "CI high": float(high),
        "p": float(row["p"]),
        "p (Holm)": float(row["p (Holm)"]),
        "pairs": len(compared),
        "family": words,
    }


def comparison_title(pair: dict, *, metric: str = "R@1") -> str:
    """Three lines: the two cells (mean ± std), the difference with its interval and corrected p, the family and the
    reading ("A beats B" only where the corrected p < 0.05)."""
    p = pair["p (Holm)"]
    if np.isnan(p):
        reading = f"no seed spread to test against with {pair['seeds']} seeds"
    elif p < statistics.ALPHA and pair["difference"] != 0:
        reading = "A beats B" if pair["difference"] > 0 else "B beats A"
    else:
        reading = f"cannot be told apart with {pair['seeds']} seeds"
    return (
        f"A: {pair['A']} ({mean_std_text(pair['mean A'], pair['std A'])})   "
        f"B: {pair['B']} ({mean_std_text(pair['mean B'], pair['std B'])}); {metric} %\n"
        f"A − B = {100 * pair['difference']:+.1f} points, 95% CI {100 * pair['CI low']:+.1f} to "
        f"{100 * pair['CI high']:+.1f} (Welch), Holm p = {'n/a' if np.isnan(p) else f'{p:.2g}'}: {reading}\n"
        f"({pair['family']})"
    )


def plot_cell_comparison(table: pd.DataFrame, kind: str, *, a, b, x: str = "N", metric: str = "R@1"):
    """The study's cells with ``a`` and ``b`` marked, titled with their comparison (:func:`compare_pair`).

    The grid is drawn against ``x`` (``"N"``, ``"r"`` or ``"k"``, :func:`.study_views.plot_metric_against`), the
    ablation as its bars with seeds (:func:`.study_views.plot_ablation_seeds`, without the paper's bars).
    """
    pair = compare_pair(table, kind, a, b, metric=metric)
    title = comparison_title(pair, metric=metric)
    if kind == "grid":
        fig = plot_metric_against(table, x=x, metric=metric, marked={cell_key(kind, a): "A", cell_key(kind, b): "B"})
        ax = fig.axes[0]
    else:
        fig = plot_ablation_seeds(table, metric=metric, paper=False)
        ax = fig.axes[0]
        rows = sorted(int(row) for row in table["row"].unique())
        top = table.groupby("row")[metric].max()
        for key, label in ((cell_key(kind, a), "A"), (cell_key(kind, b), "B")):
            at = (rows.index(key), 100 * float(top[key]) + 2)
            ax.annotate(label, at, ha="center", va="bottom", color="crimson", fontweight="bold")
    ax.set_title(title, fontsize=8)
    return fig
