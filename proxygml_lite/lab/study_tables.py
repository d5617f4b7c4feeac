"""The committed study tables: read them, summarise the seeds, compare with the paper.

``make studies`` writes one table per study to ``results/<preset>/``:

* ``ablation.csv``: one row per (ablation ``row``, ``seed``);
* ``grid.csv``: one row per (``N``, ``r``, ``seed``), with ``k = ceil(r C N)``;
* ``efficiency.csv``: loss-layer cost per (``series``/``loss``, ``num_classes``).

Every training row holds ``seed``, the final ``R@1`` and ``NMI`` (fractions)
and the run's full configuration as JSON in ``config``. The helpers here turn
such a table into what the notebooks print: mean, standard deviation and the
per-seed values of each cell (:func:`summarize_seeds`), the ablation in the
paper's layout beside the paper's published values
(:func:`ablation_beside_paper`), and, for every study table, its pairwise
comparison table (:func:`study_comparisons`): the difference of two cells'
means with its 95% confidence interval and Welch p-value, Holm-corrected
across the comparisons of the table, and the verdict of
:mod:`proxygml_lite.statistics` ("A beats B ..." only where the corrected
p < 0.05, else "cannot tell apart with n seeds").

Before averaging or comparing, :func:`summarize_seeds` and
:func:`study_comparisons` check what they use
(:func:`.seed_table_checks.check_seed_table`): a table that repeats a (cell,
seed), mixes configurations (within a cell, or in the study's protocol:
dataset, epochs, ...), holds NaN metrics or metrics that are not fractions,
or identifier columns (``row``, ``N``, ``r``, ``k``) that disagree with the
row's config is an error naming the rows. The write side
(:mod:`proxygml_lite.studies.tables`) refuses the same tables before it adds rows.

The standard deviation is the sample standard deviation (``ddof = 1``,
:func:`proxygml_lite.statistics.sample_std`) over the seeds of a cell, the
usual choice when reporting seed variance (Musgrave et al., "A Metric Learning
Reality Check", ECCV 2020).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import statistics
from ..fileio import read_csv
from ..teaching.notebook import checkout_root
from .experiments import repository_root
from .seed_table_checks import check_seed_table, parse_integer_keys, row_config

__all__ = [
    "STUDY_KINDS",
    "results_dir",
    "inside_installation",
    "make_hint",
    "committed_results_dir",
    "repository_relative",
    "read_study_table",
    "summarize_seeds",
    "study_comparisons",
    "format_mean_std",
    "ablation_beside_paper",
    "config_of",
    "PAPER_ABLATION_CLAIMS",
    "ablation_claims",
]

#: The tables of ``results/<preset>/`` and the identifier columns of each.
STUDY_KINDS: dict[str, tuple[str, ...]] = {
    "ablation": ("row", "seed"),
    "grid": ("N", "r", "seed"),
    "probes": ("probe", "seed"),
    "efficiency": ("num_classes",),
}


#: This package's folder (``proxygml_lite/``): in an installation, its parent is site-packages.
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def repository_relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (no machine-specific prefix in notebook outputs)."""
    try:
        return str(path.resolve().relative_to(repository_root()))
    except ValueError:
        return str(path)


def results_dir(preset: str = "glyphs_hard", root: str | os.PathLike | None = None) -> Path:
    """Where new study tables of ``preset`` are written: ``<root>/results/<preset>``.

    ``root`` defaults to ``$PROXYGML_RESULTS_DIR``'s folder (which then replaces
    ``<root>/results``, e.g. to point the notebooks at tables produced on another
    machine), else the repository of a checkout, else the working directory:
    an installed package never writes tables inside its installation (committed
    tables are read from :func:`committed_results_dir`).
    """
    override = os.environ.get("PROXYGML_RESULTS_DIR", "").strip()
    if root is None and override:
        return Path(override).expanduser().resolve() / preset
    base = Path(root) if root is not None else repository_root()
    return base / "results" / preset


def inside_installation(path: str | os.PathLike) -> bool:
    """True when ``path`` lies in the folder an installed package was installed into (site-packages)."""
    if checkout_root() is not None:
        return False
    try:
        Path(path).resolve().relative_to(PACKAGE_DIR.parent)
    except ValueError:
        return False
    return True


def make_hint() -> str:
    """How to make the study tables, worded for a checkout or for an installed package."""
    if checkout_root() is not None:
        return "run `make studies` (python -m proxygml_lite.studies)"
    return "run `python -m proxygml_lite.studies` in the folder that should hold results/ (or set PROXYGML_RESULTS_DIR)"


def committed_results_dir(preset: str = "glyphs_hard") -> Path:
    """Where the committed tables of ``preset`` are: the one place the notebooks read them from.

    ``<checkout>/results/<preset>`` in a checkout; in an installed wheel, its package data
    ``proxygml_lite/results/<preset>`` (setup.py maps ``results/`` there). ``$PROXYGML_RESULTS_DIR`` replaces both,
    as in :func:`results_dir`. Read only: new tables are written to :func:`results_dir`, never into an installation.
    """
    override = os.environ.get("PROXYGML_RESULTS_DIR", "").strip()
    if override:
        return Path(override).expanduser().resolve() / preset
    checkout = checkout_root()
    if checkout is not None:
        return checkout / "results" / preset
    return PACKAGE_DIR / "results" / preset  # proxygml_lite/results in the wheel


def read_study_table(
    kind: str,
    *,
    preset: str = "glyphs_hard",
    path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """One committed study table as a DataFrame, its columns checked.

    Args:
        kind: ``"ablation"``, ``"grid"``, ``"probes"`` or ``"efficiency"``.
        preset: the preset whose committed ``results/<preset>/<kind>.csv`` to read (:func:`committed_results_dir`).
        path: read this CSV file, or ``<path>/<kind>.csv`` for a folder, instead
            (a study run elsewhere and copied here).
    """
    if kind not in STUDY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(STUDY_KINDS)}; got {kind!r}")
    file = Path(path) if path is not None else committed_results_dir(preset) / f"{kind}.csv"
    if file.is_dir():
        file = file / f"{kind}.csv"
    if not file.is_file() and file.parent.joinpath("study.csv").is_file() and path is not None:
        file = file.parent / "study.csv"  # the folder of `python -m proxygml_lite.studies` / run_* (study.csv)
    if not file.is_file():
        raise FileNotFoundError(
            f"no {kind} table at {repository_relative(file)}; {make_hint()}, or pass path= the folder of a study run elsewhere"
        )
    from ..studies.efficiency import TEXT_COLUMNS
    from ..studies.row_checks import INTEGER_KEYS

    # the integer keys as text: pandas would read "00", "+1" and " 1" as numbers without a word; a fingerprint id
    # such as "217e49000001" would read as a float, and so would one repeat's time
    text = {"machine": str, "cpu": str}
    table = read_csv(file, dtype={**dict.fromkeys(INTEGER_KEYS, str), **text} if kind != "efficiency" else TEXT_COLUMNS)
    table.attrs["source"] = repository_relative(file)
    # a training table's rows are checked against their configurations (check_seed_table): without the config
    # column nothing could tell rows of another configuration apart
    needed = list(STUDY_KINDS[kind]) + (["R@1", "config"] if kind != "efficiency" else [])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(
            f"{repository_relative(file)} lacks the column(s) {missing}; it has {list(table.columns)}: restore it "
            f"(e.g. `git checkout -- {repository_relative(file)}`) or pass a table written by `make studies`"
        )
    return parse_integer_keys(table) if kind != "efficiency" else table


def config_of(table: pd.DataFrame, index: int = 0) -> dict:
    """The training configuration of row ``index`` (the JSON of its ``config`` column) as a dict."""
    if "config" not in table.columns:
        raise ValueError("the table has no 'config' column; pass a table written by `make studies`")
    return row_config(table, table.index[index])


def summarize_seeds(
    table: pd.DataFrame,
    *,
    by: Sequence[str],
    metrics: Iterable[str] = ("R@1", "NMI"),
) -> pd.DataFrame:
    """Mean, standard deviation and per-seed values of each cell.

    Args:
        table: one row per (cell, seed), metrics as fractions.
        by: the cell's identifier columns (``["row"]``, ``["N", "r"]``, ...).
        metrics: metric columns to summarise (those absent are skipped).

    Raises:
        ValueError: naming the rows, for a repeated (cell, seed), a NaN metric
            or mixed configurations (:func:`.seed_table_checks.check_seed_table`); for a table
            without rows (an empty selection too), one line naming it: the
            callers index the summary by its cells, so an empty result would
            only fail later.

    Returns:
        One row per cell: the ``by`` columns (and ``k`` when the table has it),
        ``seeds`` (how many), and for each metric ``<m> mean``, ``<m> std``
        (sample std, ``nan`` with one seed) and ``<m> per seed`` (a list, in
        seed order).
    """
    by = list(by)
    missing = [c for c in by + ["seed"] if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks the column(s) {missing}; it has {list(table.columns)}")
    metrics = [m for m in metrics if m in table.columns]
    if not metrics:
        raise ValueError("none of the metrics is in the table; pass metrics=['R@1', ...]")
    if table.empty:  # one line, not an empty frame without columns that fails later in .set_index("row")
        source = table.attrs.get("source")
        raise ValueError(
            f"{source or 'the table'} has no rows, so there are no seeds to summarise; {make_hint()}, "
            "or select rows that exist"
        )
    table = check_seed_table(table, by=by, metrics=metrics)
    rows = []
    for key, group in table.sort_values("seed").groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        if "k" in group.columns and "k" not in by:
            row["k"] = int(group["k"].iloc[0])
        row["seeds"] = int(group["seed"].nunique())
        for metric in metrics:
            values = group[metric].to_numpy(dtype=float)
            row[f"{metric} mean"] = float(values.mean())
            row[f"{metric} std"] = statistics.sample_std(values)
            row[f"{metric} per seed"] = [float(v) for v in values]
        rows.append(row)
    return pd.DataFrame(rows)


def study_comparisons(
    table: pd.DataFrame,
    kind: str,
    *,
    metric: str = "R@1",
    pairs=None,
) -> pd.DataFrame:
    """The pairwise comparison table of a study table: every pair of its cells, Holm-corrected within it.

    Args:
        table: ``ablation.csv`` or ``grid.csv`` (one row per cell and seed).
        kind: ``"ablation"`` (cells = ``row``), ``"grid"`` (cells = ``(N, r)``) or ``"probes"`` (cells = ``probe``).
        metric: the metric compared (``"R@1"``, ``"NMI"``, ...).
        pairs: only these ``(a, b)`` cells (``(8, 7)``, ``((4, 0.15), (12, 0.05))``); all pairs when ``None``.

    Returns:
        :func:`proxygml_lite.statistics.compare_cells`'s table: ``A``, ``B``,
        seeds, means, ``difference`` (``A - B``), the Welch 95% interval
        ``CI low`` / ``CI high``, ``p``, ``p (Holm)`` and the ``verdict``.
    """
    if kind not in STUDY_KINDS or kind == "efficiency":
        raise ValueError(f"kind must be 'ablation', 'grid' or 'probes'; got {kind!r}")
    by = [c for c in STUDY_KINDS[kind] if c != "seed"]
    table = check_seed_table(table, by=by, metrics=[metric])
    return statistics.compare_cells(table, by=by, metric=metric, pairs=pairs)


def format_mean_std(mean: float, std: float, *, percent: bool = True, digits: int = 1) -> str:
    """``"61.2 ± 0.8"`` (fractions shown in percent by default)."""
    scale = 100.0 if percent else 1.0
    if np.isnan(std):
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def ablation_beside_paper(table: pd.DataFrame) -> pd.DataFrame:
    """The ablation in the paper's layout: switches, this code's ``mean ± std`` (per seed), the paper's value.

    Args:
        table: ``ablation.csv`` (one row per ``row`` and ``seed``, metrics as fractions).

    Returns:
        One row per ablation row with ``row``, ``S^pos``, ``M``, ``L^p``
        (✓ / ×), ``NMI (this code)``, ``R@1 (this code)`` as ``"mean ± std"``
        in percent, ``R@1 per seed`` and the paper's ``NMI (paper)`` and
        ``R@1 (paper)`` (percent, as published; the dataset of the paper's
        table is not stated in the poster, see :mod:`proxygml_lite.studies.paper`).
    """
    from ..studies import ABLATION_ROWS
    from ..studies.paper import paper_ablation

    summary = summarize_seeds(table, by=["row"])
    switches = {number: (s_pos, mask, l_p) for number, s_pos, mask, l_p in ABLATION_ROWS}
    paper = paper_ablation().set_index("row")
    mark = {True: "✓", False: "×"}
    out = []
    for _, cell in summary.iterrows():
        number = int(cell["row"])
        s_pos, mask, l_p = switches[number]
        line = {"row": number, "S^pos": mark[s_pos], "M": mark[mask], "L^p": mark[l_p], "seeds": cell["seeds"]}
        for metric in ("NMI", "R@1"):
            if f"{metric} mean" in cell:
                line[f"{metric} (this code)"] = format_mean_std(cell[f"{metric} mean"], cell[f"{metric} std"])
        line["R@1 per seed"] = " ".join(f"{100 * v:.1f}" for v in cell["R@1 per seed"])
        line["NMI (paper)"] = float(paper.loc[number, "NMI"])
        line["R@1 (paper)"] = float(paper.loc[number, "R@1"])
        out.append(line)
    return pd.DataFrame(out)


#: The paper's qualitative reading of its ablation table: (claim, better rows, worse row), each "row a > row b".
PAPER_ABLATION_CLAIMS: tuple[tuple[str, int, int], ...] = (
    ("S^pos alone helps (row 2 > row 1)", 2, 1),
    ("M alone helps (row 3 > row 1)", 3, 1),
    ("L^p alone helps (row 4 > row 1)", 4, 1),
    ("S^pos helps on top of M and L^p (row 8 > row 5)", 8, 5),
    ("M helps on top of S^pos and L^p (row 8 > row 6)", 8, 6),
    ("L^p helps on top of S^pos and M (row 8 > row 7)", 8, 7),
    ("S^pos is the strongest single module (row 2 > row 4)", 2, 4),
    ("L^p beats M as a single module (row 4 > row 3)", 4, 3),
)


def ablation_claims(table: pd.DataFrame, *, metric: str = "R@1") -> pd.DataFrame:
    """Each of :data:`PAPER_ABLATION_CLAIMS` checked on the paper's numbers and on ``table`` (ablation.csv).

    The claims present in ``table`` are its comparisons: Welch's test for each,
    Holm-corrected across them (:func:`proxygml_lite.statistics.compare_cells`).

    Returns one row per claim: ``claim``, ``paper: difference`` (points, from
    the published table), ``here: difference`` (points, better minus worse
    row's mean), ``here: CI low`` / ``here: CI high`` (its 95% Welch interval,
    points), ``here: p (Holm)``, ``here`` (``"holds"`` or ``"reversed"`` where
    the corrected p < 0.05, else ``"cannot tell apart"``) and ``verdict`` (the
    sentence, with the seed count).
    """
    from ..studies.paper import paper_ablation

    table = check_seed_table(table, by=["row"], metrics=[metric])
    published = paper_ablation().set_index("row")[metric]
    present = set(table["row"])
    claims = [(claim, better, worse) for claim, better, worse in PAPER_ABLATION_CLAIMS if {better, worse} <= present]
    if not claims:
        return pd.DataFrame()
    compared = statistics.compare_cells(
        table, by=["row"], metric=metric, pairs=[(better, worse) for _, better, worse in claims]
    )
    out = []
    for (claim, better, worse), here in zip(claims, compared.to_dict("records")):
        claimed = here["p (Holm)"] < statistics.ALPHA  # False for nan (one seed, no spread)
        out.append(
            {
                "claim": claim,
                "paper: difference": float(published[better] - published[worse]),
                "here: difference": 100 * here["difference"],
                "here: CI low": 100 * here["CI low"],
                "here: CI high": 100 * here["CI high"],
                "here: p (Holm)": here["p (Holm)"],
                "here": ("holds" if here["difference"] > 0 else "reversed") if claimed else "cannot tell apart",
                "verdict": here["verdict"],
            }
        )
    return pd.DataFrame(out)
