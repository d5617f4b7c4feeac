"""What one training run shows, in words and beside the tables: its history told from ``metrics.csv``
(:func:`history_findings`), the run beside the study table's row of its cell (:func:`run_beside_table`), and
benchmark runs beside the paper's ProxyGML row (:func:`results_beside_paper`, always labelled as the paper's).

Every number in these texts is read from the run's files; reading a run folder never imports or unpickles anything
(:mod:`proxygml_lite.lab.run_views` reads it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .run_views import read_json_object, read_run_results, run_folder_of

__all__ = ["results_beside_paper", "run_beside_table", "history_findings", "EVALUATION_ONLY"]


def results_beside_paper(runs: dict, *, label: str = "this code", embedding_dim: int = 512):
    """This code's final metrics of benchmark runs beside the paper's ProxyGML row (percent).

    Args:
        runs: ``{dataset id ("cub200", "cars196", "online_products"): run folder}``;
            a dataset without a run (``None``) gets an empty "this code" cell.
        label: the heading of this code's column (e.g. "miniature smoke run (not a result)").
        embedding_dim: which of the paper's ProxyGML rows (64, 384 or 512).

    Returns:
        One row per (dataset, metric of the paper's table): ``dataset``,
        ``metric``, ``label`` and ``paper (Zhu et al., NeurIPS 2020), ProxyGML-<d>``.
    """
    import pandas as pd

    from ..data.specs import BENCHMARKS
    from ..studies.paper import SOURCE, paper_comparison

    table = paper_comparison()
    ours = table[(table["method"] == "ProxyGML") & (table["embedding_dim"] == embedding_dim)]
    if ours.empty:
        raise ValueError(f"the paper has no ProxyGML-{embedding_dim} row; it reports d = 64, 384 and 512")
    rows = []
    for dataset_id in BENCHMARKS:  # cub200, cars196, online_products
        if dataset_id not in runs:
            continue
        metrics = {}
        folder = runs[dataset_id]
        if folder is not None and (results := read_run_results(Path(folder))) is not None:
            metrics = results["metrics"]
        for _, paper_row in ours[ours["dataset_id"] == dataset_id].iterrows():
            value = metrics.get(paper_row["metric"])
            rows.append(
                {
                    "dataset": paper_row["dataset"],
                    "metric": paper_row["metric"],
                    label: None if value is None else round(100 * float(value), 1),
                    f"{SOURCE}, ProxyGML-{embedding_dim}": paper_row["value"],
                }
            )
    return pd.DataFrame(rows)


#: Settings that only decide when a run is evaluated: evaluating restores the random state it found, so they
#: never change the training (issue 19).
EVALUATION_ONLY = frozenset({"epoch_to_test"})


def run_beside_table(run: str | os.PathLike, table, metric: str = "R@1", **cell) -> str:
    """Markdown: a run's ``metric`` beside the study table's row of the same cell and seed, and why they may differ.

    ``cell`` selects the table's cell (e.g. ``row=8``); the row with the run's seed is compared. The text names
    every training setting that differs (:func:`proxygml_lite.studies.identity.cell_identity`; settings of
    :data:`EVALUATION_ONLY` are named as such) and the machines, where the table records them (its ``machine``
    column, the :func:`~proxygml_lite.training.fingerprint.fingerprint_id` of each row): the same settings on
    the same machine give the same number to the bit, another processor or library build another rounding,
    which 50 epochs amplify to a difference of the order of the seed spread.
    """
    from ..studies.identity import cell_identity
    from .seed_table_checks import row_config

    folder = run_folder_of(run)
    config = read_json_object(folder / "config.json", "a training configuration")
    results = read_run_results(folder)
    if results is None:
        raise ValueError(f"{folder} holds no finished run (no results.json); let it finish, or train it again")
    seed = config.get("seed")
    chosen = table[(table["seed"] == seed) & np.logical_and.reduce([table[k] == v for k, v in cell.items()])]
    where = ", ".join(f"{k} {v}" for k, v in cell.items())
    source = table.attrs.get("source", "the table")
    if chosen.empty:
        return f"{source} has no row of {where} with seed {seed}: nothing to compare with."
    label = chosen.index[0]
    ours, theirs = 100 * float(results["metrics"][metric]), 100 * float(chosen.at[label, metric])
    mine, recorded = json.loads(cell_identity(config)), json.loads(cell_identity(row_config(table, label)))
    differ = sorted(k for k in mine.keys() | recorded.keys() if mine.get(k) != recorded.get(k))
    here = (results.get("machine") or {}).get("id")
    there = chosen.at[label, "machine"] if "machine" in chosen.columns else None
    there = None if there is None or (isinstance(there, float) and np.isnan(there)) else str(there)
    # the machine's fingerprint includes the device a run computed on: "auto" and "cpu" on one machine are one
    training = [k for k in differ if k not in EVALUATION_ONLY and not (k == "device" and there == here)]
    lines = [f"{where} of {source}, seed {seed}: {metric} {theirs:.2f} %; this run (seed {seed}): {ours:.2f} %."]
    if differ and not training:
        lines.append(
            f"The settings differ only in when the run is evaluated ({', '.join(differ)}), which does not change "
            "the training."
        )
    for key in training:
        auto = " ('auto' is decided by the machine that ran it)" if "auto" in (mine.get(key), recorded.get(key)) else ""
        lines.append(f"Setting `{key}`: {mine.get(key)!r} here, {recorded.get(key)!r} in the table{auto}.")
    if there is None:
        lines.append(f"The table does not record the machine of its row; this run computed on machine {here}.")
    elif there == here:
        lines.append(f"Both computed on the same machine ({here}: the same processor and library builds).")
    else:
        lines.append(
            f"The table's row computed on machine {there}, this run on {here}: another processor or library "
            "build rounds floats differently, and 50 epochs amplify that to a difference of the order of the "
            "seed spread."
        )
    if ours == theirs:
        lines.append(f"The two {metric} values are identical: the same run.")
    elif not training and there == here:
        lines.append(
            "The training settings and the machine agree, yet the values differ: something neither records "
            "changed between the two runs (e.g. this package's code)."
        )
    elif not training and there is None:
        lines.append(
            "The training settings agree; the difference comes from what the table does not record: the "
            "machine, or an earlier version of this package's code."
        )
    return " ".join(lines)


def history_findings(
    history, *, r1_chance: float | None = None, nmi_chance: float | None = None, metric: str = "R@1"
) -> str:
    """Markdown: what a run's ``metrics.csv`` shows, every number read from it (nothing typed from an earlier run).

    How ``L^s`` and ``L^p`` moved (first, lowest, highest after the lowest and last epoch, and how many epochs
    each rose), the learning-rate decay and ``L^s`` around it, ``metric`` and NMI before and after training beside
    their chance levels (``r1_chance``: the probability that a random other test image shares the query's class;
    ``nmi_chance``: :func:`proxygml_lite.evaluation.chance_nmi`), and the gain over the last two evaluations.
    """
    from ..studies.plots import decay_epochs, read_history

    history = read_history(history)
    trained = history[(history["epoch"] > 0) & history["loss_s"].notna()].reset_index(drop=True)
    if trained.empty:
        raise ValueError("the history has no trained epoch (no loss_s): pass the metrics.csv of a finished run")
    epoch = trained["epoch"].astype(int)
    lines, dip = [], None
    for column, name in (("loss_s", "$\\mathcal{L}^s$"), ("loss_p", "$\\mathcal{L}^p$")):
        if column not in trained or trained[column].isna().all():
            continue
        values = trained[column].to_numpy(dtype=float)
        rises = int((np.diff(values) > 0).sum())
        # the largest climb anywhere in the run: from its lowest point so far (i) to a later high (j)
        lowest_so_far = np.minimum.accumulate(values)
        climb = values - lowest_so_far
        j = int(np.argmax(climb))
        i = int(np.argmin(values[: j + 1]))
        text = f"{name}: {values[0]:.3f} after epoch {epoch[0]}"
        if climb[j] > 0.1 * (values.max() - values.min()):
            text += (
                f", down to {values[i]:.3f} at epoch {epoch[i]}, back up to {values[j]:.3f} at epoch {epoch[j]}, "
                f"then {values[-1]:.3f} after the last epoch ({epoch.iloc[-1]}): it does not simply fall"
            )
            if column == "loss_s":
                dip = int(epoch[i])
        else:
            low = int(np.argmin(values))
            text += f", {values[-1]:.3f} after the last epoch ({epoch.iloc[-1]}), lowest {values[low]:.3f} (epoch {epoch[low]})"
        text += (
            "; it falls at every epoch."
            if rises == 0
            else f"; it rose in {rises} of the {len(values) - 1} steps from one epoch to the next."
        )
        lines.append(text)
    for first in decay_epochs(history):
        before, after = trained[epoch == first - 1], trained[epoch == first]
        if len(before) and len(after):
            ratio = before["lr_model"].iloc[0] / after["lr_model"].iloc[0]
            lines.append(
                f"The learning rates drop {ratio:.0f}-fold for epoch {first} (dotted line): $\\mathcal{{L}}^s$ "
                f"{before['loss_s'].iloc[0]:.3f} at epoch {first - 1}, {after['loss_s'].iloc[0]:.3f} at epoch {first}."
            )
    evaluated = history[history[metric].notna()] if metric in history else history.iloc[:0]
    if len(evaluated):
        start, end = evaluated.iloc[0], evaluated.iloc[-1]
        text = (
            f"{metric} on the unseen test classes: {100 * start[metric]:.1f}% at epoch {int(start['epoch'])}"
            f"{' (untrained)' if int(start['epoch']) == 0 else ''}, {100 * end[metric]:.1f}% after epoch "
            f"{int(end['epoch'])}"
        )
        if r1_chance is not None:
            text += f"; chance (a random other test image of the query's class) is {100 * r1_chance:.2f}%"
        lines.append(text + ".")
        at_dip = evaluated[evaluated["epoch"] == dip] if dip is not None else evaluated.iloc[:0]
        if len(at_dip):
            lines.append(
                f"At the dip of $\\mathcal{{L}}^s$ (epoch {dip}), {metric} is {100 * at_dip[metric].iloc[0]:.1f}%, "
                f"against {100 * end[metric]:.1f}% at the end: a small $\\mathcal{{L}}^s$ alone does not show a good "
                "embedding."
            )
        if len(evaluated) > 1:
            previous = evaluated.iloc[-2]
            lines.append(
                f"Convergence check: {metric} {100 * previous[metric]:.1f}% after epoch {int(previous['epoch'])}, "
                f"{100 * end[metric]:.1f}% after epoch {int(end['epoch'])} "
                f"({100 * (end[metric] - previous[metric]):+.1f} points)."
            )
    if "NMI" in history and history["NMI"].notna().any():
        nmi = history[history["NMI"].notna()]
        text = f"NMI: {100 * nmi['NMI'].iloc[0]:.1f}% at epoch {int(nmi['epoch'].iloc[0])}"
        text += f", {100 * nmi['NMI'].iloc[-1]:.1f}% after epoch {int(nmi['epoch'].iloc[-1])}"
        if nmi_chance is not None:
            text += (
                f"; clusters that ignore the images (the labels shuffled) already score {100 * nmi_chance:.1f}% "
                "(dashed line): NMI is not adjusted for chance, so with many small classes its chance level is "
                "high, and only the rise above that level measures the embedding"
            )
            if nmi["NMI"].iloc[0] < nmi_chance:
                text += (
                    f". The line is a reference, not a bound: it is one random clustering with the classes' sizes, "
                    f"and clusterings of other sizes, like k-means on the features at epoch "
                    f"{int(nmi['epoch'].iloc[0])}, can score below it"
                )
        lines.append(text + ".")
    return "\n".join(f"* {line}" for line in lines)
