# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# [← 07 CUB, Cars and SOP on a GPU](07_benchmarks_on_gpu.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [09 UMAP views of proxies →](09_umap_proxies.ipynb) · about 20 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/08_parameter_study_N_r.ipynb)
#
# # 8. Parameter study of $N$ and $r$
#
# *ProxyGML notebooks, part 8 of 11.*
#
# **Learning goals.** After this notebook you can
#
# 1. read a parameter study the way the paper draws it (Recall@1 against $N$, one line per $r$) and as a heat map
#    over the grid, with the subgraph size $k = \lceil rCN \rceil$ of every cell in view;
# 2. judge differences against the spread over seeds (mean ± standard deviation of 3 seeds, every seed drawn);
# 3. separate the effect of $N$ from the effect of $k$ by comparing cells with the same $k$;
# 4. run or resume the study yourself, and load a study that was run elsewhere from its folder.
#
# **Prerequisites.** Notebooks 2 ($k$, the subgraph) and 6 (a training run on `glyphs_hard`).

# %%
# Install cell: on Colab, a JupyterHub or in a bare folder it installs proxygml_lite at this course's
# release (the committed study tables come with it); where that release is importable (this course's checkout) it
# does nothing.
import importlib.util
import os
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

RELEASE = "0.1.0"
SOURCE = f"proxygml_lite=={RELEASE}"  # or a wheel's URL or path, or "git+https://github.com/OWNER/proxygml_lite@v0.1.0"
# the tested versions ("" for none); on Colab, the same less the torch, torchvision and IPython that Colab provides
ON_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ
CONSTRAINTS_FILE = "constraints-colab.txt" if ON_COLAB else "constraints.txt"
CONSTRAINTS = f"https://raw.githubusercontent.com/OWNER/proxygml_lite/v{RELEASE}/{CONSTRAINTS_FILE}"


if importlib.util.find_spec("proxygml_lite") is None and Path("../proxygml_lite/__init__.py").is_file():
    sys.path.insert(0, str(Path("..").resolve()))  # a checkout without an installed package: use its copy
importable = importlib.util.find_spec("proxygml_lite") is not None
# the installed release; None where it is not installed (or importable from this checkout only)
installed = next((d.version for d in distributions(name="proxygml_lite")), None)
if importable and installed == RELEASE:
    print(f"proxygml_lite {RELEASE} is already importable: nothing to install.")
elif importable and installed is None:
    print("proxygml_lite is importable from this checkout: nothing to install.")
else:
    if importable:
        print(f"proxygml_lite {installed} is installed, this course uses {RELEASE}: replacing it.")
    command = [sys.executable, "-m", "pip", "install", "-q", SOURCE] + (["-c", CONSTRAINTS] if CONSTRAINTS else [])
    print("installing:", " ".join(command[5:]))
    done = subprocess.run(command, capture_output=True, text=True)
    importlib.invalidate_caches()
    if done.returncode != 0:  # one line: pip's last error, and what to do
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        why = next((line for line in reversed(lines) if line.lower().startswith("error")), lines[-1]).strip()
        raise SystemExit(
            f"Install cell: pip could not install {SOURCE} ({why}); "
            "check SOURCE and CONSTRAINTS above (this course's wheel or Git URL) and run the cell again."
        )
    installed = next((d.version for d in distributions(name="proxygml_lite")), None)
    if installed != RELEASE:
        raise SystemExit(
            f"Install cell: {SOURCE} installed proxygml_lite {installed}, not {RELEASE}; "
            f"point SOURCE at release {RELEASE} and run the cell again."
        )
    print(f"installed proxygml_lite {RELEASE} from {SOURCE}; the committed study tables come with it.")

# %%
from proxygml_lite.teaching.notebook import save_figure, setup

cfg = setup(seed=0)

# %%
import pandas as pd

from proxygml_lite import statistics, steps, studies
from proxygml_lite.lab import experiments, study_tables, study_views, study_widgets

pd.set_option("display.precision", 4)
PRESET = "glyphs_hard"
grid = study_tables.read_study_table("grid", preset=PRESET)
print(
    f"results/{PRESET}/grid.csv: {len(grid)} runs, N in {sorted(int(n) for n in grid['N'].unique())}, "
    f"r in {sorted(float(r) for r in grid['r'].unique())}, seeds {sorted(int(s) for s in grid['seed'].unique())}"
)
base = study_tables.config_of(grid)
print(
    "every cell trains the preset with these settings, only N, r and the seed change:",
    {k: base[k] for k in ("dataset", "backbone", "dim", "epochs", "weight_lambda", "modellr", "centerlr")},
)

# %% [markdown]
# ## The grid
#
# Each cell of the grid is one $(N, r)$ pair trained with three seeds; the table gives the mean, the sample
# standard deviation and the per-seed values of Recall@1 and NMI on the 199 unseen test classes. With $C = 100$
# training classes, the subgraph of every sample holds
#
# $$k = \lceil r \, C \, N \rceil$$
#
# proxies: `steps.subgraph_size(r, C, N)`, the same function the loss uses.

# %%
summary = study_tables.summarize_seeds(grid, by=["N", "r"])
assert all(summary["k"] == [steps.subgraph_size(r, 100, n) for n, r in zip(summary["N"], summary["r"])])
shown = summary.assign(
    **{
        "R@1 (%)": [study_tables.format_mean_std(m, s) for m, s in zip(summary["R@1 mean"], summary["R@1 std"])],
        "NMI (%)": [study_tables.format_mean_std(m, s) for m, s in zip(summary["NMI mean"], summary["NMI std"])],
        "R@1 per seed": [" ".join(f"{100 * v:.1f}" for v in seeds) for seeds in summary["R@1 per seed"]],
    }
)
shown[["N", "r", "k", "seeds", "R@1 (%)", "R@1 per seed", "NMI (%)"]]

# %% [markdown]
# ## Recall@1 against $N$, one line per $r$
#
# The paper's parameter-study figure (Cars196) draws Recall@1 against $N$ for three values of $r$; its values are
# only given as a figure, so none of the paper's numbers are drawn here. Error bars are ± one standard deviation
# over the seeds, dots the seeds themselves.

# %%
fig = study_views.plot_metric_vs_N(grid, metric="R@1", title=f"{PRESET}: R@1 against N (mean ± std, dots: seeds)")
save_figure(fig, "08_recall_vs_N")

# %% [markdown]
# The same for NMI, the clustering quality of the unseen classes (k-means on the embeddings against the labels):

# %%
fig = study_views.plot_metric_vs_N(grid, metric="NMI", title=f"{PRESET}: NMI against N (mean ± std, dots: seeds)")
save_figure(fig, "08_nmi_vs_N")

# %% [markdown]
# ## The whole grid as a heat map
#
# Every cell shows its mean Recall@1 ± std and its $k$. Along a row $N$ is fixed and $k$ grows with $r$; along a
# column $r$ is fixed and $k$ grows with $N$. So a line of the figure above changes **two** things at once: the
# number of proxies per class and the size of every subgraph.

# %%
fig = study_views.plot_grid_heatmap(grid, metric="R@1")
save_figure(fig, "08_grid_heatmap")

# %% [markdown]
# ## Same $k$, different $N$
#
# The grid was chosen so that three cells share $k = 60$: $(N, r) = (1, 0.6), (4, 0.15), (12, 0.05)$. Comparing
# them separates "more proxies per class" from "a larger subgraph". Differences are called real only when they
# pass Welch's test, Holm-corrected across all the grid's pairs (`study_tables.study_comparisons`).

# %%
same_k = summary[summary["k"] == summary["k"].value_counts().idxmax()].sort_values("N")
print(f"cells with k = {int(same_k['k'].iloc[0])}:")
for _, cell in same_k.iterrows():
    print(
        f"  N = {int(cell['N']):2d}, r = {cell['r']:g}: R@1 "
        f"{study_tables.format_mean_std(cell['R@1 mean'], cell['R@1 std'])} %"
    )
comparisons = study_tables.study_comparisons(grid, "grid")  # every pair of cells, Holm-corrected across them all
print(f"{len(comparisons)} pairwise comparisons of the grid (Welch, Holm-corrected):")
for a, b in zip(same_k.index[:-1], same_k.index[1:]):
    pair = statistics.find_comparison(
        comparisons,
        statistics.cell_label(["N", "r"], (summary.loc[b, "N"], summary.loc[b, "r"])),
        statistics.cell_label(["N", "r"], (summary.loc[a, "N"], summary.loc[a, "r"])),
    )
    print(f"  {pair['verdict']}")

# %%
for r, line in summary.groupby("r"):
    line = line.sort_values("R@1 mean", ascending=False)
    first, second = line.iloc[0], line.iloc[1]
    pair = statistics.find_comparison(
        comparisons,
        statistics.cell_label(["N", "r"], (first["N"], r)),
        statistics.cell_label(["N", "r"], (second["N"], r)),
    )
    print(f"r = {r:g}: best N = {int(first['N'])}, next N = {int(second['N'])}: {pair['verdict']}")

# %%
best = summary.loc[summary["R@1 mean"].idxmax()]
print(
    f"best cell: N = {int(best['N'])}, r = {best['r']:g} (k = {int(best['k'])}): R@1 "
    f"{study_tables.format_mean_std(best['R@1 mean'], best['R@1 std'])} %"
)
best_label = statistics.cell_label(["N", "r"], (best["N"], best["r"]))
ties = [
    f"(N={int(c['N'])}, r={c['r']:g}, k={int(c['k'])})"
    for _, c in summary.iterrows()
    if c.name != best.name
    and statistics.find_comparison(comparisons, best_label, statistics.cell_label(["N", "r"], (c["N"], c["r"])))[
        "p (Holm)"
    ]
    >= statistics.ALPHA
]
print("cells it cannot be told apart from (Holm p >= 0.05):", ", ".join(ties) or "none")
worst = summary.loc[summary["R@1 mean"].idxmin()]
print(
    f"worst cell: N = {int(worst['N'])}, r = {worst['r']:g} (k = {int(worst['k'])}): R@1 "
    f"{study_tables.format_mean_std(worst['R@1 mean'], worst['R@1 std'])} %"
)

# %% [markdown]
# What the grid says, read from the lines above (3 seeds per cell):
#
# * **$N = 4$ is the best number of proxies per class at every $r$**, beyond the seed spread against the next
#   best, which is the paper's $N = 12$ each time; $N = 1$ is the weakest line. One proxy per class is not
#   enough on these classes, and twelve is more than they use (notebook 9 shows why: a class's proxies merge).
# * **At the same $k = 60$**, $N = 4$ beats $N = 1$ by 9.2 points and $N = 12$ by 4.9 points. So the effect of
#   $N$ is not just "a larger subgraph": with $k$ fixed, more proxies per class help up to $N = 4$ and hurt
#   beyond, where the $N$ own-class places take a fifth of each subgraph (12 of 60).
# * The best cell ($N = 4$, $r = 0.15$, 85.0 %) cannot be separated from $N = 4$, $r = 0.6$ by the spread: once
#   $N$ is right, $r$ matters less. The worst cell is $N = 1$, $r = 0.6$.
#
# The paper uses $N = 12$ on CUB-200 and Cars196 (with a pretrained BN-Inception); that choice does not carry
# over to this small CPU benchmark, which is a statement about `glyphs_hard`, not about the paper's datasets.

# %% [markdown]
# ## Explore
#
# Choose the metric (Recall@K or NMI) and the lines of $r$ to draw.

# %%
study_widgets.parameter_study_widget(grid)

# %% [markdown]
# ## Run or resume the study yourself
#
# The committed table was produced by `make studies`. The cell below re-runs the grid when `RECOMPUTE = True`:
# every cell and seed trains in its own folder, finished cells are read back and an interrupted one resumes, so
# you can stop it at any time and run the cell again. In smoke mode it runs a 2-cell, 2-seed miniature of one
# epoch on a small glyph set, in a temporary folder, to show the mechanics (not a result).

# %%
RECOMPUTE = False  # True: all of grid.csv again, about 90 s per run on one core
if cfg.smoke:
    study_dir = experiments.runs_root(smoke=True) / "08_grid"
    fresh = studies.run_parameter_study(
        experiments.smoke_config(), N_values=[1, 2], r_values=[0.1], out_dir=study_dir, seeds=[0, 1]
    )
    print("smoke study (one tiny epoch, not a result):")
    print(fresh[["N", "r", "k", "seed", "R@1", "cached"]].to_string(index=False))
elif RECOMPUTE:
    study_dir = experiments.repository_root() / "runs" / "studies" / f"grid-{PRESET}"
    fresh = studies.run_parameter_study(
        experiments.experiment_config(PRESET, smoke=False),
        N_values=sorted(grid["N"].unique()),
        r_values=sorted(grid["r"].unique()),
        out_dir=study_dir,
        seeds=sorted(grid["seed"].unique()),
    )
else:
    study_dir = study_tables.committed_results_dir(PRESET)
    print("Using the committed table. Set RECOMPUTE = True above, or run `make studies`, to recompute it.")

# %% [markdown]
# ## Load a study run elsewhere
#
# A study folder copied from another machine (or the --results folder of `python -m proxygml_lite.studies --studies grid ...`) loads
# with the same reader: `read_study_table("grid", path=FOLDER)` accepts the folder, its `grid.csv` or the
# `study.csv` that the study runner writes. Here it loads the folder of the previous cell.

# %%
loaded = study_tables.read_study_table("grid", path=study_dir)
print(f"{len(loaded)} runs loaded from {'the smoke folder' if cfg.smoke else study_tables._shown(study_dir)}")
study_tables.summarize_seeds(loaded, by=["N", "r"])[["N", "r", "k", "seeds", "R@1 mean", "R@1 std"]]

# %% [markdown]
# **On a real benchmark.** Notebook 7 (step 8) runs this grid on CUB-200-2011, Cars196 or SOP with a GPU, a series of
# Colab sessions or a Slurm job array: `python -m proxygml_lite.studies --preset cub200 --studies grid ...` with
# `--list`, `--cell INDEX` and `--gather`, one command per cell. Its `--results` folder reads back with the reader
# above, `grid = study_tables.read_study_table("grid", path=FOLDER)`, and this notebook's views and statistics take
# that table as they take the committed one: `study_tables.summarize_seeds(grid, by=["N", "r"])`,
# `study_tables.study_comparisons(grid, "grid")`, `study_views.plot_metric_vs_N`, `study_views.plot_grid_heatmap` and
# `study_widgets.parameter_study_widget`. There $k = \lceil r C N \rceil$ uses that benchmark's $C$ (98 on Cars196,
# 11,318 on SOP), not the 100 of `glyphs_hard`.

# %% [markdown]
# ## Summary
#
# * The grid crosses $N$ (proxies per class) with $r$ (subgraph scale); $k = \lceil rCN \rceil$ ties them together,
#   so the printed same-$k$ comparison is the cleaner test of $N$ itself. On `glyphs_hard`, $N = 4$ was best at
#   every $r$ and at the same $k$.
# * Every statement above is computed from the committed table and uses the seed spread; the lines printed by the
#   code are the findings of this notebook.
# * `studies.run_parameter_study(..., seeds=...)` re-runs or resumes the grid; `read_study_table(..., path=...)`
#   loads a study from any folder.

# %% [markdown]
# ## Exercises
#
# **1.** For $C = 100$, which $(N, r)$ pairs of the grid give a subgraph that holds only own-class proxies
# ($k \le N$)? What would you expect for them, and why does the grid avoid them?
#
# <details><summary>Solution</summary>
#
# $k \le N$ means $r C \le 1$, i.e. $r \le 0.01$ for $C = 100$, whatever $N$ is. None of the grid's $r$ values is that
# small. With $k \le N$ and $S^{pos}$, every subgraph holds only the sample's own proxies, $\mathcal{L}^s$ is zero up
# to rounding and nothing pushes other classes away (notebook 2 and `ProxyGMLLoss`'s warning):
#
# ```python
# [(n, r) for n in grid["N"].unique() for r in grid["r"].unique() if steps.subgraph_size(r, 100, n) <= n]
# ```
#
# </details>
#
# **2.** Compute, for each $N$, the difference between its best and its worst $r$, and compare it with the spread.
# Does $r$ matter more for small or for large $N$ here?
#
# <details><summary>Solution</summary>
#
# ```python
# for n, cells in summary.groupby("N"):
#     hi, lo = cells.loc[cells["R@1 mean"].idxmax()], cells.loc[cells["R@1 mean"].idxmin()]
#     label = lambda cell: statistics.cell_label(["N", "r"], (n, cell["r"]))
#     print(n, statistics.find_comparison(comparisons, label(hi), label(lo))["verdict"])
# ```
#
# Read the answer off the output: "beats" (Holm p < 0.05) means $r$ matters for that $N$.
#
# </details>
#
# **3.** Add a value of $r$ to the smoke study (e.g. `r_values=[0.1, 0.3]`) and run the cell twice. Which cells are
# trained the second time?
#
# <details><summary>Solution</summary>
#
# Only the new ones: the `cached` column is `True` for every cell whose folder already holds a finished run with the
# same settings. That is what makes a long study safe to interrupt and extend.
#
# </details>
