"""Notebook 10: the ablation's seed outliers and claims, and the probes of rows 2 and 7, written by the data.

``results/<preset>/probes.csv`` holds one row per (``probe``, ``seed``); each
probe changes one setting of its ``base`` probe
(:data:`proxygml_lite.studies.design.PROBES`, the ``change`` column says
which), and every probe is compared with its base only: Welch's t-test over
the seeds, Holm-corrected across the probe comparisons
(:func:`~proxygml_lite.lab.study_tables.study_comparisons`), for R@1 and for
the final between-class proxy cosine. ``probe_epochs.csv`` holds the proxies'
geometry after every epoch: the mean cosine of two proxies of one class
(``proxy cos within``, undefined for ``N = 1``), of two proxies of different
classes (``proxy cos between``) and the mean proxy norm. A difference is
claimed only where the corrected p < 0.05; nothing here is typed from a run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import statistics
from ..fileio import read_csv
from .findings import markdown_table, mean_std_text, seed_counts_text
from .study_tables import ablation_claims, committed_results_dir, study_comparisons, summarize_seeds

__all__ = [
    "EPOCH_COLUMNS",
    "read_probe_epochs",
    "ablation_seed_outliers",
    "ablation_claims_summary",
    "ablation_probe_pairs",
    "ablation_probe_comparisons",
    "ablation_probe_findings",
    "one_proxy_verdict",
    "plot_ablation_probe_epochs",
]

#: The columns of ``probe_epochs.csv`` that notebook 10 reads.
EPOCH_COLUMNS = ("probe", "seed", "epoch", "proxy cos within", "proxy cos between", "proxy norm")
_BETWEEN = "proxy cos between"


def read_probe_epochs(preset: str = "glyphs_hard", *, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """``probe_epochs.csv`` (committed for ``preset``, or the file / folder ``path``), its columns checked.

    A missing file or column, an empty ``probe`` or a ``seed``/``epoch`` that is
    not a whole number is one ValueError (FileNotFoundError) naming the file.
    """
    file = Path(path) if path is not None else committed_results_dir(preset) / "probe_epochs.csv"
    if file.is_dir():
        file = file / "probe_epochs.csv"
    if not file.is_file():
        raise FileNotFoundError(f"no probe_epochs.csv at {file}; restore it (git checkout) or make the probes study")
    table = read_csv(file)
    missing = [c for c in EPOCH_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{file} lacks the column(s) {missing}; restore it (git checkout) or make the probes study")
    for column in ("seed", "epoch"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | (values % 1 != 0) | (values < 0)
        if bad.any():
            index = int(np.flatnonzero(bad.to_numpy())[0])
            value = table[column].iloc[index]
            value = value.item() if isinstance(value, np.generic) else value
            raise ValueError(
                f"line {index + 2} of {file} has {column} {value!r}, not a whole number; restore it (git checkout)"
            )
        table[column] = values.astype(int)
    if (table["probe"].isna() | (table["probe"].astype(str).str.strip() == "")).any():
        raise ValueError(f"{file} has a row without a probe name; restore it (git checkout)")
    return table


def ablation_seed_outliers(table: pd.DataFrame, *, metric: str = "R@1", gap: float = 0.05) -> str:
    """Each ablation row's seed farthest from the row's median, named where it lies more than ``gap`` from it.

    ``gap`` is a fraction (0.05 = 5 points). The median of the row's seeds is
    the reference, as the outlier cannot pull it as it pulls the mean. Returns
    one Markdown paragraph: the named seeds, each row's mean with and without
    the seed, and the farthest seed of the other rows.
    """
    found, others = [], []
    for row, cells in table.sort_values("seed").groupby("row", sort=True):
        values = cells[metric].to_numpy(dtype=float)
        median = float(np.median(values))
        far = int(np.argmax(np.abs(values - median)))
        entry = (
            abs(values[far] - median),
            int(row),
            int(cells["seed"].iloc[far]),
            values[far],
            median,
            values.mean(),
            np.delete(values, far).mean(),
        )
        (found if entry[0] > gap else others).append(entry)
    head = (
        f"The seed of each row farthest from the row's median {metric}, named where it lies more than "
        f"{100 * gap:g} points away: "
    )
    listed = "; ".join(
        f"row {row} seed {seed} ({100 * value:.1f} against the median {100 * median:.1f}; the row's mean is "
        f"{100 * mean:.1f} with it and {100 * without:.1f} without it)"
        for _, row, seed, value, median, mean, without in found
    )
    tail = ""
    if others:
        size, row, seed, *_ = max(others)
        where = "the other rows" if found else "every row"
        tail = f" In {where} the farthest seed lies {100 * size:.1f} points or less from the median (row {row} seed {seed})."
    return head + (listed or "none") + "." + tail


def ablation_claims_summary(table: pd.DataFrame) -> str:
    """One paragraph: which of the paper's ablation claims hold here, which are reversed, which cannot be told apart."""
    claims = ablation_claims(table)
    seeds = seed_counts_text(summarize_seeds(table, by=["row"]))
    groups = {verdict: claims.loc[claims["here"] == verdict, "claim"].tolist() for verdict in claims["here"].unique()}
    held, reversed_ = groups.get("holds", []), groups.get("reversed", [])
    undecided = groups.get("cannot tell apart", [])
    parts = [
        f"Of the paper's {len(claims)} claims, {len(held)} reproduce here" + (f": {'; '.join(held)}." if held else ".")
    ]
    if reversed_ or undecided:
        parts.append(f"**{len(reversed_) + len(undecided)} do not reproduce.**")
    if reversed_:
        parts.append(f"Reversed here (the opposite order, Holm p < 0.05): {'; '.join(reversed_)}.")
    if undecided:
        parts.append(f"Cannot be told apart with {seeds} (neither shown nor refuted): {'; '.join(undecided)}.")
    return " ".join(parts)


def ablation_probe_pairs(probes: pd.DataFrame) -> list[tuple[str, str]]:
    """``[(probe, base), ...]`` in the table's order: every probe with its ``base`` (the root probe has none)."""
    first = probes.drop_duplicates("probe")
    names = set(first["probe"])
    pairs = []
    for probe, base in zip(first["probe"], first["base"]):
        if pd.isna(base) or str(base).strip() == "":
            continue
        if base not in names:
            raise ValueError(f"probe {probe}'s base {base!r} is not in the table; restore probes.csv (git checkout)")
        pairs.append((str(probe), str(base)))
    return pairs


def ablation_probe_comparisons(probes: pd.DataFrame) -> pd.DataFrame:
    """Each probe against its base: R@1 and the final between-class proxy cosine, each Holm-corrected across the pairs.

    Returns one row per probe: ``probe``, ``base``, ``change``, then for R@1
    (in fractions) and for ``proxy cos between`` the means, ``difference``
    (probe - base), Welch's ``CI low``/``CI high`` and ``p (Holm)``
    (:func:`proxygml_lite.statistics.compare_cells`), and R@1's ``verdict``.
    """
    pairs = ablation_probe_pairs(probes)
    change = probes.drop_duplicates("probe").set_index("probe")["change"]
    r1 = study_comparisons(probes, "probes", pairs=pairs)
    between = statistics.compare_cells(probes, by=["probe"], metric=_BETWEEN, pairs=pairs, percent=False)
    frame = pd.DataFrame({"probe": [a for a, _ in pairs], "base": [b for _, b in pairs]})
    frame["change"] = [change[a] for a, _ in pairs]
    for name, part in (("R@1", r1), ("between", between)):
        for column in ("mean A", "mean B", "difference", "CI low", "CI high", "p (Holm)"):
            frame[f"{name} {column}"] = part[column].to_numpy()
    frame["R@1 verdict"] = r1["verdict"].to_numpy()
    return frame


def _bold(text: str, p: float) -> str:
    return f"**{text}**" if p < statistics.ALPHA else text


def ablation_probe_findings(probes: pd.DataFrame, epochs: pd.DataFrame | None = None) -> str:
    """The probes, each against its base, as Markdown: the table, what the tests separate, the probes that end lower.

    With ``epochs`` (:func:`read_probe_epochs`), also the peak of each probe's between-class proxy cosine.
    """
    compared = ablation_probe_comparisons(probes)
    summary = summarize_seeds(probes, by=["probe"], metrics=["R@1", _BETWEEN, "proxy norm"]).set_index("probe")
    seeds = seed_counts_text(summary)
    pairs = len(compared)
    rows = []
    for _, c in compared.iterrows():
        a, b = summary.loc[c["probe"]], summary.loc[c["base"]]
        rows.append(
            {
                "probe": f"`{c['probe']}`",
                "base": f"`{c['base']}`",
                "the one change": c["change"],
                "R@1 probe": mean_std_text(a["R@1 mean"], a["R@1 std"]),
                "R@1 base": mean_std_text(b["R@1 mean"], b["R@1 std"]),
                "R@1 difference (95% CI)": _bold(
                    f"{100 * c['R@1 difference']:+.1f} ({100 * c['R@1 CI low']:+.1f} to {100 * c['R@1 CI high']:+.1f})",
                    c["R@1 p (Holm)"],
                ),
                "Holm p": f"{c['R@1 p (Holm)']:.2g}",
                "between-class cos probe / base": f"{a[f'{_BETWEEN} mean']:.3f} / {b[f'{_BETWEEN} mean']:.3f}",
                "difference (95% CI)": _bold(
                    f"{c['between difference']:+.3f} ({c['between CI low']:+.3f} to {c['between CI high']:+.3f})",
                    c["between p (Holm)"],
                ),
                "Holm p ": f"{c['between p (Holm)']:.2g}",
            }
        )
    separated = compared[compared["R@1 p (Holm)"] < statistics.ALPHA]
    parts = [
        f"Each probe changes one setting of its base probe and is compared with that base only: Welch's t-test over "
        f"{seeds}, Holm-corrected across the {pairs} probe comparisons, once for R@1 (%) and once for the mean "
        f"cosine between proxies of different classes after the last epoch (`study_tables.study_comparisons`, "
        f"`statistics.compare_cells`). **Bold**: the corrected p < 0.05.",
        markdown_table(pd.DataFrame(rows)),
    ]
    if separated.empty:
        parts.append(f"R@1: no probe can be told apart from its base with {seeds}.")
    else:
        parts.append(
            f"R@1: the tests separate {len(separated)} of the {pairs} probes from their base: "
            + "; ".join(separated["R@1 verdict"])
            + f". The other {pairs - len(separated)} cannot be told apart from their base with {seeds}."
        )
    for _, c in separated[separated["R@1 difference"] < 0].iterrows():
        a, b = summary.loc[c["probe"]], summary.loc[c["base"]]
        parts.append(
            f"`{c['probe']}` ({c['change']}) ends below `{c['base']}`: R@1 "
            f"{' '.join(f'{100 * v:.1f}' for v in a['R@1 per seed'])} over its seeds. Its proxies of different "
            f"classes end with a mean cosine of {a[f'{_BETWEEN} mean']:.3f} (`{c['base']}`: {b[f'{_BETWEEN} mean']:.3f}) "
            f"and a mean norm of {a['proxy norm mean']:.3f} ({b['proxy norm mean']:.3f}). These are measurements; "
            "the probes do not say which of them causes the other."
        )
    between = compared[compared["between p (Holm)"] < statistics.ALPHA]
    parts.append(
        f"Between-class proxy cosine: the tests separate {len(between)} of the {pairs} probes from their base"
        + (
            ": "
            + "; ".join(
                f"`{c['probe']}` {'higher' if c['between difference'] > 0 else 'lower'} than `{c['base']}` "
                f"by {abs(c['between difference']):.3f}"
                for _, c in between.iterrows()
            )
            if len(between)
            else ""
        )
        + f"; the others cannot be told apart with {seeds}."
    )
    if epochs is not None:
        means = epochs.groupby(["probe", "epoch"], sort=False)[_BETWEEN].mean().reset_index()
        peaks = means.loc[means.groupby("probe", sort=False)[_BETWEEN].idxmax()]
        last = means.loc[means.groupby("probe", sort=False)["epoch"].idxmax()].set_index("probe")[_BETWEEN]
        parts.append(
            "Over the epochs (`probe_epochs.csv`, mean over the seeds), the between-class proxy cosine peaks at "
            + "; ".join(
                f"`{p}` {v:.2f} (epoch {int(e)}, last {last[p]:.2f})"
                for p, e, v in zip(peaks["probe"], peaks["epoch"], peaks[_BETWEEN])
            )
            + "."
        )
    return "\n\n".join(parts)


def one_proxy_verdict(probes: pd.DataFrame) -> str:
    """Notebook 10's hypothesis (the ``N``-fold own-class vote lets ``L^s`` fall while the classes stay together)
    predicts that one proxy per class ends *above* its base: the probes whose change is ``N = 1``, as Markdown.

    Each ``N = 1`` probe is read from :func:`ablation_probe_comparisons` (Holm across all probe comparisons): above
    its base (as predicted), below it (against the prediction), or not separated (neither). ``k`` follows ``N``
    at a fixed ``r``, so the verdict is on ``N`` and ``k`` together.
    """
    compared = ablation_probe_comparisons(probes)
    one_proxy = compared[compared["change"].astype(str).str.startswith("N = 1")]
    if one_proxy.empty:
        return "The table has no probe with N = 1, so the prediction is not tested here."
    seeds = seed_counts_text(summarize_seeds(probes, by=["probe"], metrics=["R@1"]))
    readings, against, supports = [], 0, 0
    for _, c in one_proxy.iterrows():
        p, difference = c["R@1 p (Holm)"], 100 * c["R@1 difference"]
        interval = f"95% CI of probe - base {100 * c['R@1 CI low']:+.1f} to {100 * c['R@1 CI high']:+.1f}"
        if p >= statistics.ALPHA:
            readings.append(f"`{c['probe']}` cannot be told apart from `{c['base']}` with {seeds} (Holm p {p:.2g})")
        elif difference > 0:
            supports += 1
            readings.append(
                f"`{c['probe']}` ends above `{c['base']}` by {difference:.1f} points ({interval}, Holm p {p:.2g})"
            )
        else:
            against += 1
            readings.append(
                f"`{c['probe']}` ends below `{c['base']}` by {-difference:.1f} points ({interval}, Holm p {p:.2g})"
            )
    if against and not supports:
        verdict = (
            "What the tests separate goes against the prediction, so the hypothesis, as stated, is not supported here"
        )
    elif supports and not against:
        verdict = "The measurements agree with the prediction, which supports the hypothesis but does not prove it"
    elif supports and against:
        verdict = "The measurements disagree with each other, so they do not decide the hypothesis"
    else:
        verdict = "The measurements neither support nor refute the hypothesis with these seeds"
    return (
        "The hypothesis predicts that one proxy per class ends **above** its base. "
        + "; ".join(readings)
        + f". {verdict}. With N = 1 at a fixed r, k = ceil(r C N) falls with N, so each of these probes changes N "
        "and the subgraph's size together (notebook 8): what they measure is the effect of both."
    )


def plot_ablation_probe_epochs(epochs: pd.DataFrame, *, probes=None, title: str | None = None):
    """Within- and between-class proxy cosine and the proxy norm against the epoch, one line per probe.

    Each line is the mean over the seeds, its band the seeds' range (lowest to
    highest); the legend stands right of the panels, off the curves. The
    within-class cosine is absent for ``N = 1`` probes (no two proxies of one class).
    """
    import matplotlib.pyplot as plt

    missing = [c for c in EPOCH_COLUMNS if c not in epochs.columns]
    if missing:
        raise ValueError(f"the epoch table lacks the column(s) {missing}; pass probe_epochs.csv (read_probe_epochs)")
    names = list(dict.fromkeys(epochs["probe"])) if probes is None else list(probes)
    absent = [n for n in names if n not in set(epochs["probe"])]
    if absent:
        raise ValueError(
            f"no probe {absent[0]!r} in the epoch table; its probes: {list(dict.fromkeys(epochs['probe']))}"
        )
    panels = (
        ("proxy cos within", "cosine of two proxies\nof one class"),
        (_BETWEEN, "cosine of two proxies\nof different classes"),
        ("proxy norm", "mean proxy norm"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained", sharex=True)
    colours = plt.get_cmap("tab10")
    seeds = epochs[epochs["probe"].isin(names)].groupby("probe")["seed"].nunique()
    for i, name in enumerate(names):
        rows = epochs[epochs["probe"] == name]
        grouped = rows.groupby("epoch")
        for ax, (column, _) in zip(axes, panels):
            mean = grouped[column].mean()
            if mean.isna().all():
                continue
            style = "-" if i < 5 else "--"
            ax.plot(
                mean.index,
                mean.to_numpy(),
                style,
                color=colours(i % 10),
                lw=1.4,
                label=name if column == _BETWEEN else None,
            )
            ax.fill_between(
                mean.index, grouped[column].min(), grouped[column].max(), color=colours(i % 10), alpha=0.15, lw=0
            )
    for ax, (_, label) in zip(axes, panels):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(-0.05, 1.05)
    axes[1].set_ylim(-0.05, 1.05)
    fig.legend(loc="outside right center", fontsize=8, title="probe", title_fontsize=8)
    count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    fig.suptitle(
        title
        or f"the probes' proxies per epoch: mean over {count} seeds (band: lowest to highest seed; N = 1 probes have "
        "no within-class pair); linear axes",
        fontsize=10,
    )
    return fig
