"""Do a class's ``N`` proxies spread over its samples or merge? Measured with cosines in the embedding space (notebook 9).

UMAP maps (:mod:`proxygml_lite.lab.umap_views`) are a picture, not a
measurement; here the same snapshots are measured in the original space, with
no UMAP involved: :func:`proxy_spread` for one epoch,
:func:`spread_over_epochs` for a run, :func:`plot_proxy_spread` to compare runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .umap_views import Snapshot, unit_rows

__all__ = ["proxy_spread", "spread_over_epochs", "plot_proxy_spread"]


def proxy_spread(snapshot: Snapshot, *, merge_cosine: float = 0.95) -> pd.DataFrame:
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


def spread_over_epochs(snapshots: Sequence[Snapshot], *, merge_cosine: float = 0.95) -> pd.DataFrame:
    """:func:`proxy_spread` of every snapshot, averaged over the classes: one row per epoch."""
    rows = []
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
            }
        )
    return pd.DataFrame(rows)


def plot_proxy_spread(tables: dict[str, pd.DataFrame], *, title: str | None = None):
    """Left: mean cosine between a class's proxies (solid) and between its samples (dashed) per epoch.
    Right: mean number of proxy groups (cosine >= the merge threshold counts as one) per epoch.

    Args:
        tables: ``{run name: spread_over_epochs(...)}``.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4), layout="constrained")
    for (name, table), colour in zip(tables.items(), plt.get_cmap("tab10").colors):
        if table["proxy cosine"].notna().any():
            axes[0].plot(
                table["epoch"],
                table["proxy cosine"],
                marker="o",
                color=colour,
                label=f"{name}: proxies",
                gid=f"{name} proxies",
            )
        axes[0].plot(
            table["epoch"],
            table["sample cosine"],
            ls="--",
            marker=".",
            color=colour,
            label=f"{name}: samples",
            gid=f"{name} samples",
        )
        axes[1].plot(table["epoch"], table["proxy groups"], marker="o", color=colour, label=name, gid=name)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("mean cosine within a class")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("distinct proxy groups per class")
    axes[1].legend(fontsize=7)
    fig.suptitle(title or "do the N proxies of a class spread or merge? (1 group = all merged)", fontsize=9)
    return fig
