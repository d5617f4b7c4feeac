"""Shared helpers of the teaching plots: colours, legends, axes on the circle/sphere, scatter of samples and proxies.

Colour conventions, the same in every notebook, so that a colour has one meaning:

* **class colours** (:func:`class_colors`): orange, green, purple, cyan, ...
  never red or blue, and only ever used for a class;
* **similarity** ``S`` (heat maps, bipartite edges): the diverging map
  :data:`SIMILARITY_CMAP`, red for high and blue for negative ``S``;
* everything else (positive/negative pairs, misses, forces, runs): black and
  greys, told apart by line style and marker, and named in a legend.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D

__all__ = ["SIMILARITY_CMAP", "FONT_SIZE", "class_colors", "add_class_legend"]

SIMILARITY_CMAP = "RdBu_r"
#: Font size (points) of tick labels, legends and annotations: readable at the size the figures are shown.
FONT_SIZE = 9
FADED = 0.25
#: Class colours: tab10 without red and blue (they belong to S) and grey (non-class marks), then tab20 likewise.
_CLASS_PALETTE = ("tab:orange", "tab:green", "tab:purple", "tab:cyan", "tab:pink", "tab:olive", "tab:brown")
#: Greys and line styles for what is not a class (runs, settings): (colour, line style, marker).
SERIES_STYLES = (
    ("black", "-", "o"),
    ("0.45", "--", "s"),
    ("0.7", ":", "^"),
    ("0.25", "-.", "D"),
    ("0.55", (0, (5, 1)), "v"),
    ("0.8", "-", "x"),
)


def class_colors(num_classes: int) -> np.ndarray:
    """``(C, 4)`` RGBA colours, one per class: never the red or blue of the similarity colour map."""
    from matplotlib.colors import to_rgba

    if num_classes <= len(_CLASS_PALETTE):
        return np.array([to_rgba(name) for name in _CLASS_PALETTE[:num_classes]])
    cmap = plt.get_cmap("tab20")
    usable = [i for i in range(20) if i not in (0, 1, 6, 7, 14, 15)]  # drop tab20's blues, reds and greys
    return np.array([cmap(usable[c % len(usable)]) for c in range(num_classes)])


def series_style(index: int) -> dict:
    """Line keywords (``color``, ``ls``, ``marker``) of the ``index``-th non-class series."""
    color, style, marker = SERIES_STYLES[index % len(SERIES_STYLES)]
    return {"color": color, "ls": style, "marker": marker}


def add_class_legend(
    target,
    num_classes: int,
    *,
    samples: bool = True,
    proxies: bool = True,
    extra: list | None = None,
    loc: str = "outside right",
    ncol: int = 1,
    anchor: tuple[float, float] | None = None,
):
    """A legend naming the class colours (and the dot/star markers) on ``target`` (an Axes or a Figure).

    ``extra`` appends further handles (e.g. a "miss" marker). ``loc="outside right"`` (the default) puts an
    Axes' legend to the right of it; any other ``loc`` is matplotlib's, with ``anchor`` as ``bbox_to_anchor``.
    Returns the legend.
    """
    colors = class_colors(num_classes)
    handles = [
        Line2D([], [], ls="none", marker="o", ms=7, color=colors[c], label=f"class {c}") for c in range(num_classes)
    ]
    if samples:
        handles.append(Line2D([], [], ls="none", marker="o", ms=6, color="0.5", label="sample"))
    if proxies:
        handles.append(Line2D([], [], ls="none", marker="*", ms=11, mfc="0.5", mec="black", label="proxy"))
    handles += list(extra or [])
    options = {"handles": handles, "fontsize": FONT_SIZE, "frameon": False, "ncol": ncol}
    if isinstance(target, plt.Figure):
        return target.legend(loc=loc, **options)
    if loc == "outside right":
        return target.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), **options)
    if anchor is not None:
        options["bbox_to_anchor"] = anchor
    return target.legend(loc=loc, **options)


def to_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def to_tensor(values, dtype=torch.float32) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().to(dtype)
    return torch.as_tensor(np.asarray(values), dtype=dtype)


def new_figure(ax=None, figsize=(5, 5), projection=None):
    """``(figure, axes)``: the figure of ``ax``, or a new constrained-layout figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot(projection=projection)


def check_sample(sample_index: int, count: int) -> int:
    if not 0 <= int(sample_index) < count:
        raise ValueError(f"sample_index must lie in [0, {count}) (one of the {count} samples); got {sample_index}")
    return int(sample_index)


def circle_axes(ax, title: str | None = None, margin: float = 1.3) -> None:
    """The unit circle, equal aspect, no ticks (positions on the circle are the unit vectors themselves)."""
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


def sphere_axes(ax, title: str | None = None) -> None:
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    if title:
        ax.set_title(title, fontsize=10)


def scatter_samples(ax, points, labels, colors, *, alpha=0.85, size=18, gid="samples", **kwargs):
    points = to_numpy(points)
    coords = [points[:, i] for i in range(points.shape[1])]
    return ax.scatter(
        *coords, c=colors[to_numpy(labels)], s=size, alpha=alpha, edgecolors="none", zorder=2, gid=gid, **kwargs
    )


def scatter_proxies(ax, proxies, proxy_label, colors, *, size=240, alpha=1.0, numbers=False, gid="proxies"):
    proxies = to_numpy(proxies)
    coords = [proxies[:, i] for i in range(proxies.shape[1])]
    handle = ax.scatter(
        *coords,
        marker="*",
        s=size,
        c=colors[to_numpy(proxy_label)],
        edgecolors="black",
        linewidths=0.8,
        alpha=alpha,
        zorder=4,
        gid=gid,
    )
    if numbers and proxies.shape[1] == 2:
        for j, (x, y) in enumerate(proxies):
            ax.text(1.17 * x, 1.17 * y, f"p{j}", ha="center", va="center", fontsize=FONT_SIZE, color="0.2")
    return handle
