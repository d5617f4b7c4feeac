"""Notebook 2: relation-guided subgraph construction (``S^pos``, ``k``, the set ``I``, ``W``)."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ... import steps
from .. import toy_data
from ._base import (
    FADED,
    FONT_SIZE,
    add_class_legend,
    check_sample,
    circle_axes,
    class_colors,
    new_figure,
    scatter_proxies,
    scatter_samples,
    to_numpy,
    to_tensor,
)
from .matrices import plot_similarity_heatmap

__all__ = [
    "subgraph_of",
    "plot_subgraph",
    "plot_subgraph_row",
    "plot_subgraph_matrices",
    "plot_own_class_coverage",
    "plot_subgraph_explorer",
]


def subgraph_of(
    points,
    labels,
    *,
    proxies,
    num_classes: int,
    proxies_per_class: int,
    r: float,
    sample_index: int,
    positive_mask: bool = True,
):
    """``(i, k, S_i, subgraph)`` of one sample: its index, ``k``, its row of ``S`` and its :class:`~proxygml_lite.steps.Subgraph`."""
    points, labels, proxies = to_tensor(points), to_tensor(labels, torch.long), to_tensor(proxies)
    i = check_sample(sample_index, len(points))
    k = steps.subgraph_size(r, num_classes, proxies_per_class)
    s_row = steps.similarity_graph(points[i : i + 1], proxies)  # (1, C*N)
    sub = steps.select_subgraph(s_row, labels[i : i + 1], num_classes, proxies_per_class, k, positive_mask)
    return i, k, s_row[0], sub


def plot_subgraph(
    points,
    labels,
    *,
    proxies,
    num_classes: int,
    proxies_per_class: int,
    r: float,
    sample_index: int,
    positive_mask: bool = True,
    ax=None,
    annotate: bool = True,
    legend: bool = True,
):
    """One sample's k-NN subgraph on the circle: edges to the ``k = ceil(r C N)`` proxies in ``I``.

    The edges are one ``LineCollection`` with gid ``"subgraph_edges"`` (``k``
    segments), coloured by the class of the proxy. Every kept proxy is also
    ringed (gid ``"kept_rings"``), so that an edge of length zero (a proxy on
    top of the sample, ``S = 1``) stays visible, and with ``annotate`` its
    ``S_ij`` is written just outside the circle next to it. The title gives
    ``k`` and how many own-class proxies were kept.
    """
    i, k, s_row, sub = subgraph_of(
        points,
        labels,
        proxies=proxies,
        num_classes=num_classes,
        proxies_per_class=proxies_per_class,
        r=r,
        sample_index=sample_index,
        positive_mask=positive_mask,
    )
    points, labels, proxies = to_numpy(points), to_numpy(labels), to_numpy(proxies)
    colors = class_colors(num_classes)
    proxy_label = to_numpy(steps.proxy_labels(num_classes, proxies_per_class))
    kept = to_numpy(sub.indices[0])
    own_kept = int((proxy_label[kept] == labels[i]).sum())
    fig, ax = new_figure(ax, (6.2, 5))
    circle_axes(ax, margin=1.4)
    scatter_samples(ax, points, labels, colors, alpha=FADED)
    ax.add_collection(
        LineCollection(
            [[points[i], proxies[j]] for j in kept],
            colors=colors[proxy_label[kept]],
            linewidths=2.2,
            zorder=3,
            gid="subgraph_edges",
        )
    )
    ax.scatter(*points[i], s=110, c=[colors[labels[i]]], edgecolors="black", lw=1.5, zorder=3.5, gid="sample")
    outside = np.setdiff1d(np.arange(len(proxies)), kept)
    scatter_proxies(ax, proxies[outside], proxy_label[outside], colors, alpha=0.35, gid="proxies_outside")
    scatter_proxies(ax, proxies[kept], proxy_label[kept], colors, gid="proxies_kept")
    ax.scatter(
        proxies[kept, 0],
        proxies[kept, 1],
        s=520,
        facecolors="none",
        edgecolors="black",
        lw=1.2,
        zorder=4.5,
        gid="kept_rings",
    )
    if annotate:
        for j in kept:
            direction = proxies[j] / max(float(np.linalg.norm(proxies[j])), 1e-12)
            ax.text(
                *(1.27 * direction),
                f"{float(s_row[j]):.2f}",
                fontsize=FONT_SIZE,
                ha="center",
                va="center",
                zorder=6,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8),
            )
    mask_text = "with $S^{pos}$" if positive_mask else "without $S^{pos}$"
    title = (
        f"sample {i} (class {labels[i]}), {mask_text}: k = ⌈{r:g}·{num_classes}·{proxies_per_class}⌉ = {k}\n"
        f"own-class proxies kept: {own_kept} of N = {proxies_per_class}"
    )
    if positive_mask and k <= proxies_per_class:
        title += "  (k ≤ N: only own class, $L^s$ = 0)"
    elif own_kept == 0:
        title += "  (own class missing!)"
    ax.set_title(title, fontsize=9)
    if legend:
        extra = [
            Line2D([], [], ls="none", marker="o", ms=9, mfc="0.5", mec="black", label=f"sample {i}"),
            Line2D([], [], ls="none", marker="o", ms=14, mfc="none", mec="black", label="kept (in I)"),
        ]
        add_class_legend(ax, num_classes, extra=extra)
    return fig


def plot_subgraph_row(
    similarity_row, *, label: int, num_classes: int, proxies_per_class: int, kept, ax=None, title: str | None = None
):
    """Row ``i`` of ``S`` as bars over the ``C*N`` proxies; bars in ``I`` solid, own-class bars hatched (``S^pos``)."""
    s = to_numpy(similarity_row)
    kept = set(to_numpy(kept).tolist())
    colors = class_colors(num_classes)
    proxy_label = to_numpy(steps.proxy_labels(num_classes, proxies_per_class))
    fig, ax = new_figure(ax, (6, 3))
    bars = ax.bar(np.arange(len(s)), s, color=colors[proxy_label], edgecolor="black", lw=0.6, gid="row_bars")
    for j, bar in enumerate(bars):
        bar.set_alpha(1.0 if j in kept else FADED)
        if proxy_label[j] == label:
            bar.set_hatch("//")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(
        np.arange(len(s)), [f"p{j}" for j in range(len(s))], fontsize=FONT_SIZE, rotation=90 if len(s) > 12 else 0
    )
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_ylabel("$S_{ij}$")
    extra = [
        Patch(fc="0.5", ec="black", label="kept (in I)"),
        Patch(fc="0.5", ec="black", alpha=FADED, label="not kept"),
        Patch(fc="white", ec="black", hatch="//", label="own class ($S^{pos}$=1)"),
    ]
    add_class_legend(ax, num_classes, samples=False, proxies=False, extra=extra)
    ax.set_title(title or "row i of S over the C·N proxies", fontsize=9)
    return fig


def plot_subgraph_matrices(
    similarity, labels, *, num_classes: int, proxies_per_class: int, k: int, positive_mask: bool = True
):
    """Three heat maps, rows sorted by class: ``S^pos``; ``S`` with the top-k set ``I`` outlined; ``W``."""
    s, labels = to_tensor(similarity), to_tensor(labels, torch.long)
    s_pos = steps.positive_mask(labels, num_classes, proxies_per_class)
    sub = steps.select_subgraph(s, labels, num_classes, proxies_per_class, k, positive_mask)
    w = sub.to_dense()
    kept = torch.zeros_like(s_pos).scatter(1, sub.indices, True)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.8), layout="constrained")
    layout = dict(num_classes=num_classes, columns_per_class=proxies_per_class)
    plot_similarity_heatmap(
        s_pos.float(),
        labels,
        ax=axes[0],
        vmin=0,
        vmax=1,
        cmap="Greys",
        value_name="$S^{pos}_{ij}$",
        title="positive mask $S^{pos}$",
        **layout,
    )
    how = "S + $S^{pos}$" if positive_mask else "S"
    plot_similarity_heatmap(
        s,
        labels,
        ax=axes[1],
        highlight=kept,
        title=f"S, outlined: the k = {k}\nlargest of {how} per row (set I)",
        **layout,
    )
    plot_similarity_heatmap(
        w, labels, ax=axes[2], value_name="$W_{ij}$", title="sparse neighbour matrix W\n(0 outside I)", **layout
    )
    return fig


def plot_own_class_coverage(similarity, labels, *, num_classes: int, proxies_per_class: int, ks=None, ax=None):
    """Fraction of samples whose subgraph holds at least one own-class proxy, against ``k``, without and with ``S^pos``.

    ``ks`` defaults to ``1 .. C*N``. The shaded band ``k <= N`` is where, with
    ``S^pos``, the subgraph holds nothing but own-class proxies (``L^s = 0``).
    Lines have gids ``"without"`` and ``"with"``.
    """
    s, labels = to_tensor(similarity), to_tensor(labels, torch.long)
    total = num_classes * proxies_per_class
    ks = np.arange(1, total + 1) if ks is None else np.asarray(ks, dtype=int)
    own = steps.positive_mask(labels, num_classes, proxies_per_class)
    curves = {"without": [], "with": []}
    for k in ks:
        for mask_on, key in ((False, "without"), (True, "with")):
            sub = steps.select_subgraph(s, labels, num_classes, proxies_per_class, int(k), mask_on)
            curves[key].append(float((own.gather(1, sub.indices).sum(1) >= 1).float().mean()))
    fig, ax = new_figure(ax, (6, 3.4))
    ax.axvspan(ks.min() - 0.5, proxies_per_class + 0.5, color="0.9", zorder=0)
    ax.text(
        proxies_per_class / 2 + 0.5,
        0.5,
        "k ≤ N:\nwith $S^{pos}$,\nonly own class",
        ha="center",
        va="center",
        fontsize=FONT_SIZE,
        color="0.35",
    )
    ax.plot(ks, curves["with"], "k--", lw=2, gid="with", label="with $S^{pos}$")
    ax.plot(ks, curves["without"], "o-", color="0.4", gid="without", label="without $S^{pos}$ (top-k of S)")
    ax.set_xticks(ks)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_xlabel("k = ⌈r·C·N⌉, proxies per subgraph")
    ax.set_ylabel("samples whose subgraph\nholds their own class")
    ax.set_ylim(-0.03, 1.08)
    ax.legend(fontsize=FONT_SIZE, loc="lower right")
    ax.set_title(
        f"Is the own class in the subgraph? (C={num_classes}, N={proxies_per_class}, {len(labels)} samples)",
        fontsize=10,
    )
    return fig


def subgraph_explorer(right_panel: Callable, *, name: str, doc: str) -> Callable:
    """A widget view named ``name``: one sample's subgraph among toy proxies (left) and ``right_panel`` (right).

    The proxies come from :func:`~proxygml_lite.teaching.toy_data.toy_proxies`. ``right_panel(ax, label=y_i,
    s_row=S_i, subgraph=..., num_classes=C, proxies_per_class=N)`` draws what the view explains about that
    subgraph. The subgraph and votes explorers (and their widgets) differ only in it, so it is written once here.
    """

    def explorer(
        points,
        labels,
        *,
        num_classes: int,
        proxies_per_class: int,
        r: float,
        sample_index: int,
        positive_mask: bool = True,
        modes_per_class: int | None = None,
        proxy_jitter: float = 0.3,
        seed: int = 0,
    ):
        proxies = toy_data.toy_proxies(
            num_classes=num_classes,
            proxies_per_class=proxies_per_class,
            dim=2,
            modes_per_class=modes_per_class,
            jitter=proxy_jitter,
            seed=seed,
        )
        where = dict(
            proxies=proxies,
            num_classes=num_classes,
            proxies_per_class=proxies_per_class,
            r=r,
            sample_index=sample_index,
            positive_mask=positive_mask,
        )
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
        plot_subgraph(points, labels, ax=axes[0], legend=False, **where)
        i, _, s_row, sub = subgraph_of(points, labels, **where)
        label = int(to_numpy(labels)[i])
        right_panel(
            axes[1],
            label=label,
            s_row=s_row,
            subgraph=sub,
            num_classes=num_classes,
            proxies_per_class=proxies_per_class,
        )
        return fig

    explorer.__name__ = explorer.__qualname__ = name
    explorer.__doc__ = doc
    return explorer


def _row_panel(ax, *, label, s_row, subgraph, num_classes, proxies_per_class):
    plot_subgraph_row(
        s_row,
        label=label,
        num_classes=num_classes,
        proxies_per_class=proxies_per_class,
        kept=subgraph.indices[0],
        ax=ax,
    )


plot_subgraph_explorer = subgraph_explorer(
    _row_panel,
    name="plot_subgraph_explorer",
    doc="Widget view: proxies from :func:`~proxygml_lite.teaching.toy_data.toy_proxies`, one sample's subgraph and "
    "its row of S.",
)
