"""Notebook 4: mask softmax against plain softmax, and the descent directions of ``L = L^s + lambda L^p``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ... import steps
from ..gradients import ToyGradients, loss_gradients
from ._base import (
    FADED,
    FONT_SIZE,
    add_class_legend,
    circle_axes,
    class_colors,
    scatter_proxies,
    scatter_samples,
    to_numpy,
    to_tensor,
)

__all__ = ["plot_softmax_comparison", "arrow_scale", "GRADIENT_PANELS", "plot_gradient_field", "plot_gradient_explorer"]

#: The three forces :func:`plot_gradient_field` can draw, one panel each.
GRADIENT_PANELS = ("samples", "proxies_s", "proxies_p")
_PANEL_TITLES = {
    "samples": r"on the samples: $-\partial L^s/\partial x_i$",
    "proxies_s": r"on the proxies: $-\partial L^s/\partial p_j$",
    "proxies_p": r"on the proxies: $-\lambda\,\partial L^p/\partial p_j$",
}


def plot_softmax_comparison(z, labels, *, sample_indices: Sequence[int], num_classes: int):
    """Per chosen sample: the mask softmax ``P`` (over the classes in the subgraph) against a plain softmax of ``Z``.

    The bars of each panel are two containers with gids ``"mask"`` (black) and ``"plain"`` (grey).
    """
    z, labels = to_tensor(z), to_tensor(labels, torch.long)
    rows = [int(i) for i in sample_indices]
    p_mask = steps.mask_softmax(z[rows])
    p_plain = torch.softmax(z[rows], dim=1)
    fig, axes = plt.subplots(1, len(rows), figsize=(3.3 * len(rows), 3.4), layout="constrained", squeeze=False)
    x = np.arange(num_classes)
    for a, (ax, i) in enumerate(zip(axes[0], rows)):
        y = int(labels[i])
        ax.bar(x - 0.2, to_numpy(p_mask[a]), 0.4, color="black", label="mask softmax", gid="mask")
        ax.bar(x + 0.2, to_numpy(p_plain[a]), 0.4, color="0.7", label="plain softmax", gid="plain")
        for c in range(num_classes):
            if float(z[i, c]) == 0.0:
                ax.text(c, 0.03, "absent", ha="center", fontsize=FONT_SIZE, rotation=90, va="bottom", color="0.3")
        ax.set_xticks(x, [f"{c}" + ("=y" if c == y else "") for c in range(num_classes)], fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        ax.set_ylim(0, 1.05)
        nll_mask = -math.log(float(p_mask[a, y]) + steps.LOG_EPS)
        nll_plain = -math.log(float(p_plain[a, y]))
        ax.set_title(f"sample {i}: -log P(y)\nmask {nll_mask:.2f}, plain {nll_plain:.2f}", fontsize=10)
        ax.set_xlabel("class")
    axes[0, 0].set_ylabel("P(class | $x_i$)")
    axes[0, 0].legend(fontsize=FONT_SIZE)
    return fig


def arrow_scale(vectors: torch.Tensor, length: float = 0.35) -> float:
    """The factor that draws the longest of ``vectors`` (rows) with ``length``; 1 if all are zero."""
    biggest = float(vectors.norm(dim=1).max()) if len(vectors) else 0.0
    return length / biggest if biggest > 0 else 1.0


def plot_gradient_field(
    points,
    labels,
    *,
    proxies,
    gradients: ToyGradients,
    num_classes: int,
    proxies_per_class: int,
    scales: Mapping[str, float] | None = None,
    panels: Sequence[str] = GRADIENT_PANELS,
    axes=None,
    legend: bool = True,
):
    """Descent directions on the circle, one force per panel, so that no arrow hides another.

    Panels (``panels``, in this order by default): ``"samples"``
    (``-dL^s/dx_i``, arrows in the sample's class colour), ``"proxies_s"``
    (``-dL^s/dp_j``) and ``"proxies_p"`` (``-lambda dL^p/dp_j``), black arrows
    at the proxies. Arrows are ``scale * vector``; ``scales[panel]`` fixes the
    scale (to compare figures), otherwise the longest arrow of the panel gets
    length 0.35. Each panel's title gives the longest ``|vector|``. The
    quivers have gids ``"samples"``, ``"proxies_s"``, ``"proxies_p"``.
    """
    points, labels, proxies = to_tensor(points), to_tensor(labels, torch.long), to_tensor(proxies)
    if points.shape[1] != 2:
        raise ValueError("plot_gradient_field draws on the unit circle: points must be 2-D")
    unknown = [p for p in panels if p not in GRADIENT_PANELS]
    if unknown or not panels:
        raise ValueError(f"panels must be a non-empty selection of {GRADIENT_PANELS}; got {tuple(panels)}")
    scales = dict(scales or {})
    colors = class_colors(num_classes)
    proxy_label = steps.proxy_labels(num_classes, proxies_per_class)
    unit = torch.nn.functional.normalize(proxies, dim=1)
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 4.0), layout="constrained", squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    arrows = dict(angles="xy", scale_units="xy", scale=1.0, zorder=5)
    for ax, panel in zip(axes, panels):
        circle_axes(ax)
        vectors = {"samples": gradients.points_s, "proxies_s": gradients.proxies_s, "proxies_p": gradients.proxies_p}[
            panel
        ]
        scale = scales.get(panel, arrow_scale(vectors))
        u = to_numpy(vectors * scale)
        on_samples = panel == "samples"
        scatter_samples(ax, points, labels, colors, alpha=0.8 if on_samples else FADED)
        scatter_proxies(ax, unit, proxy_label, colors, size=170, alpha=0.5 if on_samples else 1.0)
        base = to_numpy(points if on_samples else unit)
        ax.quiver(
            base[:, 0],
            base[:, 1],
            u[:, 0],
            u[:, 1],
            color=colors[to_numpy(labels)] if on_samples else "black",
            width=0.006 if on_samples else 0.009,
            gid=panel,
            **arrows,
        )
        longest = float(vectors.norm(dim=1).max()) if len(vectors) else 0.0
        fixed = " (fixed scale)" if panel in scales else ""
        ax.set_title(f"{_PANEL_TITLES[panel]}\nlongest |vector| = {longest:.3f}{fixed}", fontsize=10)
    if legend:
        add_class_legend(fig, num_classes, loc="outside lower center", ncol=num_classes + 2)
    return fig


def plot_gradient_explorer(
    points,
    labels,
    *,
    proxies,
    num_classes: int,
    proxies_per_class: int,
    r: float = 0.3,
    weight_lambda: float = 0.3,
    positive_mask: bool = True,
    mask_softmax: bool = True,
    scales: Mapping[str, float] | None = None,
    panels: Sequence[str] = GRADIENT_PANELS,
):
    """Widget view: :func:`~proxygml_lite.teaching.gradients.loss_gradients` drawn for ``r``, ``lambda``, ``S^pos``, ``M``."""
    grads = loss_gradients(
        points,
        labels,
        proxies=proxies,
        num_classes=num_classes,
        proxies_per_class=proxies_per_class,
        r=r,
        weight_lambda=weight_lambda,
        positive_mask=positive_mask,
        mask_softmax=mask_softmax,
    )
    fig = plot_gradient_field(
        points,
        labels,
        proxies=proxies,
        gradients=grads,
        num_classes=num_classes,
        proxies_per_class=proxies_per_class,
        scales=scales,
        panels=panels,
    )
    extra = "" if grads.k > proxies_per_class or not positive_mask else "  (k ≤ N: $L^s$ = 0)"
    fig.suptitle(
        f"r = {r:g} (k = {grads.k}), λ = {weight_lambda:g}, $S^{{pos}}$ {'on' if positive_mask else 'off'}, "
        f"M {'on' if mask_softmax else 'off'}:  $L^s$ = {grads.loss_s:.3f}, $L^p$ = {grads.loss_p:.3f}, "
        f"L = {grads.loss:.3f}{extra}",
        fontsize=10,
    )
    return fig
