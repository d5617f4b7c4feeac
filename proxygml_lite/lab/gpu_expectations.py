"""Notebook 7's expectations: the paper's numbers and a public reproduction of the official code, each labelled.

* :data:`PUBLIC_REPRODUCTION` (a :class:`Reproduction`): the published log of
  one CUB-200-2011 run of the official code, by someone else;
* :func:`expectations`, :func:`plot_expected_recall`: the paper's ProxyGML-512
  row, that reproduction and a run of this code, side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Reproduction", "PUBLIC_REPRODUCTION", "expectations", "plot_expected_recall"]


@dataclass(frozen=True)
class Reproduction:
    """A published log of the official code, trained by someone else: never the paper's numbers, never this code's.

    ``recall_at_1``: finished epochs -> R@1 (percent) at the epochs the log
    evaluated; ``final``: its metrics after the last epoch (percent); the
    times are the log's medians (its GPU is not named in the log).
    """

    label: str
    source: str
    dataset: str
    settings: str
    recall_at_1: dict[int, float]
    final: dict[str, float]
    epoch_seconds: float
    warmup_epoch_seconds: float
    evaluation_seconds: float
    notes: tuple[str, ...] = field(default=())


# R@1 (%) in the fork's log after epochs 1 and 2, then 35 to 50 (the official epoch_to_test)
_FORK_RECALL_AT_1 = (59.1, 56.0)
_FORK_RECALL_AT_1 += (65.5, 65.2, 65.2, 65.3, 65.1, 65.5, 65.3, 65.3, 65.4, 65.3, 65.4, 65.4, 65.5, 65.5, 65.4, 65.2)

#: The only public reproduction of the official code found (issue 18): the fork Liurchen/ProxyGML committed the
#: logs of one CUB-200-2011 run at the official README's settings (``log_train_Base.csv``, ``log_val_Base.csv``).
PUBLIC_REPRODUCTION = Reproduction(
    label="public reproduction of the official code (a fork's log)",
    source=(
        "https://github.com/Liurchen/ProxyGML/tree/b62919c0222bc316755495b2329fda948d7b210b/Training_Results/"
        "ProxyGML_cub200"
    ),
    dataset="cub200",
    settings="the official README's CUB command: d = 512, N = 12, r = 0.05, lambda = 0.3, batch 32, 50 epochs",
    recall_at_1=dict(zip((1, 2, *range(35, 51)), _FORK_RECALL_AT_1)),
    final={"NMI": 69.1, "R@1": 65.2, "R@2": 76.0, "R@4": 84.3, "R@8": 90.5},
    epoch_seconds=27.4,
    warmup_epoch_seconds=16.0,
    evaluation_seconds=31.5,
    notes=(
        "the official warm-up: all layers train in epoch 1, the backbone is frozen in epoch 2 (its 16 s epoch)",
        "8 data-loading workers; the GPU is not named in the log",
    ),
)


def expectations(benchmark: str, run=None, *, label: str = "this run") -> pd.DataFrame:
    """What to expect on ``benchmark`` (percent): the paper's ProxyGML-512 row, the public reproduction, a run.

    Each column says whose numbers it holds; the reproduction exists for
    CUB-200-2011 only (elsewhere its column says so). ``run``: a run folder
    whose final metrics fill the ``label`` column (left out when ``None``).
    """
    from ..data.specs import canonical_benchmark
    from .run_findings import results_beside_paper

    name = canonical_benchmark(benchmark)
    table = results_beside_paper({name: run}, label=label)
    reproduction = PUBLIC_REPRODUCTION
    column = f"{reproduction.label}, epoch 50"
    if name == reproduction.dataset:
        table[column] = [reproduction.final.get(metric) for metric in table["metric"]]
    else:
        table[column] = "none found"
    if run is None:
        table = table.drop(columns=label)
    return table


def plot_expected_recall(benchmark: str, history: pd.DataFrame | None = None, *, label: str = "this run"):
    """R@1 against the epoch: the paper's final value (a line), the reproduction's log (CUB), and a run's history.

    ``history``: a run's ``metrics.csv`` (:func:`proxygml_lite.studies.plots.read_history`), R@1 as fractions.
    """
    import matplotlib.pyplot as plt

    from ..data.specs import SPECS, canonical_benchmark
    from ..studies.paper import SOURCE, paper_comparison

    name = canonical_benchmark(benchmark)
    paper = paper_comparison()
    paper = paper[
        (paper["method"] == "ProxyGML")
        & (paper["embedding_dim"] == 512)
        & (paper["dataset_id"] == name)
        & (paper["metric"] == "R@1")
    ]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    if not paper.empty:
        value = float(paper["value"].iloc[0])
        ax.axhline(value, color="black", linestyle="--", linewidth=1, label=f"{SOURCE}: {value:.1f} (final)")
    if name == PUBLIC_REPRODUCTION.dataset:
        epochs, values = zip(*sorted(PUBLIC_REPRODUCTION.recall_at_1.items()))
        ax.plot(epochs, values, "o", color="#dd8452", markersize=4, label=PUBLIC_REPRODUCTION.label)
    if history is not None and "R@1" in history:
        rows = history.dropna(subset=["R@1"])
        ax.plot(rows["epoch"], 100 * rows["R@1"], "s-", color="#4c72b0", markersize=4, label=label)
    ax.set_xlabel("finished epochs")
    ax.set_ylabel("R@1 (%) on the unseen test classes")
    ax.set_xlim(-1, 51)
    ax.set_title(f"What to expect on {SPECS[name].title}", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
