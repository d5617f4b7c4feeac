"""Plotting functions of the teaching notebooks (and of their widgets).

Every function returns the :class:`matplotlib.figure.Figure` it drew on (the
figure of ``ax`` when an axes is passed), computes what it shows with
:mod:`proxygml_lite.steps` (the code of :class:`~proxygml_lite.loss.ProxyGMLLoss`),
and can be called without a browser, which is how the tests check them.

Conventions: ``C`` classes, ``N`` proxies per class, rows ``c*N .. c*N+N-1``
of the proxy matrix belong to class ``c``; samples are drawn as dots and
proxies as stars, both in their class's colour; on the circle the positions
are the unit vectors themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from . import steps, toy

__all__ = [
    "class_colors",
    "plot_toy_embedding",
    "plot_methods_compared",
    "plot_similarity_bipartite",
    "plot_similarity_heatmap",
    "plot_similarity_explorer",
    "plot_subgraph",
    "plot_subgraph_row",
    "plot_subgraph_matrices",
    "plot_own_class_coverage",
    "plot_subgraph_explorer",
    "plot_annotated_matrix",
    "plot_matrix_product",
    "plot_votes",
    "plot_label_propagation_contrast",
    "plot_votes_explorer",
    "plot_softmax_comparison",
    "arrow_scale",
    "plot_gradient_field",
    "plot_gradient_explorer",
    "plot_input_points",
    "plot_training_snapshot",
    "plot_training_snapshots",
    "plot_proxy_trajectories",
    "plot_training_curves",
    "plot_recall_comparison",
]

SIMILARITY_CMAP = "RdBu_r"
_FADED = 0.25


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def class_colors(num_classes: int) -> np.ndarray:
    """``(C, 4)`` RGBA colours, one per class (tab10, then tab20 beyond 10 classes)."""
    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20")
    return np.array([cmap(c % cmap.N) for c in range(num_classes)])


def _np(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _tensor(values, dtype=torch.float32) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().to(dtype)
    return torch.as_tensor(np.asarray(values), dtype=dtype)


def _figure(ax=None, figsize=(5, 5), projection=None):
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot(projection=projection)


def _check_sample(sample_index: int, count: int) -> int:
    if not 0 <= int(sample_index) < count:
        raise ValueError(f"sample_index must lie in [0, {count}) (one of the {count} samples); got {sample_index}")
    return int(sample_index)


def _circle_axes(ax, title=None, margin=1.3):
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="0.75", lw=1, zorder=0))
    # Equal aspect by widening the data limits (not by shrinking the box), which
    # keeps titles in place under the constrained layout.
    ax.set_aspect("equal", adjustable="datalim")
    ax.update_datalim(np.array([[-margin, -margin], [margin, margin]]))
    ax.margins(0)
    ax.autoscale_view()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)


def _sphere_axes(ax, title=None):
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    if title:
        ax.set_title(title, fontsize=10)


def _scatter(ax, points, labels, colors, alpha=0.85, size=18, gid="samples", **kwargs):
    points = _np(points)
    coords = [points[:, i] for i in range(points.shape[1])]
    return ax.scatter(*coords, c=colors[_np(labels)], s=size, alpha=alpha, edgecolors="none", zorder=2, gid=gid,
                      **kwargs)


def _scatter_proxies(ax, proxies, proxy_label, colors, size=240, alpha=1.0, numbers=False, gid="proxies"):
    proxies = _np(proxies)
    coords = [proxies[:, i] for i in range(proxies.shape[1])]
    handle = ax.scatter(*coords, marker="*", s=size, c=colors[_np(proxy_label)], edgecolors="black",
                        linewidths=0.8, alpha=alpha, zorder=4, gid=gid)
    if numbers and proxies.shape[1] == 2:
        for j, (x, y) in enumerate(proxies):
            ax.text(1.17 * x, 1.17 * y, f"p{j}", ha="center", va="center", fontsize=7, color="0.2")
    return handle


def _sorted_rows(labels) -> np.ndarray:
    return np.argsort(_np(labels), kind="stable")


# --------------------------------------------------------------------------- #
# Notebook 1: proxies and the similarity graph
# --------------------------------------------------------------------------- #


def plot_toy_embedding(points, labels, proxies=None, proxies_per_class=1, num_classes=None, title=None, ax=None,
                       numbers=False):
    """Samples (dots) and, optionally, proxies (stars) on the unit circle (2-D) or sphere (3-D)."""
    points = _np(points)
    labels = _np(labels)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must have shape (n, 2) or (n, 3); got {points.shape}")
    num_classes = int(num_classes or labels.max() + 1)
    colors = class_colors(num_classes)
    three_d = points.shape[1] == 3
    fig, ax = _figure(ax, (5, 5), "3d" if three_d else None)
    (_sphere_axes if three_d else _circle_axes)(ax, title)
    _scatter(ax, points, labels, colors)
    if proxies is not None:
        proxy_label = steps.proxy_labels(num_classes, proxies_per_class)
        if len(proxies) != len(proxy_label):
            raise ValueError(f"proxies has {len(proxies)} rows; expected C*N = {len(proxy_label)}")
        _scatter_proxies(ax, proxies, proxy_label, colors, numbers=numbers)
    return fig


def plot_methods_compared(points, labels, anchor_index, batch_indices, class_proxies, proxies, num_classes,
                          proxies_per_class, r):
    """Three panels: what one anchor is compared with under triplet sampling, ProxyNCA and ProxyGML.

    Args:
        anchor_index: the sample whose comparisons are drawn.
        batch_indices: the mini-batch of the triplet panel (must contain the anchor).
        class_proxies: ``(C, d)``, one proxy per class (ProxyNCA).
        proxies: ``(C*N, d)``, ProxyGML's proxies; the anchor's subgraph of
            ``k = ceil(r C N)`` of them is drawn.
    """
    points, labels = _tensor(points), _tensor(labels, torch.long)
    anchor = _check_sample(anchor_index, len(points))
    batch = [int(i) for i in batch_indices]
    if anchor not in batch:
        raise ValueError("batch_indices must contain anchor_index (the anchor is part of its mini-batch)")
    colors = class_colors(num_classes)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), layout="constrained")
    x_a, y_a = points[anchor].tolist(), int(labels[anchor])

    # (a) triplet sampling inside a mini-batch
    ax = axes[0]
    _circle_axes(ax)
    _scatter(ax, points, labels, colors, alpha=0.15)
    _scatter(ax, points[batch], labels[batch], colors, size=30, gid="batch")
    sims = points[batch] @ points[anchor]
    same = labels[batch] == y_a
    same[batch.index(anchor)] = False
    pairs = []
    if same.any():
        pos = batch[int(torch.where(same, sims, torch.full_like(sims, math.inf)).argmin())]  # hardest positive
        pairs.append((pos, "tab:green", "positive"))
    if (labels[batch] != y_a).any():
        neg = batch[int(torch.where(labels[batch] != y_a, sims, torch.full_like(sims, -math.inf)).argmax())]
        pairs.append((neg, "tab:red", "negative"))
    for index, color, name in pairs:
        ax.plot(*zip(x_a, points[index].tolist()), color=color, lw=2, label=name)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_title(f"Triplet sampling: {len(batch)} of {len(points)} points\nin the mini-batch, "
                 f"comparisons only inside it", fontsize=10)

    # (b) ProxyNCA: one proxy per class, compared with all C
    ax = axes[1]
    _circle_axes(ax)
    _scatter(ax, points, labels, colors, alpha=0.5)
    ax.add_collection(LineCollection([[x_a, p] for p in _np(class_proxies).tolist()], colors="0.3", lw=1.2,
                                     gid="proxynca_edges"))
    _scatter_proxies(ax, class_proxies, torch.arange(num_classes), colors)
    ax.set_title(f"ProxyNCA: 1 proxy per class,\neach sample against all C = {num_classes} proxies", fontsize=10)

    # (c) ProxyGML: N proxies per class, a k-NN subgraph
    ax = axes[2]
    plot_subgraph(points, labels, proxies, num_classes, proxies_per_class, anchor, r, ax=ax, annotate=False)
    k = steps.subgraph_size(r, num_classes, proxies_per_class)
    ax.set_title(f"ProxyGML: N = {proxies_per_class} proxies per class,\neach sample against its "
                 f"k = {k} of C·N = {num_classes * proxies_per_class}", fontsize=10)
    for ax in axes:
        ax.scatter(*x_a, s=120, facecolors="none", edgecolors="black", lw=1.5, zorder=5)
    return fig


def plot_similarity_bipartite(similarity, labels, num_classes, proxies_per_class, sample_indices=None, ax=None,
                              title=None, highlight=None):
    """``S`` as a bipartite graph: samples (left) -- proxies (right), one edge per entry ``S_ij``.

    Edge colour and width show ``S_ij`` (red positive, blue negative). With
    ``highlight`` (a boolean mask of the shown rows of ``S``), the other edges are faded.
    The edges are one ``LineCollection`` with gid ``"bipartite_edges"``.
    """
    s = _np(similarity)
    labels = _np(labels)
    rows = np.arange(len(s)) if sample_indices is None else np.asarray(sample_indices)
    s, row_labels = s[rows], labels[rows]
    num_proxies = s.shape[1]
    if num_proxies != num_classes * proxies_per_class:
        raise ValueError(f"similarity has {num_proxies} columns; expected C*N = {num_classes * proxies_per_class}")
    colors = class_colors(num_classes)
    proxy_label = _np(steps.proxy_labels(num_classes, proxies_per_class))
    fig, ax = _figure(ax, (5, 5))
    y_samples = np.linspace(1, 0, len(rows)) if len(rows) > 1 else np.array([0.5])
    y_proxies = np.linspace(1, 0, num_proxies) if num_proxies > 1 else np.array([0.5])
    segments, values, widths, alphas = [], [], [], []
    for a in range(len(rows)):
        for j in range(num_proxies):
            segments.append([(0.0, y_samples[a]), (1.0, y_proxies[j])])
            values.append(s[a, j])
            widths.append(0.4 + 2.6 * abs(s[a, j]))
            alphas.append(1.0 if highlight is None or _np(highlight)[a, j] else 0.08)
    cmap = plt.get_cmap(SIMILARITY_CMAP)
    edge_colors = cmap(Normalize(-1, 1)(np.array(values)))
    edge_colors[:, 3] = alphas
    ax.add_collection(LineCollection(segments, colors=edge_colors, linewidths=widths, gid="bipartite_edges",
                                     zorder=1))
    ax.scatter(np.zeros(len(rows)), y_samples, c=colors[row_labels], s=60, zorder=3, edgecolors="black", lw=0.5)
    ax.scatter(np.ones(num_proxies), y_proxies, c=colors[proxy_label], s=220, marker="*", zorder=3,
               edgecolors="black", lw=0.6)
    for a, i in enumerate(rows):
        ax.text(-0.06, y_samples[a], f"x{i} (y={row_labels[a]})", ha="right", va="center", fontsize=8)
    for j in range(num_proxies):
        ax.text(1.06, y_proxies[j], f"p{j} (y={proxy_label[j]})", ha="left", va="center", fontsize=8)
    ax.set_xlim(-0.55, 1.55)
    ax.set_ylim(-0.08, 1.08)
    ax.axis("off")
    fig.colorbar(plt.cm.ScalarMappable(Normalize(-1, 1), cmap), ax=ax, shrink=0.6, label="$S_{ij}$")
    ax.set_title(title or "S as a bipartite graph: samples (left), proxies (right)", fontsize=10)
    return fig


def plot_similarity_heatmap(matrix, row_labels, num_classes, columns_per_class, ax=None, title=None, highlight=None,
                            row_name="sample", column_name="proxy", value_name="$S_{ij}$", vmin=-1.0, vmax=1.0,
                            cmap=SIMILARITY_CMAP, colorbar=True):
    """A ``(rows, C * columns_per_class)`` matrix as a heat map, rows sorted by class.

    Lines separate the classes (rows by ``row_labels``, columns in blocks of
    ``columns_per_class``). ``highlight`` (boolean, same shape) outlines entries,
    e.g. the top-k set ``I``; the outlines are a patch group with gid ``"highlight"``.
    The image (``ax.images[0]``) holds the row-sorted matrix.
    """
    m = _np(matrix).astype(float)
    row_labels = _np(row_labels)
    if m.shape[1] != num_classes * columns_per_class:
        raise ValueError(f"matrix has {m.shape[1]} columns; expected {num_classes} x {columns_per_class}")
    order = _sorted_rows(row_labels)
    m, sorted_labels = m[order], row_labels[order]
    fig, ax = _figure(ax, (5, 4.5))
    image = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    for c in range(1, num_classes):
        ax.axvline(c * columns_per_class - 0.5, color="black", lw=1)
    for boundary in np.flatnonzero(np.diff(sorted_labels)):
        ax.axhline(boundary + 0.5, color="black", lw=1)
    if highlight is not None:
        mask = _np(highlight)[order]
        for i, j in zip(*np.nonzero(mask)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=1.3, gid="highlight"))
    ax.set_xticks([c * columns_per_class + (columns_per_class - 1) / 2 for c in range(num_classes)],
                  [f"class {c}" for c in range(num_classes)], fontsize=8)
    ax.set_xlabel(f"{column_name} (grouped by class)")
    centres = [np.flatnonzero(sorted_labels == c).mean() for c in np.unique(sorted_labels)]
    ax.set_yticks(centres, [f"class {c}" for c in np.unique(sorted_labels)], fontsize=8)
    ax.set_ylabel(f"{row_name} (sorted by class)")
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.8, label=value_name)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_similarity_explorer(num_classes=3, modes_per_class=2, proxies_per_class=2, noise=0.15, samples_per_mode=8,
                             seed=0):
    """Toy data + proxies on the circle (left) and their ``S = X P^T`` heat map (right); for the widget."""
    points, labels = toy.multimodal_circle(num_classes, modes_per_class, samples_per_mode, noise, seed)
    proxies = toy.toy_proxies(num_classes, proxies_per_class, 2, modes_per_class, 0.2, seed)
    similarity = steps.similarity_graph(points, proxies)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained", width_ratios=(1, 1.2))
    plot_toy_embedding(points, labels, proxies, proxies_per_class, num_classes, ax=axes[0],
                       title=f"C={num_classes} classes x K={modes_per_class} modes, N={proxies_per_class}")
    plot_similarity_heatmap(similarity, labels, num_classes, proxies_per_class, ax=axes[1],
                            title=f"$S = XP^{{\\top}}$: {len(points)} samples x "
                                  f"C·N = {num_classes * proxies_per_class} proxies")
    return fig


# --------------------------------------------------------------------------- #
# Notebook 2: relation-guided subgraph construction
# --------------------------------------------------------------------------- #


def _subgraph_of(points, labels, proxies, num_classes, proxies_per_class, sample_index, r, use_positive_mask):
    points, labels, proxies = _tensor(points), _tensor(labels, torch.long), _tensor(proxies)
    i = _check_sample(sample_index, len(points))
    k = steps.subgraph_size(r, num_classes, proxies_per_class)
    s_row = steps.similarity_graph(points[i : i + 1], proxies)  # (1, C*N)
    sub = steps.select_subgraph(s_row, labels[i : i + 1], num_classes, proxies_per_class, k, use_positive_mask)
    return i, k, s_row[0], sub


def plot_subgraph(points, labels, proxies, num_classes, proxies_per_class, sample_index, r, use_positive_mask=True,
                  ax=None, annotate=True):
    """One sample's k-NN subgraph on the circle: edges to the ``k = ceil(r C N)`` proxies in ``I``.

    The edges are one ``LineCollection`` with gid ``"subgraph_edges"`` (``k``
    segments), coloured by the class of the proxy, labelled with ``S_ij`` when
    ``annotate``. The title gives ``k`` and how many own-class proxies were kept.
    """
    i, k, s_row, sub = _subgraph_of(points, labels, proxies, num_classes, proxies_per_class, sample_index, r,
                                    use_positive_mask)
    points, labels, proxies = _np(points), _np(labels), _np(proxies)
    colors = class_colors(num_classes)
    proxy_label = _np(steps.proxy_labels(num_classes, proxies_per_class))
    kept = _np(sub.indices[0])
    own_kept = int((proxy_label[kept] == labels[i]).sum())
    fig, ax = _figure(ax, (5, 5))
    _circle_axes(ax)
    _scatter(ax, points, labels, colors, alpha=_FADED)
    ax.add_collection(LineCollection([[points[i], proxies[j]] for j in kept], colors=colors[proxy_label[kept]],
                                     linewidths=2.2, zorder=3, gid="subgraph_edges"))
    if annotate:
        for j in kept:
            middle = 0.5 * (points[i] + proxies[j])
            ax.text(*middle, f"{float(s_row[j]):.2f}", fontsize=7, ha="center", va="center", zorder=6,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    outside = np.setdiff1d(np.arange(len(proxies)), kept)
    _scatter_proxies(ax, proxies[outside], proxy_label[outside], colors, alpha=0.35, gid="proxies_outside")
    _scatter_proxies(ax, proxies[kept], proxy_label[kept], colors, gid="proxies_kept")
    ax.scatter(*points[i], s=110, c=[colors[labels[i]]], edgecolors="black", lw=1.5, zorder=5)
    mask_text = "with $S^{pos}$" if use_positive_mask else "without $S^{pos}$"
    title = (f"sample {i} (class {labels[i]}), {mask_text}: k = ⌈{r:g}·{num_classes}·{proxies_per_class}⌉ = {k}\n"
             f"own-class proxies kept: {own_kept} of N = {proxies_per_class}")
    if use_positive_mask and k <= proxies_per_class:
        title += "  (k ≤ N: only own class, $L^s$ = 0)"
    elif own_kept == 0:
        title += "  (own class missing!)"
    ax.set_title(title, fontsize=9)
    return fig


def plot_subgraph_row(similarity_row, label, num_classes, proxies_per_class, kept, ax=None, title=None):
    """Row ``i`` of ``S`` as bars over the ``C*N`` proxies; bars in ``I`` solid, own-class bars hatched (``S^pos``)."""
    s = _np(similarity_row)
    kept = set(_np(kept).tolist())
    colors = class_colors(num_classes)
    proxy_label = _np(steps.proxy_labels(num_classes, proxies_per_class))
    fig, ax = _figure(ax, (6, 3))
    bars = ax.bar(np.arange(len(s)), s, color=colors[proxy_label], edgecolor="black", lw=0.6, gid="row_bars")
    for j, bar in enumerate(bars):
        bar.set_alpha(1.0 if j in kept else _FADED)
        if proxy_label[j] == label:
            bar.set_hatch("//")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(np.arange(len(s)), [f"p{j}" for j in range(len(s))], fontsize=7,
                  rotation=90 if len(s) > 12 else 0)
    ax.set_ylabel("$S_{ij}$")
    ax.set_title(title or f"row of S: solid = kept (in I), hatched = own class ($S^{{pos}}$ = 1)", fontsize=9)
    return fig


def plot_subgraph_matrices(similarity, labels, num_classes, proxies_per_class, k, use_positive_mask=True):
    """Three heat maps, rows sorted by class: ``S^pos``; ``S`` with the top-k set ``I`` outlined; ``W``."""
    s, labels = _tensor(similarity), _tensor(labels, torch.long)
    s_pos = steps.positive_mask(labels, num_classes, proxies_per_class)
    sub = steps.select_subgraph(s, labels, num_classes, proxies_per_class, k, use_positive_mask)
    w = sub.to_dense()
    kept = torch.zeros_like(s_pos).scatter(1, sub.indices, True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
    plot_similarity_heatmap(s_pos.float(), labels, num_classes, proxies_per_class, ax=axes[0], vmin=0, vmax=1,
                            cmap="Greys", value_name="$S^{pos}_{ij}$", title="positive mask $S^{pos}$")
    how = "S + $S^{pos}$" if use_positive_mask else "S"
    plot_similarity_heatmap(s, labels, num_classes, proxies_per_class, ax=axes[1], highlight=kept,
                            title=f"S, outlined: the k = {k} largest of {how} per row (set I)")
    plot_similarity_heatmap(w, labels, num_classes, proxies_per_class, ax=axes[2], value_name="$W_{ij}$",
                            title="sparse neighbour matrix W (0 outside I)")
    return fig


def plot_own_class_coverage(similarity, labels, num_classes, proxies_per_class, rs, ax=None):
    """Fraction of samples whose subgraph holds >= 1 (and all N) own-class proxies, against ``r``.

    Without ``S^pos`` (solid lines) it depends on where the proxies are; with
    ``S^pos`` (dashed) every subgraph holds all ``N`` own-class proxies as soon
    as ``k >= N``. Lines have gids ``"any_without"``, ``"all_without"``, ``"all_with"``.
    """
    s, labels = _tensor(similarity), _tensor(labels, torch.long)
    rs = np.asarray(rs, dtype=float)
    own = steps.positive_mask(labels, num_classes, proxies_per_class)
    curves = {"any_without": [], "all_without": [], "all_with": []}
    ks = []
    for r in rs:
        k = steps.subgraph_size(float(r), num_classes, proxies_per_class)
        ks.append(k)
        for mask_on, key in ((False, "without"), (True, "with")):
            sub = steps.select_subgraph(s, labels, num_classes, proxies_per_class, k, mask_on)
            count = own.gather(1, sub.indices).sum(1)
            if not mask_on:
                curves["any_without"].append(float((count >= 1).float().mean()))
            curves[f"all_{key}"].append(float((count == min(k, proxies_per_class)).float().mean()))
    fig, ax = _figure(ax, (6, 3.6))
    ax.plot(rs, curves["any_without"], "o-", color="tab:blue", gid="any_without",
            label="without $S^{pos}$: at least one own-class proxy")
    ax.plot(rs, curves["all_without"], "s-", color="tab:orange", gid="all_without",
            label="without $S^{pos}$: all N (or k) own-class proxies")
    ax.plot(rs, curves["all_with"], "k--", gid="all_with", label="with $S^{pos}$: all N (or k) own-class proxies")
    ax.axvline(proxies_per_class / (num_classes * proxies_per_class), color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("r   (k = ⌈r·C·N⌉)")
    ax.set_ylabel("fraction of samples")
    ax.set_ylim(-0.03, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Is the own class in the subgraph? (C={num_classes}, N={proxies_per_class})", fontsize=10)
    return fig


def plot_subgraph_explorer(points, labels, num_classes, proxies_per_class, r, sample_index, use_positive_mask=True,
                           modes_per_class=None, proxy_jitter=0.3, seed=0):
    """Widget view: proxies from :func:`~proxygml_lite.toy.toy_proxies`, one sample's subgraph and its row of S."""
    proxies = toy.toy_proxies(num_classes, proxies_per_class, 2, modes_per_class, proxy_jitter, seed)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained", width_ratios=(1, 1.3))
    plot_subgraph(points, labels, proxies, num_classes, proxies_per_class, sample_index, r, use_positive_mask,
                  ax=axes[0])
    i, _, s_row, sub = _subgraph_of(points, labels, proxies, num_classes, proxies_per_class, sample_index, r,
                                    use_positive_mask)
    plot_subgraph_row(s_row, int(_np(labels)[i]), num_classes, proxies_per_class, sub.indices[0], ax=axes[1])
    return fig


# --------------------------------------------------------------------------- #
# Notebook 3: reverse label propagation
# --------------------------------------------------------------------------- #


def plot_annotated_matrix(matrix, ax=None, row_names=None, column_names=None, title=None, fmt="{:.2f}",
                          cmap=SIMILARITY_CMAP, vmin=-1.5, vmax=1.5):
    """A small matrix as a heat map with its numbers written in the cells (one text per cell)."""
    m = _np(matrix).astype(float)
    fig, ax = _figure(ax, (0.6 * m.shape[1] + 1, 0.5 * m.shape[0] + 1))
    ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="equal")
    dark = 0.6 * max(abs(vmin), abs(vmax))
    for (i, j), value in np.ndenumerate(m):
        ax.text(j, i, fmt.format(value + 0.0), ha="center", va="center", fontsize=8, gid="cell",
                color="white" if abs(value) > dark and cmap == SIMILARITY_CMAP else "black")
    ax.set_xticks(range(m.shape[1]), column_names or [str(j) for j in range(m.shape[1])], fontsize=8)
    ax.set_yticks(range(m.shape[0]), row_names or [str(i) for i in range(m.shape[0])], fontsize=8)
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_matrix_product(left, right, product, left_title="W", right_title="$Y^p$", product_title="Z = W $Y^p$",
                        row_names=None, middle_names=None, column_names=None):
    """``left @ right = product`` drawn as three annotated matrices (e.g. ``W Y^p = Z``)."""
    left, right, product = _np(left), _np(right), _np(product)
    if left.shape[1] != right.shape[0] or product.shape != (left.shape[0], right.shape[1]):
        raise ValueError(f"shapes do not chain: {left.shape} @ {right.shape} -> {product.shape}")
    widths = (left.shape[1], right.shape[1], product.shape[1])
    fig, axes = plt.subplots(1, 3, figsize=(2.2 + 0.75 * sum(widths), 1.2 + 0.55 * max(left.shape[0], right.shape[0])),
                             layout="constrained", width_ratios=widths)
    plot_annotated_matrix(left, axes[0], row_names, middle_names, left_title)
    plot_annotated_matrix(right, axes[1], middle_names, column_names, right_title, fmt="{:.0f}", cmap="Greys",
                          vmin=0, vmax=2.5)
    plot_annotated_matrix(product, axes[2], row_names, column_names, product_title)
    return fig


def plot_votes(z_row, label, num_classes, ax=None, title=None):
    """One sample's ``Z_i = (W Y^p)_i``: the votes of its subgraph for each class.

    Classes absent from the subgraph (``Z_ic = 0``, so ``M_ic = 0``) are drawn
    as empty dashed bars; the own class ``y_i`` is marked on the axis.
    """
    z = _np(z_row).astype(float)
    colors = class_colors(num_classes)
    fig, ax = _figure(ax, (5, 3.2))
    present = z != 0
    bars = ax.bar(np.arange(num_classes), np.where(present, z, 0.0), color=colors[:num_classes],
                  edgecolor="black", lw=0.8, gid="votes")
    for c, bar in enumerate(bars):
        if not present[c]:
            bar.set_facecolor("none")
            bar.set_linestyle("--")
            ax.text(c, 0.05, "absent\n(M=0)", ha="center", va="bottom", fontsize=7, color="0.4")
    ax.axhline(0, color="black", lw=0.8)
    names = [f"class {c}" + (" = y" if c == label else "") for c in range(num_classes)]
    ax.set_xticks(np.arange(num_classes), names, fontsize=8)
    limit = max(1.0, float(np.abs(z).max()) * 1.15)
    ax.set_ylim(-limit, limit)
    ax.set_ylabel("$Z_{ic}$ (sum of S to class-c proxies in I)")
    ax.set_title(title or "votes Z = W $Y^p$", fontsize=10)
    return fig


def plot_label_propagation_contrast(points, labels, labelled, scores, proxies, num_classes, proxies_per_class, r,
                                    sample_index):
    """Classic label propagation (left) against ProxyGML's reverse label propagation (right).

    Left: the labels of a few samples (big, black-edged) propagated over a fixed
    graph to the others, coloured by ``argmax`` of ``scores`` (misses: red ring).
    Right: one sample's subgraph; all labels are known and the votes ``Z_i``
    are used to adjust the edges ``S_ij`` through the loss.
    """
    points, labels = _np(points), _np(labels)
    labelled = _np(labelled).astype(bool)
    predicted = _np(scores).argmax(1)
    colors = class_colors(num_classes)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
    ax = axes[0]
    _circle_axes(ax)
    _scatter(ax, points[~labelled], predicted[~labelled], colors, size=22, gid="propagated")
    wrong = (~labelled) & (predicted != labels)
    ax.scatter(points[wrong, 0], points[wrong, 1], s=70, facecolors="none", edgecolors="red", lw=1.2, zorder=3,
               gid="wrong")
    ax.scatter(points[labelled, 0], points[labelled, 1], s=90, c=colors[labels[labelled]], edgecolors="black",
               lw=1.5, zorder=4, gid="labelled")
    accuracy = float((predicted[~labelled] == labels[~labelled]).mean()) if (~labelled).any() else math.nan
    ax.set_title(f"classic label propagation: {int(labelled.sum())} known labels flow\nalong a fixed graph "
                 f"to {int((~labelled).sum())} unlabelled points (accuracy {accuracy:.0%})", fontsize=10)
    plot_subgraph(points, labels, proxies, num_classes, proxies_per_class, sample_index, r, ax=axes[1])
    axes[1].set_title("reverse label propagation: every label is known;\nthe proxies' labels vote through W, "
                      "the loss adjusts the edges S", fontsize=10)
    return fig


def plot_votes_explorer(points, labels, num_classes, proxies_per_class, r, sample_index, use_positive_mask=True,
                        modes_per_class=None, proxy_jitter=0.3, seed=0):
    """Widget view: one sample's subgraph (left) and its votes ``Z_i`` with the mask softmax ``P`` (right)."""
    proxies = toy.toy_proxies(num_classes, proxies_per_class, 2, modes_per_class, proxy_jitter, seed)
    i, _, _, sub = _subgraph_of(points, labels, proxies, num_classes, proxies_per_class, sample_index, r,
                                use_positive_mask)
    z = steps.reverse_label_propagation(sub, num_classes, proxies_per_class)
    p = steps.mask_softmax(z)
    y = int(_np(labels)[i])
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.6), layout="constrained")
    plot_subgraph(points, labels, proxies, num_classes, proxies_per_class, i, r, use_positive_mask, ax=axes[0])
    plot_votes(z[0], y, num_classes, ax=axes[1],
               title=f"votes $Z_i$; mask softmax P(y={y}) = {float(p[0, y]):.2f}")
    return fig


# --------------------------------------------------------------------------- #
# Notebook 4: mask softmax, the loss and its gradients
# --------------------------------------------------------------------------- #


def plot_softmax_comparison(z, labels, sample_indices, num_classes):
    """Per chosen sample: the mask softmax ``P`` (over the classes in the subgraph) against a plain softmax of ``Z``.

    The bars of each panel are two containers with gids ``"mask"`` and ``"plain"``.
    """
    z, labels = _tensor(z), _tensor(labels, torch.long)
    rows = [int(i) for i in sample_indices]
    p_mask = steps.mask_softmax(z[rows])
    p_plain = torch.softmax(z[rows], dim=1)
    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.4), layout="constrained", squeeze=False)
    x = np.arange(num_classes)
    for a, (ax, i) in enumerate(zip(axes[0], rows)):
        y = int(labels[i])
        ax.bar(x - 0.2, _np(p_mask[a]), 0.4, color="tab:purple", label="mask softmax", gid="mask")
        ax.bar(x + 0.2, _np(p_plain[a]), 0.4, color="0.6", label="plain softmax", gid="plain")
        for c in range(num_classes):
            if float(z[i, c]) == 0.0:
                ax.text(c, 0.02, "absent", ha="center", fontsize=7, rotation=90, va="bottom", color="0.3")
        ax.set_xticks(x, [f"{c}" + ("=y" if c == y else "") for c in range(num_classes)], fontsize=8)
        ax.set_ylim(0, 1.05)
        nll_mask = -math.log(float(p_mask[a, y]) + steps.LOG_EPS)
        nll_plain = -math.log(float(p_plain[a, y]))
        ax.set_title(f"sample {i}: -log P(y)\nmask {nll_mask:.2f}, plain {nll_plain:.2f}", fontsize=9)
        ax.set_xlabel("class")
    axes[0, 0].set_ylabel("P(class | $x_i$)")
    axes[0, 0].legend(fontsize=8)
    return fig


def arrow_scale(vectors: torch.Tensor, length: float = 0.35) -> float:
    """The factor that draws the longest of ``vectors`` (rows) with ``length``; 1 if all are zero."""
    biggest = float(vectors.norm(dim=1).max()) if len(vectors) else 0.0
    return length / biggest if biggest > 0 else 1.0


def plot_gradient_field(points, labels, proxies, gradients: toy.ToyGradients, num_classes, proxies_per_class,
                        sample_scale=None, proxy_scale=None, ax=None, title=None, rings=(1.22, 1.4)):
    """Descent directions on the circle: ``-dL^s/dx_i`` (samples), ``-dL^s/dp_j`` and ``-lambda dL^p/dp_j`` (proxies).

    All three are tangent to the circle, so to keep them apart the proxies are
    drawn at their angle on an outer ring (``rings[0]``, black ``L^s`` arrows)
    and their ``lambda L^p`` arrows on a second ring (``rings[1]``, magenta),
    joined to the unit circle by a thin radial line; the samples stay on the
    unit circle. Arrows are ``scale * vector`` (times the ring radius);
    ``None`` scales the longest sample (proxy) arrow to 0.35. The three
    quivers have gids ``"samples"``, ``"proxies_s"``, ``"proxies_p"``.
    """
    points, labels, proxies = _tensor(points), _tensor(labels, torch.long), _tensor(proxies)
    if points.shape[1] != 2:
        raise ValueError("plot_gradient_field draws on the unit circle: points must be 2-D")
    colors = class_colors(num_classes)
    proxy_label = steps.proxy_labels(num_classes, proxies_per_class)
    sample_scale = arrow_scale(gradients.points_s) if sample_scale is None else sample_scale
    proxy_scale = (arrow_scale(torch.cat([gradients.proxies_s, gradients.proxies_p]))
                   if proxy_scale is None else proxy_scale)
    unit = _np(torch.nn.functional.normalize(proxies, dim=1))
    inner, outer = rings
    fig, ax = _figure(ax, (5.5, 5.5))
    _circle_axes(ax, margin=outer + 0.15)
    for radius in rings:
        ax.add_patch(plt.Circle((0, 0), radius, fill=False, color="0.9", lw=0.8, ls=":", zorder=0))
    ax.add_collection(LineCollection([[u, outer * u] for u in unit], colors="0.75", linewidths=0.6, zorder=1))
    _scatter(ax, points, labels, colors, alpha=0.6)
    _scatter_proxies(ax, inner * unit, proxy_label, colors, size=200)
    arrows = dict(angles="xy", scale_units="xy", scale=1.0, zorder=5)
    u = _np(gradients.points_s * sample_scale)
    ax.quiver(_np(points[:, 0]), _np(points[:, 1]), u[:, 0], u[:, 1], color=colors[_np(labels)], width=0.004,
              gid="samples", **arrows)
    u = inner * _np(gradients.proxies_s * proxy_scale)
    ax.quiver(inner * unit[:, 0], inner * unit[:, 1], u[:, 0], u[:, 1], color="black", width=0.007,
              gid="proxies_s", label="$-\\partial L^s/\\partial p_j$ (ring 1)", **arrows)
    u = outer * _np(gradients.proxies_p * proxy_scale)
    ax.quiver(outer * unit[:, 0], outer * unit[:, 1], u[:, 0], u[:, 1], color="magenta", width=0.007,
              gid="proxies_p", label="$-\\lambda\\,\\partial L^p/\\partial p_j$ (ring 2)", **arrows)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_title(title or (f"$L^s$ = {gradients.loss_s:.3f}, $L^p$ = {gradients.loss_p:.3f}, "
                           f"λ = {gradients.weight_lambda:g}, k = {gradients.k}"), fontsize=10)
    return fig


def plot_gradient_explorer(points, labels, proxies, num_classes, proxies_per_class, r=0.3, weight_lambda=0.3,
                           use_positive_mask=True, use_mask_softmax=True, sample_scale=None, proxy_scale=None,
                           ax=None):
    """Widget view: :func:`~proxygml_lite.toy.loss_gradients` drawn for the given ``r``, ``lambda``, ``S^pos``, ``M``."""
    grads = toy.loss_gradients(points, labels, proxies, num_classes, proxies_per_class, r, weight_lambda,
                               use_positive_mask, use_mask_softmax)
    fig = plot_gradient_field(points, labels, proxies, grads, num_classes, proxies_per_class, sample_scale,
                              proxy_scale, ax=ax)
    ax = ax if ax is not None else fig.axes[0]
    extra = "" if grads.k > proxies_per_class or not use_positive_mask else "  (k ≤ N: $L^s$ = 0)"
    ax.set_title(
        f"r = {r:g} (k = {grads.k}), λ = {weight_lambda:g}, $S^{{pos}}$ {'on' if use_positive_mask else 'off'}, "
        f"M {'on' if use_mask_softmax else 'off'}\n$L^s$ = {grads.loss_s:.3f}, $L^p$ = {grads.loss_p:.3f}, "
        f"L = {grads.loss:.3f}{extra}", fontsize=10)
    return fig


# --------------------------------------------------------------------------- #
# Notebook 5: training on toy data
# --------------------------------------------------------------------------- #


def _draw_snapshot(ax, snapshot: toy.Snapshot, labels, num_classes, title=None):
    colors = class_colors(num_classes)
    _circle_axes(ax, title)
    _scatter(ax, snapshot.embeddings, labels, colors, alpha=0.35, size=12)
    _scatter_proxies(ax, snapshot.proxies, snapshot.proxy_labels, colors, size=170)


def plot_input_points(inputs, labels, ax=None, title=None):
    """2-D *input* points (before the embedding), coloured by class."""
    inputs, labels = _np(inputs), _np(labels)
    if inputs.ndim != 2 or inputs.shape[1] != 2:
        raise ValueError(f"inputs must have shape (n, 2); got {inputs.shape}")
    colors = class_colors(int(labels.max()) + 1)
    fig, ax = _figure(ax, (4.6, 4.6))
    _scatter(ax, inputs, labels, colors, alpha=0.7, size=10)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("input $u_1$")
    ax.set_ylabel("input $u_2$")
    ax.set_title(title or "toy inputs (colour = class)", fontsize=10)
    return fig


def plot_training_snapshot(history: toy.ToyHistory, labels, snapshot_index=-1, ax=None):
    """One recorded state of a 2-D toy training run: embeddings (dots) and proxies (stars) on the circle."""
    if not history.snapshots:
        raise ValueError("history has no snapshots; train with num_snapshots >= 1")
    if not -len(history.snapshots) <= snapshot_index < len(history.snapshots):
        raise ValueError(f"snapshot_index must lie in [0, {len(history.snapshots)}); got {snapshot_index}")
    snapshot = history.snapshots[snapshot_index]
    num_classes = int(max(_np(labels).max(), snapshot.proxy_labels.max()) + 1)
    fig, ax = _figure(ax, (4.6, 4.6))
    _draw_snapshot(ax, snapshot, labels, num_classes, f"{history.name}: step {snapshot.step}")
    return fig


def plot_training_snapshots(history: toy.ToyHistory, labels, num_panels=6):
    """A row of ``num_panels`` evenly spaced snapshots of a 2-D toy run: watch the proxies move."""
    count = len(history.snapshots)
    if count == 0:
        raise ValueError("history has no snapshots; train with num_snapshots >= 1")
    chosen = np.unique(np.linspace(0, count - 1, min(num_panels, count)).round().astype(int))
    columns = min(3, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.9 * columns, 2.9 * rows + 0.3), layout="constrained",
                             squeeze=False)
    num_classes = int(max(_np(labels).max(), history.snapshots[0].proxy_labels.max()) + 1)
    for ax, index in zip(axes.flat, chosen):
        _draw_snapshot(ax, history.snapshots[index], labels, num_classes, f"step {history.snapshots[index].step}")
    for ax in list(axes.flat)[len(chosen):]:
        ax.axis("off")
    fig.suptitle(f"{history.name}: embeddings (dots) and proxies (stars) during training", fontsize=11)
    return fig


def plot_proxy_trajectories(history: toy.ToyHistory, labels, ax=None):
    """Each proxy's path over the snapshots, with time running outwards (radius 0.35 at step 0 -> 1 at the end).

    The final embeddings are drawn just outside the unit circle. One line per
    proxy (gid ``"trajectory"``).
    """
    if len(history.snapshots) < 2:
        raise ValueError("need at least two snapshots to draw trajectories; train with num_snapshots >= 2")
    snaps = history.snapshots
    num_classes = int(max(_np(labels).max(), snaps[0].proxy_labels.max()) + 1)
    colors = class_colors(num_classes)
    fig, ax = _figure(ax, (5, 5))
    _circle_axes(ax, margin=1.25)
    radius = np.linspace(0.35, 1.0, len(snaps))
    path = np.stack([s.proxies for s in snaps])  # (T, P, 2)
    angle = np.unwrap(np.arctan2(path[..., 1], path[..., 0]), axis=0)
    for j in range(path.shape[1]):
        xy = np.stack([radius * np.cos(angle[:, j]), radius * np.sin(angle[:, j])], 1)
        ax.plot(xy[:, 0], xy[:, 1], color=colors[snaps[0].proxy_labels[j]], lw=1.6, gid="trajectory")
        ax.scatter(*xy[0], s=25, color=colors[snaps[0].proxy_labels[j]], edgecolors="black", lw=0.5, zorder=4)
    _scatter_proxies(ax, path[-1], snaps[-1].proxy_labels, colors, size=170)
    _scatter(ax, 1.1 * snaps[-1].embeddings, labels, colors, alpha=0.35, size=10)
    ax.set_title(f"{history.name}: proxy paths, step 0 (inside, dot)\nto step {snaps[-1].step} (circle, star); "
                 "final embeddings outside", fontsize=9)
    return fig


def _smooth(values, width):
    values = np.asarray(values, dtype=float)
    if width <= 1 or len(values) < width:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot_training_curves(histories: Mapping[str, toy.ToyHistory], smooth=15):
    """Loss (moving average over ``smooth`` steps) and test Recall@1 against the step, one line per run."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for name, history in histories.items():
        loss = _smooth(history.loss, smooth)
        axes[0].plot(np.asarray(history.steps)[len(history.steps) - len(loss):], loss, label=name, gid="loss")
        if history.eval_steps:
            axes[1].plot(history.eval_steps, history.recall_at_1, label=name, gid="recall")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel(f"training loss (mean of {smooth} steps)")
    axes[0].set_title("each run's own loss (values not comparable across settings)", fontsize=10)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("test Recall@1")
    axes[1].set_ylim(0, 1.02)
    axes[1].set_title("Recall@1 on held-out points", fontsize=10)
    axes[1].legend(fontsize=8, loc="lower right")
    return fig


def plot_recall_comparison(results: Mapping[str, Sequence[float]], ax=None, title=None):
    """Bars: mean Recall@1 per run name, with one dot per seed and the mean written above the bar."""
    names = list(results)
    if not names:
        raise ValueError("results is empty; pass {run name: [Recall@1 per seed]}")
    fig, ax = _figure(ax, (0.85 * len(names) + 2, 3.6))
    means = [float(np.mean(results[n])) for n in names]
    ax.bar(range(len(names)), means, color="0.75", edgecolor="black", gid="means")
    for x, name in enumerate(names):
        values = np.asarray(results[name], dtype=float)
        ax.scatter(np.full(len(values), x) + np.linspace(-0.15, 0.15, len(values)), values, color="black", s=14,
                   zorder=3)
        ax.text(x, 0.04, f"{means[x]:.3f}", ha="center", fontsize=8, gid="mean_label")
    ax.set_xticks(range(len(names)), names, fontsize=8, rotation=20, ha="right")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("test Recall@1")
    ax.set_title(title or "Recall@1 (bar: mean over seeds, dots: seeds)", fontsize=10)
    return fig
