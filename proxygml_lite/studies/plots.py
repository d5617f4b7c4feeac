"""A training run's history and snapshots: read a run folder, draw its losses and metrics per epoch.

:func:`plot_run_history` takes a run folder (or its ``metrics.csv`` as a
DataFrame) and returns the :class:`matplotlib.figure.Figure` it drew on, so a
notebook cell is one call and the tests check the figure without a browser.
Metrics are fractions in the package's tables and drawn in percent. The study
tables' seed-aware plots are in :mod:`proxygml_lite.lab.study_views`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..fileio import read_csv, unsafe_pickle_refusal

__all__ = [
    "read_history",
    "read_proxy_snapshots",
    "read_embedding_snapshots",
    "plot_run_history",
    "decay_epochs",
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


def _load_snapshot(path: Path) -> dict:
    """One snapshot file, read with the safe loader; anything else is one line naming the file (nothing runs)."""
    import torch  # lazily, as the readers below: importing the plots stays cheap

    fix = "delete it, or regenerate it with this package: train the run again with the snapshots on"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError
    ) as exc:  # a planted object: refused, and torch's weights_only=False advice not passed on
        raise unsafe_pickle_refusal(path, exc, fix) from None
    except Exception as exc:  # RuntimeError/EOFError for a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read {path}: {first[:200]}. It is damaged (nothing was loaded); {fix}") from None


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
    snapshots = [_load_snapshot(f) for f in files]
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
    snapshots = [_load_snapshot(f) for f in files]
    epochs = [int(snap["epoch"]) for snap in snapshots]
    parts = [snap["splits"][split] for snap in snapshots]
    return epochs, torch.stack([p["embeddings"] for p in parts]), parts[0]["labels"], parts[0]["indices"]


def _metric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("R@") or c in ("NMI", "MAP@R", "RP")]


def decay_epochs(history: pd.DataFrame, column: str = "lr_model") -> list[int]:
    """The epochs that trained with a lower learning rate than the epoch before (the first epoch of each decay step)."""
    if column not in history:
        return []
    rows = history[(history["epoch"] > 0) & history[column].notna()]
    rates, epochs = rows[column].to_numpy(dtype=float), rows["epoch"].to_numpy()
    return [int(epochs[i]) for i in range(1, len(rates)) if rates[i] < rates[i - 1]]


def plot_run_history(run, metrics=None, title: str | None = None, *, nmi_chance: float | None = None):
    """Two panels: the losses ``L^s``, ``L^p`` and ``L`` per epoch; the evaluation metrics per epoch (0 = untrained).

    Dotted vertical lines mark the learning-rate decay (:func:`decay_epochs`), the epoch axes have integer ticks.

    Args:
        run: a run folder, its ``metrics.csv``, or the DataFrame of :func:`read_history`.
        metrics: columns to draw on the right (default: every ``R@K`` and ``NMI`` present).
        title: figure title.
        nmi_chance: the NMI of clusters unrelated to the classes (a fraction,
            :func:`proxygml_lite.evaluation.chance_nmi`), drawn as a dashed line: NMI's floor.
    """
    from matplotlib.ticker import MaxNLocator

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
            style = {"linestyle": ":", "marker": None, "linewidth": 1.0} if column == "loss" else {"marker": "o"}
            axes[0].plot(trained["epoch"], trained[column], label=label, gid=column, markersize=3, **style)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("mean training loss")
    colours = {}
    for metric in metrics:
        rows = history[history[metric].notna()]
        (line,) = axes[1].plot(rows["epoch"], 100 * rows[metric], marker="o", label=metric, gid=metric, markersize=3)
        colours[metric] = line.get_color()
    if nmi_chance is not None:
        axes[1].axhline(
            100 * nmi_chance,
            color=colours.get("NMI", "0.4"),
            linestyle="--",
            linewidth=1,
            label=f"NMI of random clusters ({100 * nmi_chance:.0f}%)",
            gid="nmi_chance",
        )
    axes[1].set_xlabel("epoch (0 = untrained)")
    axes[1].set_ylabel("test classes, %")
    axes[1].set_ylim(0, 102)
    for epoch in decay_epochs(history):
        for ax in axes:
            ax.axvline(
                epoch - 0.5,
                color="0.5",
                linestyle=":",
                linewidth=1,
                gid="lr_decay",
                label=f"learning rates x 0.1 (from epoch {epoch})" if ax is axes[0] else None,
            )
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    if metrics or nmi_chance is not None:
        axes[1].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    return fig
