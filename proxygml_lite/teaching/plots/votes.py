"""Notebook 3: reverse label propagation ``Z = W Y^p`` (the votes), and classic label propagation for contrast."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ... import steps
from ._base import FONT_SIZE, add_class_legend, circle_axes, class_colors, new_figure, scatter_samples, to_numpy
from .subgraph import plot_subgraph, subgraph_explorer

__all__ = ["plot_votes", "plot_label_propagation_contrast", "plot_votes_explorer"]


def plot_votes(z_row, *, label: int, num_classes: int, ax=None, title: str | None = None):
    """One sample's ``Z_i = (W Y^p)_i``: the votes of its subgraph for each class.

    Classes absent from the subgraph (``Z_ic = 0``, so ``M_ic = 0``) are drawn
    as empty dashed bars; the own class ``y_i`` is marked on the axis.
    """
    z = to_numpy(z_row).astype(float)
    colors = class_colors(num_classes)
    fig, ax = new_figure(ax, (5, 3.2))
    present = z != 0
    bars = ax.bar(
        np.arange(num_classes),
        np.where(present, z, 0.0),
        color=colors[:num_classes],
        edgecolor="black",
        lw=0.8,
        gid="votes",
    )
    for c, bar in enumerate(bars):
        if not present[c]:
            bar.set_facecolor("none")
            bar.set_linestyle("--")
            ax.text(c, 0.05, "absent\n(M=0)", ha="center", va="bottom", fontsize=FONT_SIZE, color="0.4")
    ax.axhline(0, color="black", lw=0.8)
    names = [f"{c}" + (" = y" if c == label else "") for c in range(num_classes)]
    ax.set_xticks(np.arange(num_classes), names, fontsize=FONT_SIZE)
    ax.set_xlabel("class c")
    ax.tick_params(labelsize=FONT_SIZE)
    limit = max(1.0, float(np.abs(z).max()) * 1.15)
    ax.set_ylim(-limit, limit)
    ax.set_ylabel("$Z_{ic}$: sum of S to the\nclass-c proxies in I")
    add_class_legend(
        ax,
        num_classes,
        samples=False,
        proxies=False,
        extra=[Patch(fc="none", ec="black", ls="--", label="absent (M=0)")],
    )
    ax.set_title(title or "votes Z = W $Y^p$", fontsize=10)
    return fig


def plot_label_propagation_contrast(
    points, labels, *, labelled, scores, proxies, num_classes: int, proxies_per_class: int, r: float, sample_index: int
):
    """Classic label propagation (left) against ProxyGML's reverse label propagation (right).

    Left: the labels of a few samples (big, black-edged) propagated over a fixed
    graph to the others, each coloured by ``argmax`` of its ``scores``; points
    that no label reached (a row of zeros) are grey (gid ``"unreached"``) and
    count as not right in the title's accuracy; wrong predictions of reached
    points are crossed (gid ``"wrong"``). Right: one sample's
    subgraph; all labels are known and the votes ``Z_i`` are used to adjust the
    edges ``S_ij`` through the loss.
    """
    points, labels = to_numpy(points), to_numpy(labels)
    labelled = to_numpy(labelled).astype(bool)
    scores = to_numpy(scores)
    predicted = scores.argmax(1)
    reached = np.abs(scores).max(1) > 0
    colors = class_colors(num_classes)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
    ax = axes[0]
    circle_axes(ax)
    shown = ~labelled & reached
    scatter_samples(ax, points[shown], predicted[shown], colors, size=22, gid="propagated")
    unreached = ~labelled & ~reached
    ax.scatter(points[unreached, 0], points[unreached, 1], s=22, color="0.6", zorder=2, gid="unreached")
    wrong = shown & (predicted != labels)
    ax.scatter(
        points[wrong, 0] * 1.12, points[wrong, 1] * 1.12, s=40, marker="x", color="black", lw=1.3, zorder=3, gid="wrong"
    )
    ax.scatter(
        points[labelled, 0],
        points[labelled, 1],
        s=90,
        c=colors[labels[labelled]],
        edgecolors="black",
        lw=1.5,
        zorder=4,
        gid="labelled",
    )
    unlabelled = ~labelled
    correct = reached & (predicted == labels)  # a point no label reached is not counted as right
    accuracy = float(correct[unlabelled].mean()) if unlabelled.any() else math.nan
    ax.set_title(
        f"classic label propagation: {int(labelled.sum())} known labels, fixed graph;\n"
        f"{int(unlabelled.sum())} unlabelled points: {accuracy:.0%} right, {int(unreached.sum())} not "
        f"reached",
        fontsize=10,
    )
    plot_subgraph(
        points,
        labels,
        proxies=proxies,
        num_classes=num_classes,
        proxies_per_class=proxies_per_class,
        r=r,
        sample_index=sample_index,
        ax=axes[1],
        legend=False,
    )
    axes[1].set_title(
        "reverse label propagation: every label is known;\nthe proxies' labels vote through W, "
        "the loss adjusts the edges S",
        fontsize=10,
    )
    extra = [
        Line2D([], [], ls="none", marker="o", ms=9, mfc="0.5", mec="black", mew=1.5, label="known label"),
        Line2D([], [], ls="none", marker="o", ms=6, color="0.6", label="no label reached"),
        Line2D([], [], ls="none", marker="x", ms=7, color="black", label="wrong prediction"),
        Line2D([], [], ls="none", marker="o", ms=14, mfc="none", mec="black", label="kept proxy (in I)"),
    ]
    add_class_legend(fig, num_classes, extra=extra, loc="outside lower center", ncol=5)
    return fig


def _votes_panel(ax, *, label, s_row, subgraph, num_classes, proxies_per_class):
    z = steps.reverse_label_propagation(subgraph, num_classes, proxies_per_class)
    p = steps.mask_softmax(z)
    title = f"votes $Z_i$; mask softmax P(y={label}) = {float(p[0, label]):.2f}"
    plot_votes(z[0], label=label, num_classes=num_classes, ax=ax, title=title)


plot_votes_explorer = subgraph_explorer(
    _votes_panel,
    name="plot_votes_explorer",
    doc="Widget view: one sample's subgraph (left) and its votes ``Z_i`` with the mask softmax ``P`` (right).",
)
