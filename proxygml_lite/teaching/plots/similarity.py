"""Notebook 1: toy embeddings with their proxies, three ways of comparing, and the similarity graph ``S = X P^T``."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from ... import steps
from .. import toy_data
from ._base import (
    FONT_SIZE,
    SIMILARITY_CMAP,
    add_class_legend,
    check_sample,
    circle_axes,
    class_colors,
    new_figure,
    scatter_proxies,
    scatter_samples,
    sphere_axes,
    to_numpy,
    to_tensor,
)
from .matrices import plot_similarity_heatmap
from .subgraph import plot_subgraph

__all__ = ["plot_toy_embedding", "plot_methods_compared", "plot_similarity_bipartite", "plot_similarity_explorer"]


def plot_toy_embedding(
    points,
    labels,
    *,
    proxies=None,
    proxies_per_class: int = 1,
    num_classes: int | None = None,
    title: str | None = None,
    ax=None,
    numbers: bool = False,
    legend: bool = True,
):
    """Samples (dots) and, optionally, proxies (stars) on the unit circle (2-D) or sphere (3-D), with a class legend."""
    points = to_numpy(points)
    labels = to_numpy(labels)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must have shape (n, 2) or (n, 3); got {points.shape}")
    num_classes = int(num_classes or labels.max() + 1)
    colors = class_colors(num_classes)
    three_d = points.shape[1] == 3
    fig, ax = new_figure(ax, (5.6, 4.6), "3d" if three_d else None)
    (sphere_axes if three_d else circle_axes)(ax, title)
    scatter_samples(ax, points, labels, colors)
    if proxies is not None:
        proxy_label = steps.proxy_labels(num_classes, proxies_per_class)
        if len(proxies) != len(proxy_label):
            raise ValueError(f"proxies has {len(proxies)} rows; expected C*N = {len(proxy_label)}")
        scatter_proxies(ax, proxies, proxy_label, colors, numbers=numbers)
    if legend:
        add_class_legend(ax, num_classes, proxies=proxies is not None)
    return fig


def plot_methods_compared(
    points,
    labels,
    *,
    anchor_index: int,
    batch_indices,
    class_proxies,
    proxies,
    num_classes: int,
    proxies_per_class: int,
    r: float,
):
    """Three panels: what one anchor is compared with under triplet sampling, ProxyNCA and ProxyGML.

    Args:
        anchor_index: the sample whose comparisons are drawn.
        batch_indices: the mini-batch of the triplet panel (must contain the anchor).
        class_proxies: ``(C, d)``, one proxy per class (ProxyNCA).
        proxies: ``(C*N, d)``, ProxyGML's proxies; the anchor's subgraph of
            ``k = ceil(r C N)`` of them is drawn.
    """
    points, labels = to_tensor(points), to_tensor(labels, torch.long)
    anchor = check_sample(anchor_index, len(points))
    batch = [int(i) for i in batch_indices]
    if anchor not in batch:
        raise ValueError("batch_indices must contain anchor_index (the anchor is part of its mini-batch)")
    colors = class_colors(num_classes)
    fig, axes = plt.subplots(1, 3, figsize=(10, 4.3), layout="constrained")
    x_a, y_a = points[anchor].tolist(), int(labels[anchor])

    # (a) triplet sampling inside a mini-batch: black lines, solid to the positive, dashed to the negative
    ax = axes[0]
    circle_axes(ax)
    scatter_samples(ax, points, labels, colors, alpha=0.15)
    scatter_samples(ax, points[batch], labels[batch], colors, size=30, gid="batch")
    sims = points[batch] @ points[anchor]
    same = labels[batch] == y_a
    same[batch.index(anchor)] = False
    pairs = []
    if same.any():
        pos = batch[int(torch.where(same, sims, torch.full_like(sims, math.inf)).argmin())]  # hardest positive
        pairs.append((pos, "-", "positive (same class)"))
    if (labels[batch] != y_a).any():
        neg = batch[int(torch.where(labels[batch] != y_a, sims, torch.full_like(sims, -math.inf)).argmax())]
        pairs.append((neg, "--", "negative (other class)"))
    for index, style, name in pairs:
        ax.plot(*zip(x_a, points[index].tolist()), color="black", ls=style, lw=1.8, label=name)
    ax.legend(loc="lower left", fontsize=FONT_SIZE, frameon=False)
    ax.set_title(f"Triplet sampling: {len(batch)} of {len(points)}\npoints in the mini-batch", fontsize=10)

    # (b) ProxyNCA: one proxy per class, compared with all C
    ax = axes[1]
    circle_axes(ax)
    scatter_samples(ax, points, labels, colors, alpha=0.5)
    ax.add_collection(
        LineCollection([[x_a, p] for p in to_numpy(class_proxies).tolist()], colors="0.3", lw=1.2, gid="proxynca_edges")
    )
    scatter_proxies(ax, class_proxies, torch.arange(num_classes), colors)
    ax.set_title(f"ProxyNCA: 1 proxy per class,\nthe anchor against all C = {num_classes}", fontsize=10)

    # (c) ProxyGML: N proxies per class, a k-NN subgraph
    ax = axes[2]
    plot_subgraph(
        points,
        labels,
        proxies=proxies,
        num_classes=num_classes,
        proxies_per_class=proxies_per_class,
        r=r,
        sample_index=anchor,
        ax=ax,
        annotate=False,
        legend=False,
    )
    k = steps.subgraph_size(r, num_classes, proxies_per_class)
    ax.set_title(
        f"ProxyGML: N = {proxies_per_class} per class, the anchor\nagainst its "
        f"k = {k} of C·N = {num_classes * proxies_per_class}",
        fontsize=10,
    )
    for ax in axes:
        ax.scatter(*x_a, s=120, facecolors="none", edgecolors="black", lw=1.5, zorder=5)
    extra = [
        Line2D([], [], ls="none", marker="o", ms=10, mfc="none", mec="black", mew=1.5, label="anchor"),
        Line2D([], [], ls="none", marker="o", ms=14, mfc="none", mec="black", label="kept proxy (in I)"),
    ]
    add_class_legend(fig, num_classes, extra=extra, loc="outside lower center", ncol=num_classes + 4)
    return fig


def plot_similarity_bipartite(
    similarity,
    labels,
    *,
    num_classes: int,
    proxies_per_class: int,
    sample_indices=None,
    highlight=None,
    ax=None,
    title: str | None = None,
):
    """``S`` as a bipartite graph: samples (left) -- proxies (right), one edge per entry ``S_ij``.

    Edge colour and width show ``S_ij`` (red positive, blue negative). With
    ``highlight`` (a boolean mask of the shown rows of ``S``), the other edges are faded.
    The edges are one ``LineCollection`` with gid ``"bipartite_edges"``.
    """
    s = to_numpy(similarity)
    labels = to_numpy(labels)
    rows = np.arange(len(s)) if sample_indices is None else np.asarray(sample_indices)
    s, row_labels = s[rows], labels[rows]
    num_proxies = s.shape[1]
    if num_proxies != num_classes * proxies_per_class:
        raise ValueError(f"similarity has {num_proxies} columns; expected C*N = {num_classes * proxies_per_class}")
    colors = class_colors(num_classes)
    proxy_label = to_numpy(steps.proxy_labels(num_classes, proxies_per_class))
    fig, ax = new_figure(ax, (6.4, 5))
    y_samples = np.linspace(1, 0, len(rows)) if len(rows) > 1 else np.array([0.5])
    y_proxies = np.linspace(1, 0, num_proxies) if num_proxies > 1 else np.array([0.5])
    segments, values, widths, alphas = [], [], [], []
    for a in range(len(rows)):
        for j in range(num_proxies):
            segments.append([(0.0, y_samples[a]), (1.0, y_proxies[j])])
            values.append(s[a, j])
            widths.append(0.4 + 2.6 * abs(s[a, j]))
            alphas.append(1.0 if highlight is None or to_numpy(highlight)[a, j] else 0.08)
    cmap = plt.get_cmap(SIMILARITY_CMAP)
    edge_colors = cmap(Normalize(-1, 1)(np.array(values)))
    edge_colors[:, 3] = alphas
    ax.add_collection(LineCollection(segments, colors=edge_colors, linewidths=widths, gid="bipartite_edges", zorder=1))
    ax.scatter(np.zeros(len(rows)), y_samples, c=colors[row_labels], s=60, zorder=3, edgecolors="black", lw=0.5)
    ax.scatter(
        np.ones(num_proxies), y_proxies, c=colors[proxy_label], s=220, marker="*", zorder=3, edgecolors="black", lw=0.6
    )
    for a, i in enumerate(rows):
        ax.text(-0.06, y_samples[a], f"x{i} (y={row_labels[a]})", ha="right", va="center", fontsize=FONT_SIZE)
    for j in range(num_proxies):
        ax.text(1.06, y_proxies[j], f"p{j} (y={proxy_label[j]})", ha="left", va="center", fontsize=FONT_SIZE)
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylim(-0.08, 1.08)
    ax.axis("off")
    bar = fig.colorbar(plt.cm.ScalarMappable(Normalize(-1, 1), cmap), ax=ax, shrink=0.6, label="$S_{ij}$")
    bar.ax.tick_params(labelsize=FONT_SIZE)
    add_class_legend(ax, num_classes, loc="upper center", anchor=(0.5, 0.0), ncol=num_classes + 2)
    ax.set_title(title or "S as a bipartite graph: samples (left), proxies (right)", fontsize=10)
    return fig


def plot_similarity_explorer(
    *,
    num_classes: int = 3,
    modes_per_class: int = 2,
    proxies_per_class: int = 2,
    noise: float = 0.15,
    samples_per_mode: int = 8,
    seed: int = 0,
):
    """Toy data + hand-placed proxies on the circle (left) and their ``S = X P^T`` heat map (right); for the widget."""
    points, labels = toy_data.multimodal_circle(
        num_classes=num_classes,
        modes_per_class=modes_per_class,
        samples_per_mode=samples_per_mode,
        noise=noise,
        seed=seed,
    )
    proxies = toy_data.toy_proxies(
        num_classes=num_classes,
        proxies_per_class=proxies_per_class,
        dim=2,
        modes_per_class=modes_per_class,
        jitter=0.2,
        seed=seed,
    )
    similarity = steps.similarity_graph(points, proxies)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained", width_ratios=(1.25, 1.2))
    plot_toy_embedding(
        points,
        labels,
        proxies=proxies,
        proxies_per_class=proxies_per_class,
        num_classes=num_classes,
        ax=axes[0],
        title=f"C={num_classes} classes x K={modes_per_class} modes, N={proxies_per_class}",
    )
    plot_similarity_heatmap(
        similarity,
        labels,
        num_classes=num_classes,
        columns_per_class=proxies_per_class,
        ax=axes[1],
        title=f"$S = XP^{{\\top}}$: {len(points)} samples x C·N = {num_classes * proxies_per_class} proxies",
    )
    return fig
