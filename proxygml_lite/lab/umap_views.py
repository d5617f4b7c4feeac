"""UMAP views of sample embeddings and proxies through training (notebook 9).

A *snapshot* is what a run kept after an epoch: the embeddings ``X`` of a
fixed set of training samples with their labels, and the proxies ``P``
(``C*N`` rows; rows ``c*N .. c*N+N-1`` belong to class ``c``).
:func:`fit_umap` maps the snapshots of a run to 2-D, seeded, in one of two ways:

* ``aligned=True`` (the default): one UMAP per epoch, fitted together by
  ``umap.AlignedUMAP`` with every sample and proxy tied to itself in the next
  epoch, so that the maps share their orientation and a point that moves in the
  embedding space moves in the drawing;
* ``aligned=False``: one UMAP fitted on all epochs together. Its layout is
  shared too, but it tends to pin a point's snapshots to one place: notebook 9
  measures that the ``N = 1`` proxies turn far from their epoch-0 direction
  while their stars hardly move in such a map.

:func:`plot_umap_snapshot` draws one epoch: samples as dots on top, proxies as
outlined stars, coloured by class with a class legend, and optionally each
proxy's path from epoch 0 (``trajectories=True``).

UMAP maps are a picture, not a measurement: distances in the map are only
roughly faithful. Whether the ``N`` proxies of a class spread over its modes
or merge, and how far they turned, is therefore *measured* in the original space by
:mod:`proxygml_lite.lab.proxy_spread_views` (cosines, no UMAP involved).

The first UMAP call compiles numba code (tens of seconds);
:func:`warm_up_umap` does that on a tiny input and says so.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from ..fileio import read_npz

__all__ = [
    "Snapshot",
    "UMAPView",
    "snapshots_from_arrays",
    "read_snapshots",
    "warm_up_umap",
    "fit_umap",
    "plot_umap_snapshot",
    "plot_umap_epochs",
    "unit_rows",
]


@dataclass
class Snapshot:
    """One epoch of a run: ``embeddings`` ``(n, d)`` of training samples, their ``labels`` (0..C-1), ``proxies`` ``(C*N, d)``."""

    epoch: int
    embeddings: np.ndarray
    labels: np.ndarray
    proxies: np.ndarray
    proxies_per_class: int


@dataclass
class UMAPView:
    """2-D coordinates of the snapshots of one run: ``samples[e]`` ``(n_e, 2)``, ``proxies[e]`` ``(C'*N, 2)``.

    ``aligned``, ``n_neighbors`` and ``min_dist`` say how :func:`fit_umap` fitted it.
    """

    epochs: list[int]
    samples: list[np.ndarray]
    sample_labels: list[np.ndarray]
    proxies: list[np.ndarray]
    proxy_labels: np.ndarray
    classes: list[int]
    proxies_per_class: int
    fit_seconds: float = 0.0
    aligned: bool = True
    n_neighbors: int = 15
    min_dist: float = 0.1


def snapshots_from_arrays(arrays, *, epochs: Sequence[int] | None = None) -> list[Snapshot]:
    """Snapshots from the arrays of a snapshot file (:func:`read_snapshots` reads one).

    Needs ``epochs`` ``[E]``, ``proxies`` ``[E, C*N, d]``, ``train_embeddings``
    ``[E, n, d]``, ``train_labels`` ``[n]`` and ``N``; ``epochs`` selects some.
    Arrays of other shapes are one ValueError saying which.
    """
    missing = [k for k in ("epochs", "proxies", "train_embeddings", "train_labels", "N") if k not in arrays]
    if missing:
        raise ValueError(f"the snapshot arrays lack {missing}; read a snapshots/*.npz file with read_snapshots")
    shapes = {k: np.shape(arrays[k]) for k in ("epochs", "proxies", "train_embeddings", "train_labels", "N")}
    count = shapes["epochs"][0] if len(shapes["epochs"]) == 1 else None
    if (
        count is None
        or len(shapes["proxies"]) != 3
        or len(shapes["train_embeddings"]) != 3
        or shapes["proxies"][0] != count
        or shapes["train_embeddings"][0] != count
        or shapes["proxies"][2] != shapes["train_embeddings"][2]
        or shapes["train_labels"] != shapes["train_embeddings"][1:2]
        or shapes["N"] != ()
    ):
        raise ValueError(
            "the snapshot arrays do not fit together (want epochs [E], proxies [E, C*N, d], train_embeddings "
            f"[E, n, d], train_labels [n], N a number; got {', '.join(f'{k} {list(v)}' for k, v in shapes.items())})"
        )
    saved = [int(e) for e in np.asarray(arrays["epochs"])]
    wanted = saved if epochs is None else [int(e) for e in epochs]
    absent = [e for e in wanted if e not in saved]
    if absent:
        raise ValueError(f"epochs {absent} were not saved; the file has epochs {saved}")
    n = int(np.asarray(arrays["N"]))
    labels = np.asarray(arrays["train_labels"])
    return [
        Snapshot(
            e,
            np.asarray(arrays["train_embeddings"][saved.index(e)], dtype=np.float32),
            labels,
            np.asarray(arrays["proxies"][saved.index(e)], dtype=np.float32),
            n,
        )
        for e in wanted
    ]


def read_snapshots(path: str | os.PathLike, *, epochs: Sequence[int] | None = None) -> list[Snapshot]:
    """The snapshots in a snapshot file (``results/<preset>/snapshots/N12_r0.05_s0.npz``); ``epochs`` selects some.

    The file is read without unpickling anything (:func:`proxygml_lite.fileio.read_npz`): an empty, truncated
    or pickled file, or arrays that are not a snapshot's (:func:`snapshots_from_arrays`), is one ValueError naming it.
    """
    arrays = read_npz(path)
    try:
        return snapshots_from_arrays(arrays, epochs=epochs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a snapshot file of `make studies`: {exc}; restore it (git checkout)") from None


def unit_rows(x) -> np.ndarray:
    """``x`` as float32 with every row scaled to unit length (cosines become dot products)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def warm_up_umap(*, verbose: bool = True) -> float:
    """Compile UMAP's numba code on a tiny input (the first call is slow); returns the seconds it took."""
    import umap

    if verbose:
        print(
            "Warming up UMAP: the first call compiles its numba code, this takes a while once per kernel ...",
            flush=True,
        )
    begin = time.perf_counter()
    points = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    umap.UMAP(n_neighbors=5, n_epochs=10, random_state=0, n_jobs=1, metric="cosine").fit_transform(points)
    seconds = time.perf_counter() - begin
    if verbose:
        print(f"UMAP ready ({seconds:.0f} s).")
    return seconds


def fit_umap(
    snapshots: Sequence[Snapshot],
    *,
    classes: Sequence[int] | None = None,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int | None = None,
    aligned: bool = True,
) -> UMAPView:
    """Seeded UMAP maps (cosine metric) of the samples and proxies of every snapshot.

    Args:
        snapshots: the epochs to map, e.g. ``[epoch 0, epoch 2, epoch 6]``; all with the same ``N``.
        classes: restrict the map to these training classes (default: all);
            fewer classes give a clearer picture and a faster fit.
        seed: UMAP's ``random_state`` (with it UMAP runs single-threaded, reproducibly on one processor).
        n_neighbors, min_dist, n_epochs: UMAP's parameters.
        aligned: one map per epoch, aligned with its neighbours (``umap.AlignedUMAP``, every point tied to
            itself in the next epoch); ``False``: one map fitted on all epochs together.
    """
    import umap

    if not snapshots:
        raise ValueError("snapshots is empty; pass the snapshots of at least one epoch")
    n = snapshots[0].proxies_per_class
    if any(s.proxies_per_class != n for s in snapshots):
        raise ValueError("all snapshots must come from one run (the same N); fit one map per run")
    num_classes = len(snapshots[0].proxies) // n
    classes = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"classes {bad} are not training classes 0..{num_classes - 1}")
    proxy_rows = np.concatenate([np.arange(c * n, (c + 1) * n) for c in classes])
    proxy_labels = np.repeat(np.asarray(classes), n)
    blocks, sample_labels = [], []
    for snapshot in snapshots:
        keep = np.isin(np.asarray(snapshot.labels), classes)
        blocks.append(np.concatenate([unit_rows(snapshot.embeddings)[keep], unit_rows(snapshot.proxies)[proxy_rows]]))
        sample_labels.append(np.asarray(snapshot.labels)[keep])
    aligned = aligned and len(snapshots) > 1 and len({len(b) for b in blocks}) == 1
    settings = {"n_neighbors": n_neighbors, "min_dist": min_dist, "metric": "cosine", "random_state": seed}
    begin = time.perf_counter()
    with warnings.catch_warnings():  # seeded runs are single-threaded; a tiny map falls back to a random init
        warnings.simplefilter("ignore")
        if aligned:
            identity = {i: i for i in range(len(blocks[0]))}
            reducer = umap.AlignedUMAP(**settings, n_epochs=n_epochs)
            maps = reducer.fit(blocks, relations=[identity] * (len(blocks) - 1)).embeddings_
        else:
            coordinates = umap.UMAP(**settings, n_epochs=n_epochs, n_jobs=1).fit_transform(np.concatenate(blocks))
            maps = np.split(coordinates, np.cumsum([len(b) for b in blocks])[:-1])
    seconds = time.perf_counter() - begin
    cut = [len(labels) for labels in sample_labels]
    return UMAPView(
        epochs=[int(s.epoch) for s in snapshots],
        samples=[np.asarray(m[:k], dtype=np.float32) for m, k in zip(maps, cut)],
        sample_labels=sample_labels,
        proxies=[np.asarray(m[k:], dtype=np.float32) for m, k in zip(maps, cut)],
        proxy_labels=proxy_labels,
        classes=classes,
        proxies_per_class=n,
        fit_seconds=seconds,
        aligned=aligned,
        n_neighbors=int(n_neighbors),
        min_dist=float(min_dist),
    )


def _colours(classes: Sequence[int]) -> dict[int, tuple]:
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    return {c: cmap(i % cmap.N) for i, c in enumerate(classes)}


def plot_umap_snapshot(
    view: UMAPView,
    *,
    epoch: int,
    classes: Sequence[int] | None = None,
    trajectories: bool = False,
    ax=None,
    title: str | None = None,
    legend: bool = True,
):
    """One epoch of ``view``: proxies (outlined stars) under the samples (dots), ``classes`` in colour, the rest grey.

    Args:
        view: from :func:`fit_umap`.
        epoch: one of ``view.epochs``.
        classes: classes to colour (default: up to 10 of the mapped classes); the legend names them.
        trajectories: draw each coloured proxy's path through the mapped epochs up to ``epoch``.
    """
    if epoch not in view.epochs:
        raise ValueError(f"epoch {epoch} was not mapped; the view has epochs {view.epochs}")
    shown = list(view.classes[:10]) if classes is None else [int(c) for c in classes]
    bad = [c for c in shown if c not in view.classes]
    if bad:
        raise ValueError(f"classes {bad} are not in the map; it holds classes {view.classes}")
    index = view.epochs.index(epoch)
    samples, labels, proxies = view.samples[index], view.sample_labels[index], view.proxies[index]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    else:
        fig = ax.figure
    everything = np.concatenate([np.concatenate(view.samples), np.concatenate(view.proxies)])
    low, high = everything.min(axis=0), everything.max(axis=0)
    margin = 0.04 * (high - low)
    colours = _colours(shown)
    other = ~np.isin(labels, shown)
    ax.scatter(samples[other, 0], samples[other, 1], s=3, color="0.8", zorder=3, gid="others")
    other_proxies = ~np.isin(view.proxy_labels, shown)
    ax.scatter(*proxies[other_proxies].T, s=30, marker="*", facecolors="none", edgecolors="0.6", linewidths=0.6)
    for c in shown:
        own = view.proxy_labels == c
        if trajectories and index > 0:
            path = np.stack([view.proxies[e][own] for e in range(index + 1)])  # (epochs, N, 2)
            for j in range(path.shape[1]):
                ax.plot(*path[:, j].T, color=colours[c], lw=0.7, alpha=0.6, zorder=2, gid=f"trajectory {c}")
        ax.scatter(
            *proxies[own].T,
            s=90,
            marker="*",
            facecolors="none",
            edgecolors=[colours[c]],
            linewidths=1.2,
            zorder=2,
            gid=f"proxies {c}",
        )
        mine = labels == c
        ax.scatter(
            *samples[mine].T, s=10, color=colours[c], alpha=0.9, zorder=4, gid=f"samples {c}", label=f"class {c}"
        )
    if legend:
        ax.scatter([], [], s=90, marker="*", facecolors="none", edgecolors="black", label="proxy (outlined)")
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, handletextpad=0.2)
    ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
    ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        title or f"epoch {epoch}: samples (dots) and the N = {view.proxies_per_class} proxies (stars)", fontsize=8
    )
    return fig


def plot_umap_epochs(
    view: UMAPView,
    *,
    epochs: Sequence[int],
    classes: Sequence[int] | None = None,
    trajectories: bool = True,
    titles: Sequence[str] | None = None,
    title: str | None = None,
):
    """Several epochs of one run side by side, one panel per epoch, one class legend at the right.

    ``titles`` label the panels (default ``"epoch e"``); ``trajectories`` draws each proxy's path so far.
    """
    fig, axes = plt.subplots(1, len(epochs), figsize=(3.0 * len(epochs) + 1.0, 3.5), layout="constrained")
    axes = np.atleast_1d(axes)
    titles = titles or [f"epoch {e}" for e in epochs]
    for i, (ax, epoch, name) in enumerate(zip(axes, epochs, titles)):
        plot_umap_snapshot(
            view, epoch=epoch, classes=classes, trajectories=trajectories, ax=ax, title=name, legend=i == len(axes) - 1
        )
    how = "aligned UMAP per epoch" if view.aligned else "one UMAP for all epochs"
    fig.suptitle(
        title or f"{how}: samples (dots) and N = {view.proxies_per_class} proxies (outlined stars) per class",
        fontsize=9,
    )
    return fig
