"""Plots of the loss layer's cost (notebook 11): time and memory against ``C`` and ``k``, ProxyGML step by step.

Like :mod:`proxygml_lite.lab.study_views`, each function takes a table and
returns the :class:`matplotlib.figure.Figure` it drew. Times are drawn as the
median with a bar over every kept repeat, so the spread is in sight; whether
two series differ is said by :mod:`proxygml_lite.lab.timing_comparisons`
(Welch on the log times, Holm-corrected), not read off the bars.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .study_tables import summarize_seeds
from .study_views import figure_axes, require_columns

__all__ = ["DATASET_CLASSES", "plot_cost_series", "plot_accuracy_cost_vs_k", "plot_step_times"]


def _series_column(table: pd.DataFrame) -> str:
    return "series" if "series" in table.columns else "loss"


#: The vertical guides of :func:`plot_cost_series`: the training classes of CUB-200-2011 and of SOP.
DATASET_CLASSES: dict[int, str] = {100: "CUB-200", 11318: "SOP"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_LINESTYLES = ("-", "--", "-.", ":")


def plot_cost_series(
    table: pd.DataFrame,
    *,
    value: str = "time_ms",
    series: Sequence[str] | None = None,
    mark_classes: dict[int, str] | None = None,
    ax=None,
    title: str | None = None,
):
    """``value`` per iteration of each loss layer against the number of classes ``C`` (log-log), one line per series.

    Each series has its own hollow marker, smaller for each later series, and
    its own line style, so series with nearly equal values (ProxyNCA and
    Proxy-Anchor's memory) stay visible one inside the other. ``time_ms`` is
    drawn as the median with a bar over every kept repeat (min to max); a
    table written before the repeats were kept gives min to median, and the
    legend says which. Where a series ends because the runner skipped the
    next ``C`` (``skipped`` in the table, see
    :func:`~proxygml_lite.studies.efficiency_table.efficiency_cells`), the reason is
    written at its last point.

    Args:
        table: ``efficiency.csv`` (``num_classes``, a ``series`` or ``loss``
            column, ``value``); several rows of one point are drawn as their
            median with a min-max bar.
        value: e.g. ``"time_ms"``, ``"saved_tensors_mb"`` or ``"peak_memory_mb"``.
        series: which series to draw (default all, in table order).
        mark_classes: labelled dashed guides ``{C: name}`` (default :data:`DATASET_CLASSES`).
    """
    from ..studies.efficiency_table import efficiency_cells

    name = _series_column(table)
    require_columns(table, ("num_classes", name, value), "the efficiency table (efficiency.csv)")
    available = list(dict.fromkeys(table[name]))
    chosen = available if series is None else list(series)
    unknown = [s for s in chosen if s not in available]
    if unknown:
        raise ValueError(f"series {unknown} not in the table; it has {available}")
    if not chosen:
        raise ValueError(f"choose at least one series; the table has {available}")
    cells = efficiency_cells(table) if "time_ms" in table.columns else None
    fig, ax = figure_axes(ax, (7.6, 4.0))
    spread = "min to max"
    skips = []
    drawn = []  # the lowest and highest values drawn, for the room above them
    for i, label in enumerate(available):
        if label not in chosen:
            continue
        if value == "time_ms":
            rows = cells[(cells["series"] == label) & cells["measured"]].set_index("num_classes")
            middle, low = rows["time_ms"], rows["time_ms_min"]
            high = rows["time_ms_max"].fillna(rows["time_ms"])
            repeats = sorted(set(rows["repeats"]))
            spread = (
                f"min to max of {'/'.join(str(r) for r in repeats)} repeats"
                if repeats and repeats[0] > 0
                else "min to median (no other repeats kept)"
            )
        else:
            rows = table[table[name] == label].groupby("num_classes")[value]
            middle, low, high = rows.median(), rows.min(), rows.max()
            keep = middle.notna()
            middle, low, high = middle[keep], low[keep], high[keep]
        if middle.empty:
            continue
        spreads = [middle - low, high - middle]
        drawn.extend([low.min(), high.max()])
        lines = ax.errorbar(
            middle.index,
            middle,
            # no bars (nor bar keys in the legend) for a series measured without spread, e.g. memory
            yerr=spreads if any((s > 0).any() for s in spreads) else None,
            marker=_MARKERS[i % len(_MARKERS)],
            ms=max(9.0 - 1.3 * i, 3.5),
            mfc="none",
            mew=1.3,
            ls=_LINESTYLES[i % len(_LINESTYLES)],
            capsize=2,
            label=label,
            gid=label,
        )
        if cells is not None:
            skipped = cells[(cells["series"] == label) & ~cells["measured"]]
            for _, cell in skipped.iterrows():
                reason = cell["skipped"].split(" (recomputed")[0]
                skips.append((middle.index[-1], middle.iloc[-1], lines[0].get_color(), cell["num_classes"], reason))
    ax.set_xscale("log")
    ax.set_yscale("log")
    guides = DATASET_CLASSES if mark_classes is None else mark_classes
    for c in guides:
        ax.axvline(c, color="0.6", lw=0.8, ls="--", zorder=0)
    if guides:  # the guides' names as ticks on top: they never cover a point
        top = ax.secondary_xaxis("top")
        top.set_xticks(list(guides), [f"{name}: C = {c:,}" for c, name in guides.items()], fontsize=7)
        top.minorticks_off()
        top.tick_params(length=0, colors="0.35")
    drawn = [v for v in drawn if v > 0]  # a log axis
    if skips and len(set(drawn)) > 1:  # room above the highest value for the two-line note, and no more
        low, high = min(drawn), max(drawn)
        ax.set_ylim(low / (high / low) ** 0.05, high * (high / low) ** 0.2)
    for x, y, colour, c, reason in skips:
        ax.annotate(
            f"C = {c:,} skipped:\n{reason}",
            (x, y),
            xytext=(-6, 8),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7,
            color=colour,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "lw": 0.6, "alpha": 0.9},
            gid=f"skipped {c}",
        )
    ax.set_xlabel("number of classes C")
    ax.set_ylabel(
        {
            "time_ms": "forward + backward, ms",
            "peak_memory_mb": "peak memory, MB",
            "saved_tensors_mb": "saved for backward, MB",
            "peak_rss_mb": "peak process memory growth, MB",
        }.get(value, value)
    )
    legend_title = f"median; bars: {spread}" if value == "time_ms" else None
    ax.legend(fontsize=7, title=legend_title, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or f"loss layer per iteration: {value}", fontsize=10)
    return fig


def plot_accuracy_cost_vs_k(
    grid: pd.DataFrame,
    *,
    cost: pd.DataFrame | None = None,
    metric: str = "R@1",
    cost_value: str = "time_ms",
    title: str | None = None,
):
    """Left: ``metric`` against the subgraph size ``k`` (colour = ``N``), mean ± std and seeds.
    Right (with ``cost``): the loss layer's ``cost_value`` against ``k`` for the same ``(N, r)``.

    Args:
        grid: ``grid.csv`` (``N``, ``r``, ``k``, ``seed``, ``metric``).
        cost: a table with ``N``, ``r``, ``k`` and ``cost_value`` (e.g. from
            :func:`~proxygml_lite.studies.loss_cost.measure_loss_cost` per grid cell).
    """
    require_columns(grid, ("N", "r", "k", "seed", metric), "the grid table (grid.csv)")
    summary = summarize_seeds(grid, by=["N", "r"], metrics=[metric])
    panels = 2 if cost is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.0 * panels, 3.8), layout="constrained", squeeze=False)
    n_values = sorted(summary["N"].unique())
    colours = dict(zip(n_values, plt.get_cmap("plasma")(np.linspace(0.0, 0.8, len(n_values)))))
    ax = axes[0, 0]
    for n in n_values:
        line = summary[summary["N"] == n].sort_values("k")
        ax.errorbar(
            line["k"],
            100 * line[f"{metric} mean"],
            yerr=100 * line[f"{metric} std"].fillna(0.0),
            marker="o",
            capsize=3,
            color=colours[n],
            label=f"N = {int(n)}",
            gid=f"N={int(n)}",
        )
        for k, seeds in zip(line["k"], line[f"{metric} per seed"]):
            ax.scatter([k] * len(seeds), 100 * np.asarray(seeds), s=9, color=colours[n], alpha=0.5, zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("k = ceil(r C N), proxies in each subgraph")
    ax.set_ylabel(f"{metric}, %")
    ax.legend(fontsize=8)
    ax.set_title("accuracy against k (mean ± std, dots: seeds)", fontsize=10)
    if cost is not None:
        require_columns(cost, ("N", "k", cost_value), "a cost table with N, k and the cost column")
        ax = axes[0, 1]
        for n in n_values:
            line = cost[cost["N"] == n].sort_values("k")
            spread = None
            if cost_value == "time_ms" and "repeat_times_ms" in line.columns:  # every repeat kept: min to max
                low = np.array([min(t) for t in line["repeat_times_ms"]])
                high = np.array([max(t) for t in line["repeat_times_ms"]])
                spread = [line[cost_value].to_numpy() - low, high - line[cost_value].to_numpy()]
            ax.errorbar(
                line["k"],
                line[cost_value],
                yerr=spread,
                marker="s",
                capsize=3,
                color=colours[n],
                label=f"N = {int(n)}",
                gid=f"cost N={int(n)}",
            )
        ax.set_xscale("log")
        ax.set_xlabel("k = ceil(r C N)")
        ax.set_ylabel({"time_ms": "loss layer, ms per iteration"}.get(cost_value, cost_value))
        shown = "repeat_times_ms" in cost.columns and cost_value == "time_ms"
        ax.legend(fontsize=8, title="median; bars: min to max of the repeats" if shown else None, title_fontsize=7)
        ax.set_title("cost of the loss layer against k", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_step_times(table: pd.DataFrame, *, ax=None, title: str | None = None):
    """Stacked bars: ProxyGML's forward + backward time per step for each ``k`` (from :func:`~proxygml_lite.lab.subgraph_cost.step_times`).

    Each step's bar is the median of its own repeats, timed directly; the
    whole layer timed in one go (rows whose step is ``"whole layer"``), where
    present, is the black diamond beside each stack, with a bar from its fastest
    to its slowest repeat.
    """
    from .subgraph_cost import WHOLE_LAYER

    require_columns(table, ("k", "step", "time_ms"), "the table of subgraph_cost.step_times")
    fig, ax = figure_axes(ax, (6.0, 3.8))
    parts = table[table["step"] != WHOLE_LAYER]
    wide = parts.pivot_table(index="k", columns="step", values="time_ms", sort=False)
    wide = wide[list(dict.fromkeys(parts["step"]))]
    bottom = np.zeros(len(wide))
    x = np.arange(len(wide))
    for step, colour in zip(wide.columns, plt.get_cmap("tab10").colors):
        ax.bar(x, wide[step].to_numpy(), 0.6, bottom=bottom, label=step, color=colour, gid=step)
        bottom += wide[step].to_numpy()
    whole = table[table["step"] == WHOLE_LAYER].set_index("k").reindex(wide.index)
    if len(whole.dropna(subset=["time_ms"])):
        low = whole["time_ms_min"] if "time_ms_min" in whole else whole["time_ms"]
        high = whole["time_ms_max"] if "time_ms_max" in whole else whole["time_ms"]
        ax.errorbar(
            x + 0.4,
            whole["time_ms"],
            yerr=[whole["time_ms"] - low, high - whole["time_ms"]],
            fmt="D",
            color="black",
            ms=5,
            capsize=3,
            label="whole layer, in one go\n(bar: fastest to slowest)",
            gid=WHOLE_LAYER,
        )
    ax.set_xticks(x, [f"k = {int(k):,}" for k in wide.index])
    repeats = sorted(set(table["repeats"])) if "repeats" in table.columns else []
    shown = f" of {'/'.join(str(int(r)) for r in repeats)} repeats" if repeats else ""
    ax.set_ylabel(f"forward + backward, ms (median{shown})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or "ProxyGML step by step (same C N, growing k)", fontsize=10)
    return fig
