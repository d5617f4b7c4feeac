"""Plots of training runs and studies: what the training notebooks draw.

Every function takes what the package returns (a run folder or its
``metrics.csv`` as a DataFrame, the DataFrames of
:mod:`proxygml_lite.studies` and :mod:`proxygml_lite.studies.efficiency`) and returns
the :class:`matplotlib.figure.Figure` it drew on, so a notebook cell is one
call and the tests check the figures without a browser. Metrics are fractions
in the package's tables and drawn in percent; the paper's numbers, where
shown, are labelled as the paper's.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..fileio import read_csv

__all__ = [
    "read_history",
    "read_proxy_snapshots",
    "read_embedding_snapshots",
    "plot_run_history",
    "plot_parameter_study",
    "plot_ablation",
    "plot_loss_cost",
]


def read_history(run: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The per-epoch table ``metrics.csv`` of a run folder (a DataFrame is returned as it is).

    Row ``epoch == 0`` is the untrained model (metrics only); rows ``1..E``
    hold ``loss_s`` (``L^s``), ``loss_p`` (``L^p``), ``loss``, the learning
    rates, times and, where evaluated, ``R@K`` / ``NMI``.
    """
    if isinstance(run, pd.DataFrame):
        return run
    path = Path(run)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"no metrics.csv at {path}; pass the --out folder of a run (python -m proxygml_lite.train --out DIR)"
        )
    return read_csv(path)


def read_proxy_snapshots(run: str | os.PathLike, parameter: str | None = None):
    """The loss parameters a run kept after every epoch (``--save-proxies``), stacked.

    Args:
        run: a run folder trained with ``save_proxies=True``.
        parameter: which loss parameter (default: the only one, or
            ``"proxies"``: ProxyGML's ``P``, rows ``c*N .. c*N+N-1`` of class ``c``).

    Returns:
        ``(epochs, values)``: the finished-epoch counts (0 = before training)
        and a float32 tensor ``[len(epochs), *shape]``.
    """
    import torch

    folder = Path(run) / "proxies"
    files = sorted(folder.glob("epoch_*.pt"))
    if not files:
        raise FileNotFoundError(
            f"no proxy snapshots in {folder}; train with save_proxies=True (--save-proxies) to keep them"
        )
    snapshots = [torch.load(f, map_location="cpu", weights_only=True) for f in files]
    names = list(snapshots[0]["parameters"])
    if parameter is None:
        parameter = names[0] if len(names) == 1 else "proxies"
    if parameter not in names:
        raise ValueError(f"the loss has no parameter {parameter!r}; it has {names}")
    epochs = [int(s["epoch"]) for s in snapshots]
    return epochs, torch.stack([s["parameters"][parameter] for s in snapshots])


def read_embedding_snapshots(run: str | os.PathLike, split: str = "train"):
    """The sample embeddings a run kept after every epoch (``--save-embeddings``), stacked.

    Args:
        run: a run folder trained with ``save_embeddings=True``.
        split: ``"train"`` (samples of the training classes, the classes of
            the proxies) or ``"test"`` (the unseen classes).

    Returns:
        ``(epochs, embeddings, labels, indices)``: the finished-epoch counts
        (0 = before training), a float32 tensor ``[len(epochs), n, d]`` (the
        same ``n`` samples at every epoch), their labels ``[n]`` (training
        labels ``c`` in ``0..C-1`` own the proxy rows ``c*N .. c*N+N-1`` of
        :func:`read_proxy_snapshots`) and their row indices in the split.
    """
    import torch

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    folder = Path(run) / "embeddings"
    files = sorted(folder.glob("epoch_*.pt"))
    if not files:
        raise FileNotFoundError(
            f"no embedding snapshots in {folder}; train with save_embeddings=True (--save-embeddings) to keep them"
        )
    snapshots = [torch.load(f, map_location="cpu", weights_only=True) for f in files]
    epochs = [int(snap["epoch"]) for snap in snapshots]
    parts = [snap["splits"][split] for snap in snapshots]
    return epochs, torch.stack([p["embeddings"] for p in parts]), parts[0]["labels"], parts[0]["indices"]


def _metric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("R@") or c in ("NMI", "MAP@R", "RP")]


def plot_run_history(run, metrics=None, title: str | None = None):
    """Two panels: the losses ``L^s``, ``L^p`` and ``L`` per epoch; the evaluation metrics per epoch (0 = untrained).

    Args:
        run: a run folder, its ``metrics.csv``, or the DataFrame of :func:`read_history`.
        metrics: columns to draw on the right (default: every ``R@K`` and ``NMI`` present).
        title: figure title.
    """
    history = read_history(run)
    if "epoch" not in history.columns:
        raise ValueError("the table has no 'epoch' column; pass a run folder or the DataFrame of read_history")
    metrics = list(metrics) if metrics is not None else _metric_columns(history)
    missing = [m for m in metrics if m not in history.columns]
    if missing:
        raise ValueError(f"metric(s) {missing} not in this run; it has {_metric_columns(history)}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    trained = history[history["epoch"] > 0]
    for column, label in (
        ("loss_s", "$\\mathcal{L}^s$"),
        ("loss_p", "$\\mathcal{L}^p$"),
        ("loss", "total $\\mathcal{L}$"),
    ):
        if column in trained and trained[column].notna().any():
            axes[0].plot(trained["epoch"], trained[column], marker="o", label=label, gid=column)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("mean training loss")
    axes[0].legend(fontsize=8)
    for metric in metrics:
        rows = history[history[metric].notna()]
        axes[1].plot(rows["epoch"], 100 * rows[metric], marker="o", label=metric, gid=metric)
    axes[1].set_xlabel("epoch (0 = untrained)")
    axes[1].set_ylabel("test classes, %")
    axes[1].set_ylim(0, 102)
    if metrics:
        axes[1].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


def plot_parameter_study(table: pd.DataFrame, metric: str = "R@1", x: str = "N", ax=None, title: str | None = None):
    """The N x r study as in the paper's figure: ``metric`` against ``N`` (or ``r``), one line per ``r`` (or ``N``).

    Args:
        table: the DataFrame of :func:`~proxygml_lite.studies.run_parameter_study`.
        metric: a metric column (``"R@1"``, ``"NMI"``, ...).
        x: ``"N"`` (one line per ``r``) or ``"r"`` (one line per ``N``).
    """
    if x not in ("N", "r"):
        raise ValueError(f"x must be 'N' or 'r'; got {x!r}")
    for column in ("N", "r", metric):
        if column not in table.columns:
            raise ValueError(
                f"the table has no {column!r} column; pass the DataFrame of run_parameter_study "
                f"(metrics there: {_metric_columns(table)})"
            )
    lines = "r" if x == "N" else "N"
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    else:
        fig = ax.figure
    for value, group in table.sort_values(x).groupby(lines, sort=True):
        ax.plot(group[x], 100 * group[metric], marker="o", label=f"{lines} = {value:g}", gid=f"{lines}={value:g}")
    ax.set_xlabel("N (proxies per class)" if x == "N" else "r (subgraph scale, k = ceil(r C N))")
    ax.set_ylabel(f"{metric}, %")
    ax.set_xticks(sorted(table[x].unique()))
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric} on the test classes against {x}", fontsize=10)
    return fig


def plot_ablation(table: pd.DataFrame, metric: str = "R@1", paper: bool = True, ax=None, title: str | None = None):
    """Bars per ablation row (``S^pos``/``M``/``L^p`` on or off): this code's ``metric`` beside the paper's.

    Args:
        table: the DataFrame of :func:`~proxygml_lite.studies.run_ablation` (metrics as fractions).
        metric: ``"R@1"`` or ``"NMI"`` (the metrics of the paper's table; others only without ``paper``).
        paper: also draw the paper's published value of each row (hatched, labelled as the paper's).
    """
    for column in ("row", "S^pos", "M", "L^p", metric):
        if column not in table.columns:
            raise ValueError(f"the table has no {column!r} column; pass the DataFrame of run_ablation")
    if paper and metric not in ("R@1", "NMI"):
        raise ValueError(f"the paper's ablation reports R@1 and NMI only; got metric={metric!r} (or pass paper=False)")
    table = table.sort_values("row")
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(table) + 2), 3.8), layout="constrained")
    else:
        fig = ax.figure
    positions = np.arange(len(table))
    width = 0.4 if paper else 0.7
    ours = 100 * table[metric].to_numpy(dtype=float)
    ax.bar(positions - (width / 2 if paper else 0), ours, width, color="tab:blue", label="this code", gid="ours")
    for x, value in zip(positions, ours):
        ax.text(x - (width / 2 if paper else 0), value + 1, f"{value:.1f}", ha="center", fontsize=7)
    if paper:
        from .paper import paper_ablation

        published = paper_ablation().set_index("row")[metric]
        values = table["row"].map(published).to_numpy(dtype=float)
        ax.bar(
            positions + width / 2,
            values,
            width,
            color="white",
            edgecolor="0.3",
            hatch="//",
            label="paper (Zhu et al., NeurIPS 2020)",
            gid="paper",
        )
    mark = {True: "✓", False: "×"}
    labels = [
        f"{row}\n{mark[bool(s_pos)]} {mark[bool(mask)]} {mark[bool(l_p)]}"
        for row, s_pos, mask, l_p in zip(table["row"], table["S^pos"], table["M"], table["L^p"])
    ]
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_xlabel("row; S$^{pos}$ M $\\mathcal{L}^p$ (✓ on, × off)")
    ax.set_ylabel(f"{metric}, %")
    ax.set_ylim(0, 120)
    ax.legend(fontsize=8, loc="upper center", ncols=2)
    ax.set_title(title or f"ablation of the three modules: {metric}", fontsize=10)
    return fig


def plot_loss_cost(table: pd.DataFrame, value: str = "time_ms", ax=None, title: str | None = None):
    """``value`` (default the median forward+backward time) of each loss layer against ``C``, log-log.

    Args:
        table: the DataFrame of :func:`~proxygml_lite.studies.efficiency.measure_loss_cost`.
        value: ``"time_ms"``, ``"saved_tensors_mb"`` or ``"peak_memory_mb"`` (CUDA only).
    """
    for column in ("loss", "num_classes", value):
        if column not in table.columns:
            raise ValueError(f"the table has no {column!r} column; pass the DataFrame of measure_loss_cost")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    else:
        fig = ax.figure
    for name, group in table.groupby("loss", sort=False):
        group = group.sort_values("num_classes")
        ax.plot(group["num_classes"], group[value], marker="o", label=name, gid=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of classes C")
    ax.set_ylabel(
        {
            "time_ms": "forward+backward, ms",
            "saved_tensors_mb": "saved for backward, MB",
            "peak_memory_mb": "peak memory, MB",
        }.get(value, value)
    )
    ax.legend(fontsize=8)
    ax.set_title(title or "cost of the loss layer", fontsize=10)
    return fig
