"""Matrices as pictures: ``S``, ``S^pos``, ``W``, ``Z`` as heat maps, and small annotated matrix products."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle

from ._base import FONT_SIZE, SIMILARITY_CMAP, new_figure, to_numpy

__all__ = ["plot_similarity_heatmap", "plot_annotated_matrix", "plot_matrix_product"]


def plot_similarity_heatmap(
    matrix,
    row_labels,
    *,
    num_classes: int,
    columns_per_class: int,
    highlight=None,
    row_name: str = "sample",
    column_name: str = "proxy",
    value_name: str = "$S_{ij}$",
    vmin: float = -1.0,
    vmax: float = 1.0,
    cmap: str = SIMILARITY_CMAP,
    colorbar: bool = True,
    ax=None,
    title: str | None = None,
):
    """A ``(rows, C * columns_per_class)`` matrix as a heat map, rows sorted by class.

    Lines separate the classes (rows by ``row_labels``, columns in blocks of
    ``columns_per_class``). ``highlight`` (boolean, same shape) outlines entries,
    e.g. the top-k set ``I``; the outlines are patches with gid ``"highlight"``.
    The image (``ax.images[0]``) holds the row-sorted matrix.
    """
    m = to_numpy(matrix).astype(float)
    row_labels = to_numpy(row_labels)
    if m.shape[1] != num_classes * columns_per_class:
        raise ValueError(f"matrix has {m.shape[1]} columns; expected {num_classes} x {columns_per_class}")
    order = np.argsort(row_labels, kind="stable")
    m, sorted_labels = m[order], row_labels[order]
    fig, ax = new_figure(ax, (5, 4.5))
    image = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    for c in range(1, num_classes):
        ax.axvline(c * columns_per_class - 0.5, color="black", lw=1)
    for boundary in np.flatnonzero(np.diff(sorted_labels)):
        ax.axhline(boundary + 0.5, color="black", lw=1)
    if highlight is not None:
        mask = to_numpy(highlight)[order]
        for i, j in zip(*np.nonzero(mask)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="black", lw=1.3, gid="highlight"))
    ax.set_xticks(
        [c * columns_per_class + (columns_per_class - 1) / 2 for c in range(num_classes)],
        [str(c) for c in range(num_classes)],
        fontsize=FONT_SIZE,
    )
    ax.set_xlabel(f"{column_name}, grouped by class")
    centres = [np.flatnonzero(sorted_labels == c).mean() for c in np.unique(sorted_labels)]
    ax.set_yticks(centres, [f"class {c}" for c in np.unique(sorted_labels)], fontsize=FONT_SIZE)
    ax.set_ylabel(f"{row_name} (sorted by class)")
    if colorbar:
        bar = fig.colorbar(image, ax=ax, shrink=0.8, label=value_name)
        bar.ax.tick_params(labelsize=FONT_SIZE)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_annotated_matrix(
    matrix,
    *,
    ax=None,
    row_names=None,
    column_names=None,
    title: str | None = None,
    fmt: str = "{:.2f}",
    cmap: str = SIMILARITY_CMAP,
    vmin: float = -1.5,
    vmax: float = 1.5,
):
    """A small matrix as a heat map with its numbers written in the cells (one text per cell, gid ``"cell"``)."""
    m = to_numpy(matrix).astype(float)
    fig, ax = new_figure(ax, (0.6 * m.shape[1] + 1, 0.5 * m.shape[0] + 1))
    ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="equal")
    dark = 0.6 * max(abs(vmin), abs(vmax))
    for (i, j), value in np.ndenumerate(m):
        ax.text(
            j,
            i,
            fmt.format(value + 0.0),
            ha="center",
            va="center",
            fontsize=FONT_SIZE,
            gid="cell",
            color="white" if abs(value) > dark and cmap == SIMILARITY_CMAP else "black",
        )
    ax.set_xticks(
        range(m.shape[1]),
        column_names or [str(j) for j in range(m.shape[1])],
        fontsize=FONT_SIZE,
        rotation=90 if m.shape[1] > 4 else 0,
    )
    ax.set_yticks(range(m.shape[0]), row_names or [str(i) for i in range(m.shape[0])], fontsize=FONT_SIZE)
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_matrix_product(
    left,
    right,
    product,
    *,
    left_title: str = "W",
    right_title: str = "$Y^p$",
    product_title: str = "Z = W $Y^p$",
    row_names=None,
    middle_names=None,
    column_names=None,
):
    """``left @ right = product`` drawn as three annotated matrices (e.g. ``W Y^p = Z``)."""
    import matplotlib.pyplot as plt

    left, right, product = to_numpy(left), to_numpy(right), to_numpy(product)
    if left.shape[1] != right.shape[0] or product.shape != (left.shape[0], right.shape[1]):
        raise ValueError(f"shapes do not chain: {left.shape} @ {right.shape} -> {product.shape}")
    widths = (left.shape[1], right.shape[1], product.shape[1])
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(2.2 + 0.75 * sum(widths), 1.6 + 0.55 * max(left.shape[0], right.shape[0])),
        layout="constrained",
        width_ratios=widths,
    )
    plot_annotated_matrix(left, ax=axes[0], row_names=row_names, column_names=middle_names, title=left_title)
    plot_annotated_matrix(
        right,
        ax=axes[1],
        row_names=middle_names,
        column_names=column_names,
        title=right_title,
        fmt="{:.0f}",
        cmap="Greys",
        vmin=0,
        vmax=2.5,
    )
    plot_annotated_matrix(product, ax=axes[2], row_names=row_names, column_names=column_names, title=product_title)
    return fig
