"""Widgets of the experiment notebooks (8-11): controls that redraw a plot of :mod:`study_views` / :mod:`umap_views`.

Each builder returns a :class:`proxygml_lite.teaching.widgets.InteractivePlot`, so
``w.controls[name].value = ...`` redraws and ``w.figure`` is the last figure
(testable without a browser), as for the widgets of notebooks 1-5.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import pandas as pd

from ..teaching.widgets import InteractivePlot
from . import run_views, study_views, umap_views

__all__ = [
    "parameter_study_widget",
    "umap_widget",
    "cost_widget",
    "gallery_widget",
    "ablation_widget",
    "gallery_queries",
]

_STYLE = {"description_width": "initial"}


def _metric_slider(table: pd.DataFrame, value: str = "R@1") -> widgets.SelectionSlider:
    """A slider over the metrics the table holds (R@1, R@2, ..., NMI)."""
    options = [m for m in ("R@1", "R@2", "R@4", "R@8", "R@10", "R@100", "NMI") if m in table.columns]
    if value not in options:
        raise ValueError(f"the table has no {value!r} column; it has metrics {options}")
    return widgets.SelectionSlider(
        options=options, value=value, description="metric", continuous_update=False, style=_STYLE
    )


def _study_view(table, metric, r_values):
    return study_views.plot_metric_vs_N(table, metric=metric, r_values=list(r_values))


def parameter_study_widget(table: pd.DataFrame, *, metric: str = "R@1") -> InteractivePlot:
    """Notebook 8: choose the metric and the ``r`` lines -> ``metric`` against ``N`` (mean ± std, seeds)."""
    r_options = sorted(float(r) for r in table["r"].unique())
    return InteractivePlot(
        _study_view,
        {
            "metric": _metric_slider(table, metric),
            "r_values": widgets.SelectMultiple(
                options=r_options, value=tuple(r_options), description="r", rows=min(len(r_options), 5), style=_STYLE
            ),
        },
        {"table": table},
    )


def _umap_view(views, run, epoch, classes):
    view = views[run]
    epoch = min(view.epochs, key=lambda e: abs(e - epoch))  # runs may have mapped different epochs
    return umap_views.plot_umap_snapshot(view, epoch=epoch, classes=list(classes))


def umap_widget(views: Mapping[str, umap_views.UMAPView], *, classes: int = 4) -> InteractivePlot:
    """Notebook 9: choose the run (its ``N``), the epoch and the classes -> the UMAP view of that epoch.

    Args:
        views: ``{run name, e.g. "N = 12": UMAPView}``, each fitted once on its own run's snapshots.
        classes: how many classes are coloured at first.
    """
    if not views:
        raise ValueError("views is empty; pass {run name: fit_umap(...)}")
    epochs = sorted({e for view in views.values() for e in view.epochs})
    common = sorted(set.intersection(*(set(view.classes) for view in views.values())))
    if not common:
        raise ValueError("the views share no class; fit them with the same classes=")
    return InteractivePlot(
        _umap_view,
        {
            "run": widgets.Dropdown(options=list(views), description="run", style=_STYLE),
            "epoch": widgets.SelectionSlider(
                options=epochs, value=epochs[-1], description="epoch", continuous_update=False, style=_STYLE
            ),
            "classes": widgets.SelectMultiple(
                options=common, value=tuple(common[:classes]), description="classes", rows=6, style=_STYLE
            ),
        },
        {"views": dict(views)},
    )


def _cost_view(table, value, series):
    return study_views.plot_cost_series(table, value=value, series=list(series))


def cost_widget(table: pd.DataFrame, *, value: str = "time_ms") -> InteractivePlot:
    """Notebook 11: choose time or memory and the series -> cost of the loss layer against ``C``."""
    name = "series" if "series" in table.columns else "loss"
    values = [
        v
        for v in ("time_ms", "saved_tensors_mb", "peak_rss_mb", "peak_memory_mb")
        if v in table.columns and table[v].notna().any()
    ]
    if value not in values:
        raise ValueError(f"no measured {value!r} in the table; it has {values}")
    options = list(dict.fromkeys(table[name]))
    return InteractivePlot(
        _cost_view,
        {
            "value": widgets.SelectionSlider(
                options=values, value=value, description="measure", continuous_update=False, style=_STYLE
            ),
            "series": widgets.SelectMultiple(
                options=options, value=tuple(options), description="series", rows=min(len(options), 6), style=_STYLE
            ),
        },
        {"table": table},
    )


def gallery_queries(count: int, *, first: int, rows: int) -> list[int]:
    """``rows`` query indices spread evenly over ``count`` samples, starting at ``first`` (wrapping around)."""
    if count < 2 or rows < 1:
        raise ValueError(f"need at least 2 samples and 1 row; got count={count}, rows={rows}")
    stride = max(count // rows, 1)
    return [(first + i * stride) % count for i in range(rows)]


def _gallery_view(dataset, embeddings, labels, rows, first, k):
    queries = gallery_queries(len(labels), first=first, rows=rows)
    return run_views.plot_retrieval_gallery(dataset, embeddings, labels, query_indices=queries, k=k)


def gallery_widget(dataset, embeddings, labels, *, rows: int = 5, k: int = 6) -> InteractivePlot:
    """Notebook 6: move the first query and the number of neighbours -> the retrieval gallery (hits green, misses red)."""
    count = len(labels)
    return InteractivePlot(
        _gallery_view,
        {
            "first": widgets.IntSlider(
                value=0,
                min=0,
                max=max(count // rows - 1, 0),
                description="first query",
                continuous_update=False,
                style=_STYLE,
            ),
            "k": widgets.IntSlider(
                value=k,
                min=1,
                max=min(10, count - 1),
                description="neighbours k",
                continuous_update=False,
                style=_STYLE,
            ),
        },
        {"dataset": dataset, "embeddings": embeddings, "labels": labels, "rows": rows},
    )


def _ablation_view(table, metric, paper):
    return study_views.plot_ablation_seeds(table, metric=metric, paper=paper)


def ablation_widget(table: pd.DataFrame, *, metric: str = "R@1") -> InteractivePlot:
    """Notebook 10: choose R@1 or NMI and whether to draw the paper's values -> the ablation bars with seeds."""
    slider = _metric_slider(table, metric)
    slider.options = [m for m in slider.options if m in ("R@1", "NMI")]
    slider.value = metric
    return InteractivePlot(
        _ablation_view,
        {"metric": slider, "paper": widgets.Checkbox(value=True, description="the paper's values", indent=False)},
        {"table": table},
    )
