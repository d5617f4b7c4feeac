"""Do a class's ``N`` proxies spread over its samples or merge? Measured with cosines in the embedding space (notebook 9).

UMAP maps (:mod:`proxygml_lite.lab.umap_views`) are a picture, not a
measurement; here the same snapshots are measured in the original space, with
no UMAP involved: :func:`proxy_spread` for one epoch,
:func:`spread_over_epochs` for a run (with how far the proxies turned from
their epoch-0 direction), :func:`spread_over_seeds` for the seeds of a run,
:func:`merge_epochs` for the epoch at which a class's proxies pass a merge
threshold, and :func:`plot_proxy_spread` to compare runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .umap_views import Snapshot, unit_rows

__all__ = [
    "MERGE_COSINE",
    "proxy_spread",
    "spread_over_epochs",
    "spread_over_seeds",
    "merge_epochs",
    "plot_proxy_spread",
]

#: Two proxies of a class closer than this cosine count as merged (one group).
MERGE_COSINE = 0.95


def proxy_spread(snapshot: Snapshot, *, merge_cosine: float = MERGE_COSINE) -> pd.DataFrame:
    """Do a class's ``N`` proxies spread over its samples or merge? Measured with cosines in the embedding space.

    For every class ``c`` with at least two samples:

    * ``proxy cosine``: mean cosine between two different proxies of ``c`` (1 = merged);
    * ``sample cosine``: mean cosine between two different samples of ``c``
      (how spread the class itself is);
    * ``proxy groups``: how many groups the proxies form when two proxies
      closer than ``merge_cosine`` count as one (connected components);
      ``N`` = all distinct, 1 = all merged;
    * ``proxies used``: how many proxies are the nearest own proxy of at least
      one sample of ``c``.

    Returns one row per class (``N = 1`` gives ``nan`` proxy cosines).
    """
    n = snapshot.proxies_per_class
    proxies = unit_rows(snapshot.proxies)
    samples = unit_rows(snapshot.embeddings)
    labels = np.asarray(snapshot.labels)
    rows = []
    for c in np.unique(labels):
        own = proxies[c * n : (c + 1) * n]
        mine = samples[labels == c]
        if len(mine) < 2:
            continue
        off = ~np.eye(n, dtype=bool)
        cos_p = own @ own.T
        cos_s = mine @ mine.T
        linked = cos_p >= merge_cosine
        groups, seen = 0, np.zeros(n, dtype=bool)
        for start in range(n):
            if seen[start]:
                continue
            groups += 1
            stack = [start]
            while stack:
                i = stack.pop()
                if seen[i]:
                    continue
                seen[i] = True
                stack.extend(np.flatnonzero(linked[i] & ~seen))
        nearest = (mine @ own.T).argmax(axis=1)
        rows.append(
            {
                "class": int(c),
                "proxy cosine": float(cos_p[off].mean()) if n > 1 else float("nan"),
                "sample cosine": float(cos_s[~np.eye(len(mine), dtype=bool)].mean()),
                "proxy groups": groups,
                "proxies used": int(len(np.unique(nearest))),
            }
        )
    return pd.DataFrame(rows)


def spread_over_epochs(snapshots: Sequence[Snapshot], *, merge_cosine: float = MERGE_COSINE) -> pd.DataFrame:
    """:func:`proxy_spread` of every snapshot, averaged over the classes: one row per epoch.

    ``proxy cosine to epoch 0`` is the mean cosine of each proxy ``p_j`` to its own direction in the first
    snapshot given (epoch 0 of a run): 1 = it has not turned, 0 = it turned by 90 degrees.
    """
    rows = []
    start = unit_rows(snapshots[0].proxies) if snapshots else None
    for snapshot in snapshots:
        table = proxy_spread(snapshot, merge_cosine=merge_cosine)
        rows.append(
            {
                "epoch": snapshot.epoch,
                "N": snapshot.proxies_per_class,
                **{
                    column: float(table[column].mean())
                    for column in ("proxy cosine", "sample cosine", "proxy groups", "proxies used")
                },
                "proxy cosine to epoch 0": float((unit_rows(snapshot.proxies) * start).sum(axis=1).mean()),
            }
        )
    return pd.DataFrame(rows)


def spread_over_seeds(runs: dict[int, Sequence[Snapshot]], *, merge_cosine: float = MERGE_COSINE) -> pd.DataFrame:
    """:func:`spread_over_epochs` of the runs ``{seed: snapshots}`` of one cell, stacked with a ``seed`` column."""
    if not runs:
        raise ValueError("runs is empty; pass {seed: read_snapshots(path)} for at least one seed")
    return pd.concat(
        [
            spread_over_epochs(snapshots, merge_cosine=merge_cosine).assign(seed=seed)
            for seed, snapshots in runs.items()
        ],
        ignore_index=True,
    )


def merge_epochs(spread: pd.DataFrame, *, threshold: float = MERGE_COSINE) -> pd.DataFrame:
    """The first saved epoch at which the mean within-class proxy cosine exceeds ``threshold``, per ``N`` and seed.

    Args:
        spread: :func:`spread_over_seeds` tables of several runs, concatenated (columns ``N``, ``seed``, ``epoch``,
            ``proxy cosine``); runs with ``N = 1`` have nothing to merge and are left out.

    Returns:
        One row per ``(N, seed)``: ``merged at epoch`` (``nan`` where it never does), ``proxy cosine then`` and the
        ``proxy cosine at the last epoch``.
    """
    rows = []
    for (n, seed), run in spread.dropna(subset=["proxy cosine"]).groupby(["N", "seed"]):
        run = run.sort_values("epoch")
        above = run[run["proxy cosine"] > threshold]
        rows.append(
            {
                "N": int(n),
                "seed": int(seed),
                "merged at epoch": float(above["epoch"].iloc[0]) if len(above) else float("nan"),
                "proxy cosine then": float(above["proxy cosine"].iloc[0]) if len(above) else float("nan"),
                "proxy cosine at the last epoch": float(run["proxy cosine"].iloc[-1]),
            }
        )
    return pd.DataFrame(rows)


def measured_title(spread: pd.DataFrame, epoch: int, *, run: str = "") -> str:
    """The cosines measured at ``epoch`` of a :func:`spread_over_epochs` table, as a plot title (no UMAP involved).

    ``"N = 12, epoch 10: proxy cos to epoch 0 0.15 | proxies of a class 0.995 | samples 0.80"``.
    """
    rows = spread[spread["epoch"] == epoch]
    if rows.empty:
        raise ValueError(f"epoch {epoch} is not in the spread table; it has epochs {list(spread['epoch'])}")
    row = rows.mean(numeric_only=True)
    within = "one proxy per class" if np.isnan(row["proxy cosine"]) else f"proxies of a class {row['proxy cosine']:.3f}"
    head = f"{run}, epoch {epoch}" if run else f"epoch {epoch}"
    return (
        f"{head}: proxy cos to epoch 0 {row['proxy cosine to epoch 0']:.2f}\n"
        f"{within} | samples {row['sample cosine']:.2f}"
    )


def _band(ax, table: pd.DataFrame, column: str, **style):
    """The mean over seeds per epoch as a line, the seeds' range as a band."""
    by_epoch = table.groupby("epoch")[column]
    mean = by_epoch.mean()
    ax.plot(mean.index, mean.to_numpy(), **style)
    if by_epoch.size().max() > 1:
        ax.fill_between(mean.index, by_epoch.min(), by_epoch.max(), color=style.get("color"), alpha=0.15, lw=0)


def plot_proxy_spread(tables: dict[str, pd.DataFrame], *, threshold: float = MERGE_COSINE, title: str | None = None):
    """Left: mean cosine between a class's proxies (solid) and between its samples (dashed) per epoch, on an axis of
    ``1 - cosine`` (log, labelled in cosines) that resolves 0.77 against 1.00, with the merge ``threshold`` drawn.
    Right: mean number of proxy groups (cosine >= the threshold counts as one) per epoch.

    Args:
        tables: ``{run name: spread_over_epochs(...) or spread_over_seeds(...)}``; with several seeds the line is
            their mean and the band their range.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2), layout="constrained")
    for (name, table), colour in zip(tables.items(), plt.get_cmap("tab10").colors):
        distance = table.assign(**{c: 1.0 - table[c] for c in ("proxy cosine", "sample cosine")})
        if table["proxy cosine"].notna().any():
            _band(
                axes[0],
                distance,
                "proxy cosine",
                marker="o",
                ms=3,
                color=colour,
                label=f"{name}: proxies",
                gid=f"{name} proxies",
            )
        _band(
            axes[0],
            distance,
            "sample cosine",
            ls="--",
            marker=".",
            color=colour,
            label=f"{name}: samples",
            gid=f"{name} samples",
        )
        _band(axes[1], table, "proxy groups", marker="o", ms=3, color=colour, label=name, gid=name)
    axes[0].axhline(1.0 - threshold, color="black", lw=0.8, ls=":", gid="threshold")
    axes[0].text(
        0.02,
        1.0 - threshold,
        f"merged: cosine > {threshold:g}",
        fontsize=7,
        va="bottom",
        transform=axes[0].get_yaxis_transform(),
    )
    axes[0].set_yscale("log")
    axes[0].invert_yaxis()
    ticks = [1.0, 0.3, 0.1, 0.05, 0.01, 1e-3, 1e-4, 1e-5, 1e-6]
    axes[0].set_yticks(ticks, [f"{1.0 - t:.6g}" for t in ticks])
    axes[0].set_ylim(1.5, min(1e-6, float(axes[0].get_ylim()[1])))
    axes[0].minorticks_off()
    axes[0].set_ylabel("mean cosine within a class\n(axis: 1 - cosine, log scale)")
    for ax in axes:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(-0.05, 55)
        ax.set_xticks([0, 1, 2, 5, 10, 20, 50], ["0", "1", "2", "5", "10", "20", "50"])
        ax.set_xlabel("epoch (symmetric log scale)")
    axes[0].legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    axes[1].legend(fontsize=6)
    axes[1].set_ylabel("distinct proxy groups per class")
    fig.suptitle(title or "do the N proxies of a class spread or merge? (1 group = all merged)", fontsize=9)
    return fig
