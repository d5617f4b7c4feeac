"""Why do a class's proxies merge? The one-variable probes of ablation row 8, read from the committed tables (notebook 9).

``probes.csv`` holds one row per probe and seed (R@1, NMI and the proxy
geometry at the end); ``probe_epochs.csv`` holds the within-class proxy
cosine (the mean cosine between two proxies ``p_j``, ``p_k`` of one class)
after every kept epoch. Each probe changes one variable of its ``base``
(its ``change`` column says which). The merging probes are the four changes of
row 8 (``N = 12``, ``r = 0.05``, ``λ = 0.3``) named in :data:`MERGING_PROBES`.

* :func:`merging_curves`: the cosine per probe and epoch, mean and range over the seeds;
* :func:`plot_merging_curves`: those curves, with the merge threshold;
* :func:`merging_comparisons`: R@1 of each probe against row 8 (Welch, Holm across the four);
* :func:`merging_findings`: the mechanism the numbers support, as Markdown written from the tables;
* :func:`unmerged_elsewhere`: the other probes of ``probes.csv`` (notebook 10's, more than one change from
  row 8) whose proxies of a class stay apart, and what else happens in them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import statistics
from . import study_tables
from .proxy_spread_views import MERGE_COSINE

__all__ = [
    "BASE",
    "MERGING_PROBES",
    "COSINE",
    "merging_curves",
    "plot_merging_curves",
    "merging_comparisons",
    "merging_findings",
    "unmerged_elsewhere",
]

#: The probe every merging probe changes one variable of: ablation row 8 (grid N = 12, r = 0.05).
BASE = "row8"
#: The four one-variable probes of :data:`BASE` (their ``change`` column in ``probes.csv`` says what each changes).
MERGING_PROBES = ("row8_unit_init", "row8_proxy_lr_div10", "row8_proxy_sgd", "row7")
#: The column of ``probe_epochs.csv`` (and ``probes.csv``) with the mean within-class proxy cosine.
COSINE = "proxy cos within"


def _check(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the {name} table lacks the column(s) {missing}; read results/<preset>/{name}.csv")


def merging_curves(epochs: pd.DataFrame, probes: Sequence[str] = (BASE, *MERGING_PROBES)) -> pd.DataFrame:
    """The within-class proxy cosine per probe and epoch over the seeds of ``probe_epochs.csv``.

    Returns:
        One row per ``(probe, epoch)`` in the order of ``probes``: ``seeds``, ``mean``, ``min`` and ``max``.
    """
    _check(epochs, ["probe", "seed", "epoch", COSINE], "probe_epochs")
    absent = [p for p in probes if p not in set(epochs["probe"])]
    if absent:
        raise ValueError(f"no probe {absent} in probe_epochs.csv; it has {sorted(set(epochs['probe']))}")
    chosen = epochs[epochs["probe"].isin(probes)]
    out = chosen.groupby(["probe", "epoch"])[COSINE].agg(seeds="count", mean="mean", min="min", max="max")
    out = out.reset_index()
    out["probe"] = pd.Categorical(out["probe"], categories=list(probes), ordered=True)
    return out.sort_values(["probe", "epoch"]).reset_index(drop=True).astype({"probe": str})


def _labels(table: pd.DataFrame) -> dict[str, str]:
    """``{probe: "probe: its change"}`` from ``probes.csv`` (the change up to its first parenthesis)."""
    return {p: f"{p}: {c.split(' (')[0]}" for p, c in table.groupby("probe", sort=False)["change"].first().items()}


def plot_merging_curves(
    epochs: pd.DataFrame,
    table: pd.DataFrame,
    probes: Sequence[str] = (BASE, *MERGING_PROBES),
    *,
    threshold: float = MERGE_COSINE,
):
    """Within-class proxy cosine against the epoch for each probe: the mean over seeds, the seeds' range as a band.

    Args:
        epochs: ``probe_epochs.csv``; table: ``probes.csv`` (for each probe's ``change``).
        threshold: drawn as the merge line (cosine above it: merged).
    """
    curves = merging_curves(epochs, probes)
    labels = _labels(table)
    fig, ax = plt.subplots(figsize=(7.0, 5.0), layout="constrained")
    for (probe, curve), colour in zip(curves.groupby("probe", sort=False), plt.get_cmap("tab10").colors):
        seeds = int(curve["seeds"].min())
        name = labels.get(probe, probe)
        ax.plot(curve["epoch"], curve["mean"], marker=".", color=colour, label=f"{name} ({seeds} seeds)", gid=probe)
        ax.fill_between(curve["epoch"], curve["min"], curve["max"], color=colour, alpha=0.2, lw=0)
    ax.axhline(threshold, color="black", lw=0.8, ls=":", gid="threshold")
    ax.text(
        0.02, threshold, f"merged: cosine > {threshold:g}", fontsize=7, va="bottom", transform=ax.get_yaxis_transform()
    )
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(-0.05, 55)
    ax.set_xticks([0, 1, 2, 5, 10, 20, 50], ["0", "1", "2", "5", "10", "20", "50"])
    ax.set_xlabel("epoch (symmetric log scale)")
    ax.set_ylabel("mean within-class proxy cosine")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1, frameon=False)
    ax.set_title("do the one-variable changes of row 8 stop a class's proxies from merging? (band: seeds' range)")
    ax.title.set_fontsize(9)
    return fig


def merging_comparisons(
    table: pd.DataFrame, probes: Sequence[str] = MERGING_PROBES, *, metric: str = "R@1"
) -> pd.DataFrame:
    """``metric`` of each probe against :data:`BASE`: Welch difference, 95% CI, Holm-corrected p across ``probes``."""
    return study_tables.study_comparisons(table, "probes", metric=metric, pairs=[(p, BASE) for p in probes])


def merging_findings(
    epochs: pd.DataFrame,
    comparisons: pd.DataFrame,
    probes: Sequence[str] = MERGING_PROBES,
    *,
    threshold: float = MERGE_COSINE,
) -> str:
    """The mechanism the probes support, as Markdown: every number is read from ``epochs`` and ``comparisons``.

    Args:
        epochs: ``probe_epochs.csv``; comparisons: :func:`merging_comparisons`.
    """
    curves = merging_curves(epochs, (BASE, *probes))
    first, last = curves["epoch"][curves["epoch"] > 0].min(), curves["epoch"].max()
    at = {e: curves[curves["epoch"] == e].set_index("probe") for e in (first, last)}
    crossing = {
        p: c.loc[c["mean"] > threshold, "epoch"].min() for p, c in curves.groupby("probe", sort=False)
    }  # nan: never above the threshold
    held = [p for p in probes if np.isnan(crossing[p]) or at[last].loc[p, "min"] <= threshold]
    seeds = int(curves["seeds"].min())

    def cross(p):
        return "never" if np.isnan(crossing[p]) else f"at epoch {int(crossing[p])}"

    lines = []
    if held:
        lines.append(
            f"**Some changes keep the proxies apart**: {', '.join(held)} stay(s) at or below the merge cosine "
            f"{threshold:g} in at least one seed at epoch {last}."
        )
    else:
        lines.append(
            f"**None of the {len(probes)} one-variable changes prevents merging.** At epoch {last} every probe's "
            f"within-class proxy cosine is at least {min(at[last].loc[p, 'min'] for p in probes):.3f} in every seed "
            f"(at least {seeds} seeds per probe; {BASE}: mean {at[last].loc[BASE, 'mean']:.4f})."
        )
    order = sorted(probes, key=lambda p: at[first].loc[p, "mean"])
    latest = max(probes, key=lambda p: np.inf if np.isnan(crossing[p]) else crossing[p])
    lines.append(
        f"They change **how fast** the proxies merge. The mean cosine after epoch {first} is "
        f"{at[first].loc[BASE, 'mean']:.2f} for {BASE} and "
        + ", ".join(f"{at[first].loc[p, 'mean']:.2f} for {p}" for p in order)
        + f"; the mean passes {threshold:g} {cross(BASE)} for {BASE} and "
        + ", ".join(f"{cross(p)} for {p}" for p in order)
        + f". {order[0]} slows the first epoch most; {latest} passes the threshold last."
    )
    comparisons = comparisons.reset_index(drop=True)
    claims = comparisons[comparisons["p (Holm)"] < statistics.ALPHA]
    lines.append(
        "R@1 against row 8 (Welch, Holm across these "
        f"{len(comparisons)} comparisons): " + "; ".join(comparisons["verdict"]) + "."
    )
    lines.append(
        "So the optimiser's first steps (the proxies' small initial norm, their learning rate, Adam) and L^p set "
        "the pace, but with each of them changed alone the proxies of a class still end as one point: "
        "the measurements do not point at any one of these four as the cause of merging"
        + ("." if claims.empty else f", while R@1 differs for {', '.join(claims['A'])} (the verdicts above).")
    )
    return "\n\n".join(lines)


def unmerged_elsewhere(probes: pd.DataFrame, *, threshold: float = MERGE_COSINE) -> str:
    """The probes outside :data:`MERGING_PROBES` (and :data:`BASE`) whose mean within-class proxy cosine ends at or
    below ``threshold``, with their between-class cosine and R@1, as Markdown; each changes more than one variable
    of row 8, so none of them is a one-variable answer. Probes with one proxy per class (no within-class cosine)
    are left out."""
    one_proxy = probes.groupby("probe")[COSINE].transform(lambda c: c.isna().all())  # N = 1: no two of a class
    summary = study_tables.summarize_seeds(
        probes[~one_proxy], by=["probe"], metrics=["R@1", COSINE, "proxy cos between"]
    ).set_index("probe")
    others = summary.drop(index=[BASE, *MERGING_PROBES], errors="ignore")
    apart = others[others[f"{COSINE} mean"] <= threshold]
    if apart.empty:
        return (
            f"In the {len(others)} other probes of `probes.csv` with several proxies per class (notebook 10's), "
            "too, the proxies of a class end "
            f"above the merge cosine {threshold:g} (mean over the seeds)."
        )
    described = [
        f"`{name}` (within-class cosine {row[f'{COSINE} mean']:.3f}, lowest seed {min(row[f'{COSINE} per seed']):.3f}; "
        f"between-class cosine {row['proxy cos between mean']:.3f}; R@1 {100 * row['R@1 mean']:.1f}%)"
        for name, row in apart.iterrows()
    ]
    return (
        f"Of the {len(others)} other probes of `probes.csv` with several proxies per class (notebook 10's; each "
        "is more than one change away from "
        f"{BASE}), {len(apart)} {'ends' if len(apart) == 1 else 'end'} with the proxies of a class at or below the merge cosine {threshold:g}: "
        + "; ".join(described)
        + ". Compare the between-class cosine with the within-class one: where both are high, the proxies of "
        "different classes have come together as well, and R@1 shows what that costs."
    )
