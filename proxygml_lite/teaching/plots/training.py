"""Notebook 5: toy inputs, snapshots and proxy paths of a training run, proxy merging, losses and Recall@1."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..training import Snapshot, ToyHistory
from ._base import (
    FONT_SIZE,
    add_class_legend,
    circle_axes,
    class_colors,
    new_figure,
    scatter_proxies,
    scatter_samples,
    series_style,
    to_numpy,
)

__all__ = [
    "plot_input_points",
    "plot_training_snapshot",
    "plot_training_snapshots",
    "plot_proxy_trajectories",
    "plot_proxy_merging",
    "plot_training_curves",
    "plot_recall_comparison",
    "plot_recall_groups",
]


def _num_classes(history: ToyHistory, labels) -> int:
    return int(max(to_numpy(labels).max(), history.snapshots[0].proxy_labels.max()) + 1)


def _draw_snapshot(ax, snapshot: Snapshot, labels, num_classes: int, title: str | None = None) -> None:
    colors = class_colors(num_classes)
    circle_axes(ax, title)
    scatter_samples(ax, snapshot.embeddings, labels, colors, alpha=0.35, size=12)
    scatter_proxies(ax, snapshot.proxies, snapshot.proxy_labels, colors, size=170)


def plot_input_points(inputs, labels, *, ax=None, title: str | None = None):
    """2-D *input* points (before the embedding), coloured by class."""
    inputs, labels = to_numpy(inputs), to_numpy(labels)
    if inputs.ndim != 2 or inputs.shape[1] != 2:
        raise ValueError(f"inputs must have shape (n, 2); got {inputs.shape}")
    num_classes = int(labels.max()) + 1
    fig, ax = new_figure(ax, (5.6, 4.6))
    scatter_samples(ax, inputs, labels, class_colors(num_classes), alpha=0.7, size=10)
    ax.set_aspect("equal", adjustable="datalim")
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_xlabel("input $u_1$")
    ax.set_ylabel("input $u_2$")
    add_class_legend(ax, num_classes, samples=False, proxies=False)
    ax.set_title(title or "toy inputs (colour = class)", fontsize=10)
    return fig


def plot_training_snapshot(history: ToyHistory, labels, *, snapshot_index: int = -1, ax=None):
    """One recorded state of a 2-D toy training run: embeddings (dots) and proxies (stars) on the circle."""
    if not history.snapshots:
        raise ValueError("history has no snapshots; train with num_snapshots >= 1")
    if not -len(history.snapshots) <= snapshot_index < len(history.snapshots):
        raise ValueError(f"snapshot_index must lie in [0, {len(history.snapshots)}); got {snapshot_index}")
    snapshot = history.snapshots[snapshot_index]
    num_classes = _num_classes(history, labels)
    fig, ax = new_figure(ax, (5.6, 4.6))
    _draw_snapshot(ax, snapshot, labels, num_classes, f"{history.name}: step {snapshot.step}")
    add_class_legend(ax, num_classes)
    return fig


def plot_training_snapshots(history: ToyHistory, labels, *, num_panels: int = 6):
    """A grid of ``num_panels`` evenly spaced snapshots of a 2-D toy run: watch the proxies move."""
    count = len(history.snapshots)
    if count == 0:
        raise ValueError("history has no snapshots; train with num_snapshots >= 1")
    chosen = np.unique(np.linspace(0, count - 1, min(num_panels, count)).round().astype(int))
    columns = min(3, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(2.9 * columns + 1.2, 2.9 * rows + 0.3), layout="constrained", squeeze=False
    )
    num_classes = _num_classes(history, labels)
    for ax, index in zip(axes.flat, chosen):
        _draw_snapshot(ax, history.snapshots[index], labels, num_classes, f"step {history.snapshots[index].step}")
    for ax in list(axes.flat)[len(chosen) :]:
        ax.axis("off")
    add_class_legend(fig, num_classes)
    fig.suptitle(f"{history.name}: embeddings (dots) and proxies (stars) during training", fontsize=11)
    return fig


def plot_proxy_trajectories(history: ToyHistory, labels, *, ax=None):
    """Each proxy's path over the snapshots, with time running outwards (radius 0.35 at step 0 -> 1 at the end).

    The final embeddings are drawn just outside the unit circle. One line per
    proxy (gid ``"trajectory"``).
    """
    if len(history.snapshots) < 2:
        raise ValueError("need at least two snapshots to draw trajectories; train with num_snapshots >= 2")
    snaps = history.snapshots
    num_classes = _num_classes(history, labels)
    colors = class_colors(num_classes)
    fig, ax = new_figure(ax, (6, 5))
    circle_axes(ax, margin=1.25)
    radius = np.linspace(0.35, 1.0, len(snaps))
    path = np.stack([s.proxies for s in snaps])  # (T, P, 2)
    angle = np.unwrap(np.arctan2(path[..., 1], path[..., 0]), axis=0)
    for j in range(path.shape[1]):
        xy = np.stack([radius * np.cos(angle[:, j]), radius * np.sin(angle[:, j])], 1)
        ax.plot(xy[:, 0], xy[:, 1], color=colors[snaps[0].proxy_labels[j]], lw=1.6, gid="trajectory")
        ax.scatter(*xy[0], s=25, color=colors[snaps[0].proxy_labels[j]], edgecolors="black", lw=0.5, zorder=4)
    scatter_proxies(ax, path[-1], snaps[-1].proxy_labels, colors, size=170)
    scatter_samples(ax, 1.1 * snaps[-1].embeddings, labels, colors, alpha=0.35, size=10)
    add_class_legend(ax, num_classes)
    ax.set_title(
        f"{history.name}: proxy paths, step 0 (inside, dot)\nto step {snaps[-1].step} (circle, star); "
        "final embeddings outside",
        fontsize=10,
    )
    return fig


def plot_proxy_merging(groups: Mapping[str, Sequence[ToyHistory]], *, axes=None):
    """Within-class proxy cosine (left) and the closest pair of proxies of two classes (right), against the step.

    ``groups`` maps a setting's name to its runs (one per seed): each run is a
    thin line, the mean over the runs a thick one, one grey/line style per
    setting. Mean lines have gid ``"within_mean"`` / ``"across_mean"``.
    """
    if not groups or not all(groups.values()):
        raise ValueError("groups must map each setting's name to a non-empty list of ToyHistory runs")
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    fig = axes[0].figure
    for index, (name, runs) in enumerate(groups.items()):
        style = series_style(index)
        for ax, key, what in ((axes[0], "within_cosine", "within"), (axes[1], "across_cosine", "across")):
            values = np.array([getattr(run, key) for run in runs], dtype=float)
            step = np.arange(values.shape[1])
            for row in values:
                ax.plot(step, row, color=style["color"], ls=style["ls"], lw=0.6, alpha=0.5)
            ax.plot(
                step,
                values.mean(0),
                color=style["color"],
                ls=style["ls"],
                lw=2.2,
                gid=f"{what}_mean",
                label=f"{name} ({len(runs)} seeds)",
            )
    axes[0].set_ylabel("mean cosine of two proxies\nof the same class")
    axes[1].set_ylabel("largest cosine of two proxies\nof different classes")
    for ax in axes:
        ax.set_xlabel("training step")
        ax.set_ylim(-0.35, 1.05)
        ax.tick_params(labelsize=FONT_SIZE)
        ax.grid(alpha=0.3)
    axes[0].set_title("the proxies of a class merge (1 = on top of each other)", fontsize=10)
    axes[1].set_title("classes' proxies stay apart (low) or collide (high)", fontsize=10)
    axes[1].legend(fontsize=FONT_SIZE, loc="center right")
    return fig


def _smooth(values, width: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if width <= 1 or len(values) < width:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot_training_curves(histories: Mapping[str, ToyHistory], *, smooth: int = 15):
    """Loss (moving average over ``smooth`` steps) and test Recall@1 against the step, one grey line style per run."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for index, (name, history) in enumerate(histories.items()):
        style = series_style(index)
        style = {"color": style["color"], "ls": style["ls"]}
        loss = _smooth(history.loss, smooth)
        axes[0].plot(np.asarray(history.steps)[len(history.steps) - len(loss) :], loss, label=name, gid="loss", **style)
        if history.eval_steps:
            axes[1].plot(history.eval_steps, history.recall_at_1, label=name, gid="recall", **style)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel(f"training loss (mean of {smooth} steps)")
    axes[0].set_title("each run's own loss (not comparable across losses)", fontsize=10)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("test Recall@1")
    axes[1].set_ylim(0, 1.02)
    axes[1].set_title("Recall@1 on held-out points", fontsize=10)
    axes[1].legend(fontsize=FONT_SIZE, loc="lower right")
    for ax in axes:
        ax.tick_params(labelsize=FONT_SIZE)
    return fig


def plot_recall_comparison(
    results: Mapping[str, Sequence[float]], *, ax=None, title: str | None = None, ylabel: str = "test Recall@1"
):
    """Bars: mean Recall@1 per run name, with one dot per seed and the mean written in the bar."""
    names = list(results)
    if not names:
        raise ValueError("results is empty; pass {run name: [Recall@1 per seed]}")
    fig, ax = new_figure(ax, (min(0.85 * len(names) + 2, 10), 3.6))
    means = [float(np.mean(results[n])) for n in names]
    ax.bar(range(len(names)), means, color="0.8", edgecolor="black", gid="means")
    for x, name in enumerate(names):
        values = np.asarray(results[name], dtype=float)
        ax.scatter(
            np.full(len(values), x) + np.linspace(-0.15, 0.15, len(values)), values, color="black", s=14, zorder=3
        )
        ax.text(x, 0.04, f"{means[x]:.3f}", ha="center", fontsize=FONT_SIZE, gid="mean_label")
    ax.set_xticks(range(len(names)), names, fontsize=FONT_SIZE, rotation=25, ha="right")
    ax.tick_params(labelsize=FONT_SIZE)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Recall@1 (bar: mean over seeds, dots: seeds)", fontsize=10)
    return fig


def plot_recall_groups(
    groups: Mapping[str, Mapping[str, Sequence[float]]], *, title: str | None = None, ylabel: str = "test Recall@1"
):
    """One panel of :func:`plot_recall_comparison` bars per group (e.g. one per controlled quantity), shared y axis."""
    if not groups or not all(groups.values()):
        raise ValueError("groups must map each group's name to a non-empty {run name: [Recall@1 per seed]}")
    widths = [len(results) for results in groups.values()]
    fig, axes = plt.subplots(
        1,
        len(groups),
        figsize=(min(10, 1.0 + 0.8 * sum(widths) + 0.6 * len(groups)), 3.9),
        layout="constrained",
        width_ratios=widths,
        sharey=True,
        squeeze=False,
    )
    for ax, (name, results) in zip(axes[0], groups.items()):
        plot_recall_comparison(results, ax=ax, title=name, ylabel=ylabel)
        if ax is not axes[0, 0]:
            ax.set_ylabel("")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
