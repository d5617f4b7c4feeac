"""Widgets of the experiment notebooks (6-11): controls that redraw a plot of :mod:`study_views` / :mod:`efficiency_views` / :mod:`umap_views`.

As in :mod:`proxygml_lite.teaching.widgets`, each widget is declared once
(``*_views``, a :class:`~proxygml_lite.teaching.views.Views`) and shown by its
builder (``*_widget``) as an :class:`~proxygml_lite.teaching.widgets.InteractivePlot`,
so ``w.controls[name].value = ...`` redraws and ``w.figure`` is the last figure
(testable without a browser). The offline site draws the declarations of
notebooks 8-11, which read committed tables, view by view.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .. import statistics
from ..teaching.views import Views, menu, slider, subset, switch
from ..teaching.widgets import InteractivePlot
from . import cell_comparisons, efficiency_views, proxy_spread_views, run_views, study_views, umap_views

__all__ = [
    "compare_cells_views",
    "compare_cells_widget",
    "parameter_study_views",
    "parameter_study_widget",
    "umap_run_views",
    "umap_widget",
    "cost_views",
    "cost_widget",
    "gallery_views",
    "gallery_widget",
    "ablation_views",
    "ablation_widget",
    "gallery_queries",
]

METRICS = ("R@1", "R@2", "R@4", "R@8", "R@10", "R@100", "NMI")


def _metric_slider(table: pd.DataFrame, value: str = "R@1", metrics=METRICS):
    """A slider over the ``metrics`` the table holds (R@1, R@2, ..., NMI)."""
    options = [m for m in metrics if m in table.columns]
    if value not in options:
        raise ValueError(f"the table has no {value!r} column among the metrics {list(metrics)}; it has {options}")
    return slider("metric", "metric", options, value)


def _study_view(table, metric, r_values):
    return study_views.plot_metric_vs_N(table, metric=metric, r_values=list(r_values))


def parameter_study_views(table: pd.DataFrame, *, metric: str = "R@1") -> Views:
    """Notebook 8: choose the metric and the ``r`` lines -> ``metric`` against ``N`` (mean ± std, seeds).

    5 metrics and 3 values of ``r`` (8 subsets) are 40 views.
    """
    r_options = sorted(float(r) for r in table["r"].unique())
    return Views(
        _study_view,
        (_metric_slider(table, metric), subset("r_values", "r", r_options, r_options)),
        {"table": table},
    )


def parameter_study_widget(table: pd.DataFrame, *, metric: str = "R@1") -> InteractivePlot:
    """:func:`parameter_study_views` as a widget."""
    return InteractivePlot(parameter_study_views(table, metric=metric))


def _comparison_view(table, kind, a, b, x="N", metric="R@1"):
    return cell_comparisons.plot_cell_comparison(table, kind, a=a, b=b, x=x, metric=metric)


def compare_cells_views(
    table: pd.DataFrame,
    kind: str,
    *,
    metric: str = "R@1",
    cells=None,
    a=None,
    b=None,
    x: str = "N",
    metrics: tuple[str, ...] = ("R@1", "NMI"),
) -> Views:
    """Notebooks 8 and 10: pick two cells -> their difference, its 95% interval and the Holm-corrected p.

    The family the correction runs across is fixed by :func:`.cell_comparisons.compare_pair`'s rule and named in the
    figure's title. Picking the same cell twice shows the line "pick two different cells".

    Args:
        table: ``grid.csv`` (``kind="grid"``, cells ``(N, r)``) or ``ablation.csv`` (``kind="ablation"``, cells
            are rows).
        metric: the metric compared; for the ablation a slider offers ``metrics``, starting at ``metric``.
        cells: the cells the two menus offer (default every cell of the table, highest mean first); the
            comparisons always use the whole table.
        a, b: the cells it opens with (default the two highest means among ``cells``).
        x: for the grid, the x axis it opens with (a slider over ``N``, ``r`` and ``k = ceil(r C N)``).
        metrics: for the ablation, the metrics its slider offers; with one metric there is no slider.

    For the grid, 3 axes and 15 cells per menu are 675 views; for the ablation, 2 metrics and 8 rows per menu are
    128. The offline site offers fewer cells or one metric (:mod:`.book_views`).
    """
    everything = cell_comparisons.cells_of(table, kind, metric=metric)
    offered = everything if cells is None else [cell_comparisons.cell_key(kind, c) for c in cells]
    unknown = [c for c in offered if c not in everything]
    if unknown or len(offered) < 2:
        raise ValueError(f"cells must be at least two of the table's cells {everything}; got {list(cells or [])}")
    offered = [c for c in everything if c in offered]  # highest mean first
    a = offered[0] if a is None else cell_comparisons.cell_key(kind, a)
    b = offered[1] if b is None else cell_comparisons.cell_key(kind, b)
    by = list(cell_comparisons.CELL_COLUMNS[kind])
    labels = [statistics.cell_label(by, c) for c in offered]
    pick = (menu("a", "cell A", offered, a, labels=labels), menu("b", "cell B", offered, b, labels=labels))
    if kind == "grid":
        controls = (slider("x", "x-axis", ("N", "r", "k"), x), *pick)
        fixed = {"table": table, "kind": kind, "metric": metric}
    elif len(metrics) > 1:
        controls = (_metric_slider(table, metric, metrics), *pick)
        fixed = {"table": table, "kind": kind}
    else:
        controls, fixed = pick, {"table": table, "kind": kind, "metric": metrics[0]}
    return Views(_comparison_view, controls, fixed)


def compare_cells_widget(table: pd.DataFrame, kind: str, **choices) -> InteractivePlot:
    """:func:`compare_cells_views` as a widget (the same keyword arguments)."""
    return InteractivePlot(compare_cells_views(table, kind, **choices))


def _umap_view(maps, measures, classes, run, epoch, n_neighbors, min_dist, trajectories):
    view = maps[(n_neighbors, min_dist)][run]
    epoch = min(view.epochs, key=lambda e: abs(e - epoch))  # runs may have mapped different epochs
    title = proxy_spread_views.measured_title(measures[run], epoch, run=run)
    return umap_views.plot_umap_snapshot(view, epoch=epoch, classes=classes, trajectories=trajectories, title=title)


def umap_run_views(
    maps: Mapping[tuple[int, float], Mapping[str, umap_views.UMAPView]],
    measures: Mapping[str, pd.DataFrame],
    *,
    classes: int = 6,
) -> Views:
    """Notebook 9: choose the run (its ``N``), the epoch, UMAP's ``n_neighbors`` and ``min_dist`` (a refit: each pair
    is its own aligned map) and whether to draw the proxies' trajectories -> that epoch's map, titled with the
    cosines measured in the embedding space.

    Args:
        maps: :func:`proxygml_lite.lab.umap_maps.umap_maps`, ``{(n_neighbors, min_dist): {run name: UMAPView}}``,
            the same runs for every pair.
        measures: ``{run name: proxy_spread_views.spread_over_epochs(...)}`` with every mapped epoch.
        classes: colour the first ``classes`` classes the maps share. Three runs, four epochs, two ``n_neighbors``,
            two ``min_dist`` and the trajectory switch are 96 views.
    """
    if not maps or not all(maps.values()):
        raise ValueError("maps is empty; pass umap_maps.umap_maps(...), {(n_neighbors, min_dist): {run: view}}")
    runs = list(next(iter(maps.values())))
    if any(list(views) != runs for views in maps.values()):
        raise ValueError("every (n_neighbors, min_dist) needs maps of the same runs; fit them with one umap_maps call")
    absent = [run for run in runs if run not in measures]
    if absent:
        raise ValueError(f"no measured cosines for {absent}; pass measures={{run: spread_over_epochs(...)}}")
    if classes < 1:
        raise ValueError(f"classes is the number of classes to colour, at least 1; got {classes}")
    views = [view for by_run in maps.values() for view in by_run.values()]
    epochs = sorted({e for view in views for e in view.epochs})
    common = sorted(set.intersection(*(set(view.classes) for view in views)))
    if not common:
        raise ValueError("the views share no class; fit them with the same classes=")
    neighbours = sorted({k for k, _ in maps})
    distances = sorted({d for _, d in maps})
    missing = [(k, d) for k in neighbours for d in distances if (k, d) not in maps]
    if missing:
        raise ValueError(f"maps lacks the UMAP settings {missing}; fit every (n_neighbors, min_dist) pair")
    first = next(iter(maps))
    return Views(
        _umap_view,
        (
            menu("run", "run", runs, runs[0]),
            slider("epoch", "epoch", epochs, epochs[-1]),
            slider("n_neighbors", "n_neighbors", neighbours, first[0]),
            slider("min_dist", "min_dist", distances, first[1]),
            switch("trajectories", "proxy trajectories", True),
        ),
        {"maps": dict(maps), "measures": dict(measures), "classes": common[:classes]},
    )


def umap_widget(
    maps: Mapping[tuple[int, float], Mapping[str, umap_views.UMAPView]],
    measures: Mapping[str, pd.DataFrame],
    *,
    classes: int = 6,
) -> InteractivePlot:
    """:func:`umap_run_views` as a widget."""
    return InteractivePlot(umap_run_views(maps, measures, classes=classes))


def _cost_view(table, value, series):
    return efficiency_views.plot_cost_series(table, value=value, series=list(series))


COST_MEASURES = ("time_ms", "saved_tensors_mb", "peak_rss_mb", "peak_memory_mb")


def cost_views(table: pd.DataFrame, *, value: str = "time_ms") -> Views:
    """Notebook 11: choose time or memory and the series -> cost of the loss layer against ``C``.

    3 measures and 5 series (32 subsets) are 96 views.
    """
    name = "series" if "series" in table.columns else "loss"
    values = [v for v in COST_MEASURES if v in table.columns and table[v].notna().any()]
    if value not in values:
        raise ValueError(f"no measured {value!r} in the table; it has {values}")
    options = list(dict.fromkeys(table[name]))
    return Views(
        _cost_view,
        (slider("value", "measure", values, value), subset("series", "series", options, options)),
        {"table": table},
    )


def cost_widget(table: pd.DataFrame, *, value: str = "time_ms") -> InteractivePlot:
    """:func:`cost_views` as a widget."""
    return InteractivePlot(cost_views(table, value=value))


def gallery_queries(count: int, *, first: int, rows: int) -> list[int]:
    """``rows`` query indices spread evenly over ``count`` samples, starting at ``first`` (wrapping around)."""
    if count < 2 or rows < 1:
        raise ValueError(f"need at least 2 samples and 1 row; got count={count}, rows={rows}")
    stride = max(count // rows, 1)
    return [(first + i * stride) % count for i in range(rows)]


def _gallery_view(dataset, embeddings, labels, rows, first, k):
    queries = gallery_queries(len(labels), first=first, rows=rows)
    return run_views.plot_retrieval_gallery(dataset, embeddings, labels, query_indices=queries, k=k)


def gallery_views(dataset, embeddings, labels, *, rows: int = 5, k: int = 6) -> Views:
    """Notebooks 6 and 7: move the first query and the number of neighbours -> the retrieval gallery (hits green,
    misses red). The embeddings come from a run trained in the notebook, so the offline site shows its saved state."""
    count = len(labels)
    return Views(
        _gallery_view,
        (
            slider("first", "first query", range(max(count // rows, 1)), 0),
            slider("k", "neighbours k", range(1, min(10, count - 1) + 1), k),
        ),
        {"dataset": dataset, "embeddings": embeddings, "labels": labels, "rows": rows},
    )


def gallery_widget(dataset, embeddings, labels, *, rows: int = 5, k: int = 6) -> InteractivePlot:
    """:func:`gallery_views` as a widget."""
    return InteractivePlot(gallery_views(dataset, embeddings, labels, rows=rows, k=k))


def _ablation_view(table, metric, paper):
    return study_views.plot_ablation_seeds(table, metric=metric, paper=paper)


def ablation_views(table: pd.DataFrame, *, metric: str = "R@1") -> Views:
    """Notebook 10: choose R@1 or NMI and whether to draw the paper's values -> the ablation bars with seeds (4 views)."""
    return Views(
        _ablation_view,
        (_metric_slider(table, metric, ("R@1", "NMI")), switch("paper", "the paper's values", True)),
        {"table": table},
    )


def ablation_widget(table: pd.DataFrame, *, metric: str = "R@1") -> InteractivePlot:
    """:func:`ablation_views` as a widget."""
    return InteractivePlot(ablation_views(table, metric=metric))
