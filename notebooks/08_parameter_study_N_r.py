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
# 1. read a parameter study the way the paper draws it (Recall@1 against $N$, one line per $r$), against $r$ or
#    against the subgraph size $k = \lceil rCN \rceil$, and as a heat map over the grid;
# 2. do the analysis yourself: the mean and sample standard deviation of each cell over its 5 seeds with a pandas
#    `groupby`, then one statistics call for the differences (Welch's 95% interval, Holm's correction);
# 3. say which comparisons a corrected p-value was corrected across (its *family*), and claim a difference only
#    where the corrected p < 0.05;
# 4. separate the effect of $N$ from the effect of $k$ by comparing cells with the same $k$;
# 5. run or resume the study, train new cells and place them against the grid, and load a study run elsewhere.
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
from IPython.display import Markdown, display

from proxygml_lite import statistics, steps, studies
from proxygml_lite.lab import experiments, findings, grid_findings, study_tables, study_views, study_widgets

pd.set_option("display.precision", 4)
PRESET = "glyphs_hard"
C = 100  # the training classes of glyphs_hard: k = ceil(r C N)
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
# ## The grid, analysed by hand
#
# Each cell of the grid is one $(N, r)$ pair trained with five seeds (0-4); a row of the table is one run, with its
# Recall@1 and NMI on the 199 unseen test classes. With $C = 100$ training classes, the subgraph of every sample holds
#
# $$k = \lceil r \, C \, N \rceil$$
#
# proxies: `steps.subgraph_size(r, C, N)`, the same function the loss uses. The whole analysis of a cell is a
# `groupby`: the mean and the sample standard deviation (pandas' `std` divides by $n - 1$) of its seeds.

# %%
cells = grid.groupby(["N", "r"]).agg(
    k=("k", "first"), seeds=("seed", "nunique"), mean=("R@1", "mean"), std=("R@1", "std")
)
assert all(cells["k"] == [steps.subgraph_size(r, C, n) for n, r in cells.index])
cells.assign(mean=(100 * cells["mean"]).round(2), std=(100 * cells["std"]).round(2))  # R@1 in %

# %% [markdown]
# Is a difference between two cells larger than the seeds' noise? Welch's t-test gives the difference of two
# means with its 95% confidence interval and a p-value. Many comparisons made at once would find some "difference"
# by chance, so the p-values of one *family* of comparisons are corrected together (Holm): a difference is
# claimed only where the corrected p < 0.05. The family used below changes one setting at a time: every pair of
# $N$ values at the same $r$, and every pair of $r$ values at the same $N$. One statistics call does it:

# %%
summary = study_tables.summarize_seeds(grid, by=["N", "r"])  # the same means and stds, with each seed's value
n_pairs, r_pairs = grid_findings.one_variable_pairs(summary)  # pairs of cells that differ in N only, or in r only
one_setting = statistics.compare_cells(grid, by=["N", "r"], pairs=n_pairs + r_pairs)
print(
    f"{len(n_pairs)} pairs change N at one r, {len(r_pairs)} change r at one N: "
    f"Holm corrects across all {len(one_setting)} together"
)
one_setting[["A", "B", "difference", "CI low", "CI high", "p", "p (Holm)"]].head(4)  # fractions: 0.01 = 1 point

# %% [markdown]
# ## Recall@1 against $N$, one line per $r$
#
# The paper's parameter-study figure (Cars196) draws Recall@1 against $N$ for three values of $r$; its values are
# only given as a figure, so none of the paper's numbers are drawn here. Error bars are ± one sample standard
# deviation over the seeds, dots the seeds themselves; the lines are moved sideways a little so that the error
# bars of different $r$ at the same $N$ do not hide each other.
#
# **Predict first.** Before running the next cell: which $N$ do you expect to give the highest Recall@1 on
# `glyphs_hard`, the paper's $N = 12$ or fewer proxies per class? Is it the same $N$ for every $r$? Write your guess
# down, then compare it with the figure and with the tables of differences further down.

# %%
seeds = int(grid.groupby(["N", "r"])["seed"].nunique().min())  # per cell
fig = study_views.plot_metric_vs_N(
    grid, metric="R@1", title=f"{PRESET}: R@1 against N (mean ± std over {seeds} seeds, dots: seeds)"
)
save_figure(fig, "08_recall_vs_N")

# %% [markdown]
# The same for NMI, the clustering quality of the unseen classes (k-means on the embeddings against the labels):

# %%
fig = study_views.plot_metric_vs_N(
    grid, metric="NMI", title=f"{PRESET}: NMI against N (mean ± std over {seeds} seeds, dots: seeds)"
)
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
# ## What the grid says
#
# The findings below are written by the next cells from `grid.csv`, not typed: the grid table, the two tables of
# one-setting differences (the family of the statistics call above; bold where Holm's corrected p < 0.05) and the
# cell with the highest mean against every other cell (a family of its own).

# %%
display(Markdown(grid_findings.grid_findings(grid, num_classes=C)))

# %% [markdown]
# The paper uses $N = 12$ on CUB-200 and Cars196 (with a pretrained BN-Inception). How does it fare here against
# the $N$ with the highest mean at each $r$? The verdicts come from the one-setting family above.

# %%
lines = []
for r, line in summary.groupby("r"):
    top = line.loc[line["R@1 mean"].idxmax()]
    if int(top["N"]) == 12:
        lines.append(f"* r = {r:g}: the highest mean is the paper's N = 12.")
        continue
    pair = statistics.find_comparison(
        one_setting,
        statistics.cell_label(["N", "r"], (top["N"], r)),
        statistics.cell_label(["N", "r"], (12, r)),
    )
    lines.append(f"* r = {r:g}: the highest mean is at N = {int(top['N'])}; {pair['verdict']}.")
display(Markdown("**The paper's N = 12 against the best N of each r** (one-setting family):\n\n" + "\n".join(lines)))

# %% [markdown]
# These are statements about `glyphs_hard` (100 training classes of small glyph images, a small CNN trained from
# scratch on a CPU), not about the paper's datasets. *Why* the number of proxies per class matters the way the tables
# show is not something this table can answer. Notebook 9 looks at the proxies themselves: the proxies of a class
# merge during training for $N = 4$ as well as for $N = 12$, so merging alone cannot explain a gap between the two;
# its probes test possible causes one at a time.

# %% [markdown]
# ## Same $k$, different $N$
#
# The grid was chosen so that three cells share $k = \lceil rCN \rceil = 60$: $(N, r) = (1, 0.6), (4, 0.15),
# (12, 0.05)$. Comparing them separates "more proxies per class" from "a larger subgraph".
#
# **Predict first.** Before running the next cell: if only the size of the subgraph mattered, how would the three
# cells compare? Which one do you expect to be highest, and do you expect $N = 12$ to beat $N = 1$ here?

# %%
SAME_K = [((4, 0.15), (1, 0.6)), ((4, 0.15), (12, 0.05)), ((12, 0.05), (1, 0.6))]
k_shared = {steps.subgraph_size(r, C, n) for pair in SAME_K for n, r in pair}
assert len(k_shared) == 1
same_k = study_tables.study_comparisons(grid, "grid", pairs=SAME_K)
shown = summary.set_index(["N", "r"])
display(
    Markdown(
        f"**The three cells with k = {k_shared.pop()}** (R@1 %, mean ± sample std over their seeds): "
        + "; ".join(
            f"N = {n}, r = {r:g}: {findings.mean_std_text(shown.loc[(n, r), 'R@1 mean'], shown.loc[(n, r), 'R@1 std'])}"
            for n, r in sorted({cell for pair in SAME_K for cell in pair})
        )
        + f".\n\nEach pair by Welch's t-test, Holm-corrected across these {len(same_k)} pairs: a family of its own, "
        "since these pairs change N and r together and so are not among the one-setting pairs above.\n\n"
        + "\n".join(f"* {verdict}." for verdict in same_k["verdict"])
    )
)

# %% [markdown]
# ## Compare any two cells
#
# Choose the x-axis ($N$, $r$ or $k$) and pick two cells, A and B: the title gives A − B with its 95% interval
# (Welch) and the corrected p, and names the family the correction ran across. When A and B differ in one setting
# only, the family is the one-setting pairs of the tables above; when they differ in both, it is every pair of the
# grid's cells, a larger family, so the same difference needs a smaller raw p to count. Try the three cells with
# the same $k$: why can the widget's p differ from the cell above?

# %%
study_widgets.compare_cells_widget(grid, "grid")

# %% [markdown]
# ## Run or resume the study yourself
#
# The committed table was produced by `make studies`. The cell below re-runs the grid when `RECOMPUTE = True`:
# every cell and seed trains in its own folder, finished cells are read back and an interrupted one resumes, so
# you can stop it at any time and run the cell again. In smoke mode it runs a 2-cell, 2-seed miniature of one
# epoch on a small glyph set, in a temporary folder, to show the mechanics (not a result).

# %%
RECOMPUTE = False  # True: all of grid.csv again, minutes per run on one core (its elapsed_s column)
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
source = "the smoke folder" if cfg.smoke else study_tables.repository_relative(study_dir)
print(f"{len(loaded)} runs loaded from {source}")
study_tables.summarize_seeds(loaded, by=["N", "r"])[["N", "r", "k", "seeds", "R@1 mean", "R@1 std"]]

# %% [markdown]
# **On a real benchmark.** Notebook 7 (step 8) runs this grid on CUB-200-2011, Cars196 or SOP with a GPU, a series of
# Colab sessions or a Slurm job array: `python -m proxygml_lite.studies --preset cub200 --studies grid ...` with
# `--list`, `--cell INDEX` and `--gather`, one command per cell. Its `--results` folder reads back with the reader
# above, `grid = study_tables.read_study_table("grid", path=FOLDER)`, and this notebook's views and statistics take
# that table as they take the committed one: `study_tables.summarize_seeds(grid, by=["N", "r"])`,
# `study_tables.study_comparisons(grid, "grid")`, `grid_findings.grid_findings(grid)`, `study_views.plot_metric_vs_N`,
# `study_views.plot_grid_heatmap` and `study_widgets.compare_cells_widget(grid, "grid")`. There $k = \lceil r C N \rceil$ uses that benchmark's $C$ (98 on Cars196,
# 11,318 on SOP), not the 100 of `glyphs_hard`.

# %% [markdown]
# ## Summary
#
# * The grid crosses $N$ (proxies per class) with $r$ (subgraph scale); $k = \lceil rCN \rceil$ ties them together,
#   so a line of the $N$ figure changes two things at once. The one-setting tables change one setting at a time,
#   and the same-$k$ cells separate $N$ from the size of the subgraph.
# * The analysis is a `groupby` (mean and sample std over the 5 seeds of each cell) and one statistics call
#   (`statistics.compare_cells`: Welch's interval, Holm's correction across a family that is named). A difference
#   is claimed only where the corrected p < 0.05; otherwise the cells cannot be told apart with 5 seeds.
# * Every finding of this notebook is a Markdown cell generated from `grid.csv` above; this summary repeats none of
#   its numbers. They describe `glyphs_hard`, not the paper's datasets.
# * `studies.run_parameter_study(..., seeds=...)` re-runs, resumes or extends the grid; `read_study_table(...,
#   path=...)` loads a study from any folder.

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
# to rounding and nothing pushes other classes away (the subgraph notebook and `ProxyGMLLoss`'s warning):
#
# ```python
# print("k <= N needs r C <= 1, i.e. r <= 1 / C =", 1 / C, "for C =", C)
# print("cells of the grid with k <= N:", [(n, r) for n, r in cells.index if steps.subgraph_size(r, C, n) <= n])
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
# for n, line in summary.groupby("N"):
#     hi, lo = line.loc[line["R@1 mean"].idxmax()], line.loc[line["R@1 mean"].idxmin()]
#     best_r = statistics.cell_label(["N", "r"], (n, hi["r"]))
#     worst_r = statistics.cell_label(["N", "r"], (n, lo["r"]))
#     print(f"N = {n}:", statistics.find_comparison(one_setting, best_r, worst_r)["verdict"])
# ```
#
# Read the answer off the output: "beats" (a Holm-corrected p under `statistics.ALPHA`, in the one-setting
# family) means $r$ matters for that $N$; "cannot tell apart" means the seeds do not show it. Compare the
# differences across $N$ only through their intervals: a larger difference with a wide interval is not a larger
# effect until the intervals say so.
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
#
# **4.** Train two cells that are not in the grid, $(N, r) = (4, 0.3)$ and $(6, 0.15)$, with the preset's settings
# and one seed, and place them against the grid. Keep every other setting: a run with fewer epochs would not be
# comparable with the grid's cells. Each run takes a few minutes on one CPU core (the grid's runs took about as
# long; `grid["elapsed_s"]` has their times). Before you run it, predict where each lands.
#
# <details><summary>Solution</summary>
#
# ```python
# NEW_CELLS = [(4, 0.3), (6, 0.15)]  # not in the grid
# config = experiments.smoke_config() if cfg.smoke else experiments.experiment_config(PRESET, smoke=False)
# new_runs = pd.concat(
#     [
#         studies.run_parameter_study(
#             config, N_values=[n], r_values=[r], seeds=[0],
#             out_dir=experiments.runs_root(smoke=cfg.smoke) / f"08_new_N{n}_r{r:g}",
#         )
#         for n, r in NEW_CELLS
#     ]
# )
# print("smoke mode: one tiny epoch on a small glyph set, not a result" if cfg.smoke else "glyphs_hard, 1 seed each:")
# print(new_runs[["N", "r", "k", "seed", "R@1", "elapsed_s", "cached"]].to_string(index=False))
# study_views.plot_metric_against(grid, x="k", new=new_runs, title="the grid (5 seeds per cell) and the new runs (stars)")
# ```
#
# Each star is one run of one seed. Read it against the grid's dots, the single seeds of each cell: a star inside
# the spread of its neighbours' seeds is what one more seed of a similar cell would give. One seed cannot be
# compared with the grid's five-seed means beyond that seed spread: it has no spread of its own, so Welch's test has
# nothing to test against. To claim that a new cell beats a grid cell, train it with the grid's seeds
# (`seeds=sorted(grid["seed"].unique())`) and compare with `study_tables.study_comparisons`.
#
# </details>
