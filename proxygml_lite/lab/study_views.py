"""Plots of the seeded studies (notebooks 8 and 10): every cell's mean, its seed spread and the seeds themselves.

Each function takes a committed table (:mod:`proxygml_lite.lab.study_tables`: one
row per cell and seed, metrics as fractions) and returns the
:class:`matplotlib.figure.Figure` it drew, so notebooks show it in one call,
widgets redraw it and tests inspect it. Means are drawn as lines or bars, the
sample standard deviation over the seeds as error bars, and every seed as a
dot, so the spread is in sight. Whether two cells differ is not read off the
bars: :func:`proxygml_lite.lab.study_tables.study_comparisons` says it (Welch,
Holm-corrected). The paper's numbers, where drawn, are hatched and labelled
as the paper's. The cost plots of notebook 11 are in
:mod:`proxygml_lite.lab.efficiency_views`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .findings import mean_std_text
from .study_tables import config_of, summarize_seeds

__all__ = [
    "plot_metric_against",
    "plot_metric_vs_N",
    "plot_grid_heatmap",
    "plot_ablation_seeds",
    "plot_paper_comparison",
    "figure_axes",
    "require_columns",
]

_PAPER_LABEL = "paper (Zhu et al., NeurIPS 2020)"


def figure_axes(ax, figsize):
    """``ax``'s figure and ``ax``, or a new constrained-layout figure of ``figsize`` and its axes."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """One clear error naming the missing columns and the table to pass (``what``)."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the table has no column(s) {missing}; pass {what} (it has {list(table.columns)})")


#: How far the outermost lines of one plot are dodged apart, as a fraction of the x axis' log range.
DODGE = 0.06
#: The axis label of each x variable of :func:`plot_metric_against`.
X_LABELS = {"N": "N (proxies per class)", "r": "r (subgraph scale)", "k": "k = ceil(r C N) (proxies per subgraph)"}


def _dodged(values, line: int, lines: int, span: float) -> np.ndarray:
    """``values`` (on a log axis) moved sideways for line ``line`` of ``lines``, so error bars do not overlap."""
    step = DODGE * span / max(lines - 1, 1)
    return np.asarray(values, dtype=float) * np.exp(step * (line - (lines - 1) / 2))


def plot_metric_against(
    table: pd.DataFrame,
    *,
    x: str = "N",
    metric: str = "R@1",
    lines: Sequence[float] | None = None,
    marked: dict | None = None,
    new: pd.DataFrame | None = None,
    ax=None,
    title: str | None = None,
):
    """``metric`` against ``N``, ``r`` or ``k`` over the ``N x r`` grid, one line per value of the other setting.

    Against ``N`` each line is one ``r`` (the paper's parameter-study figure); against ``r`` or ``k = ceil(r C N)``
    each line is one ``N``. A line's points are its cells' means with ± one sample std over the seeds and every
    seed as a dot; the lines are dodged sideways (on the log axis) so that their error bars do not overlap.

    Args:
        table: ``grid.csv`` (columns ``N``, ``r``, ``seed``, ``metric``, and ``k`` for ``x="k"``).
        x: ``"N"``, ``"r"`` or ``"k"``.
        metric: ``"R@1"``, ``"NMI"``, ... (fractions, drawn in percent).
        lines: the values of the line setting to draw (``r`` for ``x="N"``, else ``N``; default all).
        marked: ``{(N, r): label}``: cells ringed and labelled (e.g. the two cells a comparison picks).
        new: runs of cells to place against the grid (``N``, ``r``, ``k``, ``metric``; one row per run),
            drawn as stars beside their line's colour and named in the legend.
    """
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {', '.join(X_LABELS)}; got {x!r}")
    require_columns(table, ("N", "r", "seed", metric) + (("k",) if x == "k" else ()), "the grid table (grid.csv)")
    summary = summarize_seeds(table, by=["N", "r"], metrics=[metric])
    along = "r" if x == "N" else "N"
    available = sorted(summary[along].unique())
    chosen = available if lines is None else [float(v) for v in lines]
    unknown = [v for v in chosen if not np.isclose(available, v).any()]
    if unknown:
        raise ValueError(f"{along} value(s) {unknown} not in the grid; it has {along} = {available}")
    if not chosen:
        raise ValueError(f"choose at least one {along}; the grid has {along} = {available}")
    fig, ax = figure_axes(ax, (5.6, 3.8))
    colours = dict(zip(available, plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(available)))))
    xs = summary[x].astype(float)
    span = float(np.log(xs.max() / xs.min())) if xs.min() > 0 and xs.max() > xs.min() else 1.0
    shown = [v for v in available if np.isclose(chosen, v).any()]
    where = {}
    for number, value in enumerate(shown):
        line = summary[np.isclose(summary[along], value)].sort_values(x)
        position = _dodged(line[x], number, len(shown), span)
        name = f"{along} = {value:g}"
        ax.errorbar(
            position,
            100 * line[f"{metric} mean"],
            yerr=100 * line[f"{metric} std"].fillna(0.0),
            marker="o",
            capsize=3,
            color=colours[value],
            label=name,
            gid=name.replace(" ", ""),
        )
        for at, seeds, n, r in zip(position, line[f"{metric} per seed"], line["N"], line["r"]):
            ax.scatter([at] * len(seeds), 100 * np.asarray(seeds), s=9, color=colours[value], alpha=0.5, zorder=3)
            where[(float(n), float(r))] = at
    for (n, r), label in (marked or {}).items():
        cell = summary[np.isclose(summary["N"], n) & np.isclose(summary["r"], r)]
        if cell.empty or (float(n), float(r)) not in where:
            raise ValueError(
                f"cell N={n:g}, r={r:g} is not drawn; the grid has {sorted(zip(summary['N'], summary['r']))}"
            )
        y = 100 * float(cell[f"{metric} mean"].iloc[0])
        ax.scatter([where[(float(n), float(r))]], [y], s=220, facecolors="none", edgecolors="crimson", lw=1.6, zorder=4)
        ax.annotate(label, (where[(float(n), float(r))], y), xytext=(7, 7), textcoords="offset points", color="crimson")
    if new is not None and len(new):
        require_columns(new, ("N", "r", x, metric), "the new runs (N, r, k and the metric, one row per run)")
        for _, run in new.iterrows():
            colour = colours.get(float(run[along]), "black")
            ax.scatter(
                [float(run[x])],
                [100 * float(run[metric])],
                marker="*",
                s=160,
                color=colour,
                edgecolors="black",
                zorder=5,
                label=f"new: N = {int(run['N'])}, r = {float(run['r']):g} (1 run)",
            )
    ax.set_xscale("log")
    ticks = sorted(set(xs) | (set(new[x].astype(float)) if new is not None and len(new) else set()))
    ax.set_xticks(
        ticks, [f"{t:g}" for t in ticks], fontsize=7 if len(ticks) > 8 else None, rotation=90 if len(ticks) > 8 else 0
    )
    ax.minorticks_off()
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel(f"{metric} on the unseen classes, %")
    ax.legend(fontsize=7 if len(shown) > 3 else 8)
    seeds = int(summary["seeds"].min())
    ax.set_title(title or f"{metric} against {x} (mean ± std over {seeds}+ seeds; dots: seeds)", fontsize=10)
    return fig


def plot_metric_vs_N(
    table: pd.DataFrame,
    *,
    metric: str = "R@1",
    r_values: Sequence[float] | None = None,
    ax=None,
    title: str | None = None,
):
    """``metric`` against ``N``, one line per ``r`` (the paper's parameter-study figure), with the seed spread.

    :func:`plot_metric_against` with ``x="N"``; the lines of the ``r_values`` (default all) are dodged sideways.
    """
    return plot_metric_against(table, x="N", metric=metric, lines=r_values, ax=ax, title=title)


def plot_grid_heatmap(table: pd.DataFrame, *, metric: str = "R@1", ax=None, title: str | None = None):
    """Heat map of the mean ``metric`` over the ``N x r`` grid; each cell shows ``mean ± std`` and ``k = ceil(rCN)``."""
    require_columns(table, ("N", "r", "seed", metric), "the grid table (grid.csv)")
    summary = summarize_seeds(table, by=["N", "r"], metrics=[metric])
    n_values, r_values = sorted(summary["N"].unique()), sorted(summary["r"].unique())
    means = np.full((len(n_values), len(r_values)), np.nan)
    fig, ax = figure_axes(ax, (1.25 * len(r_values) + 2.6, 0.62 * len(n_values) + 1.6))
    for _, cell in summary.iterrows():
        i, j = n_values.index(cell["N"]), r_values.index(cell["r"])
        means[i, j] = 100 * cell[f"{metric} mean"]
    image = ax.imshow(means, cmap="viridis", aspect="auto", origin="lower")
    middle = np.nanmean(means)
    for _, cell in summary.iterrows():
        i, j = n_values.index(cell["N"]), r_values.index(cell["r"])
        text = mean_std_text(cell[f"{metric} mean"], cell[f"{metric} std"]).replace(" ± ", "±")
        if "k" in cell and not pd.isna(cell["k"]):
            text += f"\nk={int(cell['k'])}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="black" if means[i, j] > middle else "white")
    ax.set_xticks(range(len(r_values)), [f"{r:g}" for r in r_values])
    ax.set_yticks(range(len(n_values)), [str(int(n)) for n in n_values])
    ax.set_xlabel("r (subgraph scale)")
    ax.set_ylabel("N (proxies per class)")
    fig.colorbar(image, ax=ax, label=f"mean {metric}, %")
    seeds = int(summary["seeds"].min())
    ax.set_title(title or f"{metric} over the grid (mean ± std over {seeds}+ seeds; k = ceil(r C N))", fontsize=10)
    return fig


def plot_ablation_seeds(
    table: pd.DataFrame,
    *,
    metric: str = "R@1",
    paper: bool = True,
    ax=None,
    title: str | None = None,
):
    """This code's ablation (mean ± std and the seeds) on an axis fitted to its values, and the paper's beside it.

    The first axes hold this code's rows: the mean as a bar from the axis'
    floor, the sample std as an error bar and each seed as a dot, on a y-range
    fitted to the seeds (so 1-2 point differences show). With ``paper`` a
    second axes (0-100 %) holds the paper's published values, hatched: another
    dataset and network, and for NMI another protocol (this code's tables use
    ``--nmi-protocol fast``, the paper the official one), so the two are drawn
    apart and compared by pattern, not level.

    Args:
        table: ``ablation.csv`` (``row``, ``seed``, ``metric``).
        metric: ``"R@1"`` or ``"NMI"``.
        paper: also draw the paper's published value of each row (a second axes).
        ax: draw this code's rows on this axes (then ``paper`` must be False).
    """
    from ..studies import ABLATION_ROWS
    from ..studies.paper import paper_ablation

    require_columns(table, ("row", "seed", metric), "the ablation table (ablation.csv)")
    if paper and metric not in ("R@1", "NMI"):
        raise ValueError(f"the paper's ablation reports R@1 and NMI only; got metric={metric!r} (or paper=False)")
    if paper and ax is not None:
        raise ValueError("pass ax= only with paper=False: the paper's values take a second axes")
    summary = summarize_seeds(table, by=["row"], metrics=[metric]).sort_values("row")
    if ax is None:
        fig, axes = plt.subplots(
            1, 2 if paper else 1, figsize=(10.5 if paper else 7.2, 3.8), layout="constrained", squeeze=False
        )
        ax = axes[0, 0]
    else:
        fig = ax.figure
    x = np.arange(len(summary))
    means = 100 * summary[f"{metric} mean"].to_numpy()
    seeds = [100 * np.asarray(v) for v in summary[f"{metric} per seed"]]
    stds = 100 * summary[f"{metric} std"].fillna(0.0).to_numpy()
    low = min(min(v.min() for v in seeds), float((means - stds).min()))
    high = max(max(v.max() for v in seeds), float((means + stds).max()))
    floor = np.floor(low - 0.08 * (high - low) - 0.5)
    ax.bar(x, means - floor, 0.6, bottom=floor, color="tab:blue", alpha=0.35, label="mean", gid="ours")
    ax.errorbar(x, means, yerr=stds, fmt="none", ecolor="tab:blue", capsize=4, label="± std over seeds")
    for xi, values in zip(x, seeds):
        ax.scatter([xi] * len(values), values, s=12, color="black", zorder=3)
    ax.scatter([], [], s=12, color="black", label="one seed")
    ax.set_ylim(floor, np.ceil(high + 0.12 * (high - low) + 0.5))
    switches = {number: (s, m, p) for number, s, m, p in ABLATION_ROWS}
    mark = {True: "✓", False: "×"}
    labels = [f"{int(row)}\n" + " ".join(mark[v] for v in switches[int(row)]) for row in summary["row"]]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("row; S$^{pos}$ M $\\mathcal{L}^p$ (✓ on, × off)")
    recorded = config_of(table).get("nmi_protocol", "not recorded") if "config" in table.columns else "not recorded"
    protocol = f" (NMI protocol: {recorded})" if metric == "NMI" else ""
    ax.set_ylabel(f"{metric}, % (axis from {floor:g})")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", ncols=3)
    seeds_text = f"{int(summary['seeds'].min())}" + (
        f"-{int(summary['seeds'].max())}" if summary["seeds"].max() != summary["seeds"].min() else ""
    )
    ax.set_title(title or f"this code{protocol}: {metric} per row, {seeds_text} seeds", fontsize=10)
    if paper:
        theirs = fig.axes[1]
        published = paper_ablation().set_index("row")[metric]
        theirs.bar(
            x,
            summary["row"].map(published).to_numpy(dtype=float),
            0.6,
            color="white",
            edgecolor="0.3",
            hatch="//",
            label=_PAPER_LABEL,
            gid="paper",
        )
        theirs.set_xticks(x, labels, fontsize=8)
        theirs.set_xlabel("row; S$^{pos}$ M $\\mathcal{L}^p$ (✓ on, × off)")
        theirs.set_ylabel(f"{metric}, % (axis from 0)")
        theirs.set_ylim(0, 100)
        theirs.grid(axis="y", alpha=0.3)
        theirs.legend(fontsize=8, loc="upper left")
        official = ", official NMI protocol" if metric == "NMI" else ""
        theirs.set_title(f"the paper's published values\n(its dataset and network{official})", fontsize=10)
    return fig


def plot_paper_comparison(*, metric: str = "R@1", embedding_dim: int | None = None, ax=None, title: str | None = None):
    """The paper's comparison table as bars: ``metric`` of every method on CUB-200-2011, Cars196 and SOP.

    All values are **the paper's** (labelled so); methods are those of its table
    at ``embedding_dim`` (``None``, the default: every row, ProxyGML at its three sizes, so each method has a
    ProxyGML of its own embedding size beside it). The value axis starts a few points below the lowest bar, so
    differences of 1-2 points are visible.
    """
    from ..studies.paper import SOURCE, paper_comparison

    table = paper_comparison()
    table = table[table["metric"] == metric]
    if table.empty:
        raise ValueError(f"the paper's comparison has no {metric!r}; it reports NMI, R@1, R@2, R@4, R@10, R@100")
    methods = table.drop_duplicates(["method", "embedding_dim"])
    if embedding_dim is not None:
        keep = (methods["method"] != "ProxyGML") | (methods["embedding_dim"] == embedding_dim)
        methods = methods[keep]
    names = [f"{m} ({d})" for m, d in zip(methods["method"], methods["embedding_dim"])]
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, ax = figure_axes(ax, (9.0, 3.6))
    width = 0.8 / len(datasets)
    x = np.arange(len(names))
    for i, dataset in enumerate(datasets):
        values = []
        for (_, m), d in zip(methods[["method", "embedding_dim"]].iterrows(), methods["embedding_dim"]):
            hit = table[
                (table["dataset"] == dataset) & (table["method"] == m["method"]) & (table["embedding_dim"] == d)
            ]["value"]
            values.append(float(hit.iloc[0]) if len(hit) else np.nan)
        ax.bar(x + (i - (len(datasets) - 1) / 2) * width, values, width, label=dataset, gid=dataset)
    ax.set_xticks(x, names, rotation=35, ha="right", fontsize=7)
    low = float(table["value"].min())
    ax.set_ylim(max(0.0, 5 * np.floor((low - 5) / 5)), min(100.0, float(table["value"].max()) + 3))
    ax.grid(axis="y", linewidth=0.5, alpha=0.5)
    ax.set_ylabel(f"{metric}, % (the paper's numbers)")
    ax.legend(fontsize=8)
    ax.set_title(title or f"{SOURCE}: {metric} of the compared methods (embedding size in brackets)", fontsize=9)
    return fig
