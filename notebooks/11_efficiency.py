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
# [← 10 Ablation table](10_ablation_table.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · about 20 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/11_efficiency.ipynb)
#
# # 11. Efficiency: what "fewer" buys
#
# *ProxyGML notebooks, part 11 of 11.*
#
# **Learning goals.** After this notebook you can
#
# 1. read the loss layer's time and memory per iteration against the number of classes $C$, up to Stanford Online
#    Products' 11,318, for ProxyGML (both of the paper's settings) and three proxy-based baselines, measured here;
# 2. say precisely what the paper's "fewer is more" claims: each sample's subgraph keeps only $k \ll CN$ proxies,
#    not that ProxyGML holds fewer proxies than its competitors;
# 3. check that claim on the `glyphs_hard` preset: accuracy and cost against $k$, with the seed spread;
# 4. find out which steps of the loss $k$ actually makes cheaper, and which it does not touch.
#
# **Prerequisites.** Notebooks 2 ($k = \lceil rCN \rceil$, $W$), 4 ($\mathcal{L}^p$) and 8 (the $N \times r$ grid).

# %%
# Install cell: on Colab, a JupyterHub or in a bare folder it installs proxygml_lite (the committed study
# tables come with it); where the package is already importable (this course's checkout) it does nothing.
SOURCE = "proxygml_lite==0.1.0"  # or a wheel's URL or path, or "git+https://github.com/OWNER/proxygml_lite@v0.1.0"
# the tested versions:
CONSTRAINTS = "https://raw.githubusercontent.com/OWNER/proxygml_lite/v0.1.0/constraints.txt"  # "" for none
import importlib.util
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("proxygml_lite") is None and Path("../proxygml_lite/__init__.py").is_file():
    sys.path.insert(0, str(Path("..").resolve()))  # a checkout without an installed package: use its copy
if importlib.util.find_spec("proxygml_lite") is not None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        print(f"proxygml_lite {version('proxygml_lite')} is already importable: nothing to install.")
    except PackageNotFoundError:
        print("proxygml_lite is importable from this checkout: nothing to install.")
else:
    command = [sys.executable, "-m", "pip", "install", "-q", SOURCE] + (["-c", CONSTRAINTS] if CONSTRAINTS else [])
    print("installing:", " ".join(command[4:]))
    subprocess.run(command, check=True)
    print(f"installed {SOURCE}; the committed study tables come with it.")

# %%
from proxygml_lite.teaching.notebook import save_figure, setup

cfg = setup(seed=0)

# %%
import pandas as pd

from proxygml_lite import statistics
from proxygml_lite.lab import study_tables, study_views, study_widgets, subgraph_cost

pd.set_option("display.precision", 3)
PRESET = "glyphs_hard"
efficiency = study_tables.read_study_table("efficiency", preset=PRESET)
grid = study_tables.read_study_table("grid", preset=PRESET)
setting = efficiency.iloc[0]
print(
    f"results/{PRESET}/efficiency.csv: {len(efficiency)} measurements, series "
    f"{list(dict.fromkeys(efficiency['series']))}; B = {setting['batch_size']}, d = {setting['dim']}, "
    f"device {setting['device']}, {setting['threads']} thread(s)"
)

# %% [markdown]
# ## The loss layer against the number of classes
#
# Each point is the median time of one forward + backward pass of the loss layer alone (random unit-length
# embeddings, no network), measured on this project's CPU machine by `make studies`. Two ProxyGML series follow the
# paper's settings: $N = 12$, $\lambda = 0.3$ (CUB-200, Cars196) and $N = 1$, $\lambda = 0$ (SOP), both with
# $r = 0.05$. SoftTriple, ProxyNCA and Proxy-Anchor are the pytorch-metric-learning implementations with their
# defaults (SoftTriple with its 10 centres per class). A series missing at large $C$ did not fit in memory or time.
# The dashed lines mark CUB's 100 and SOP's 11,318 training classes.

# %%
pivot = efficiency.pivot_table(index="num_classes", columns="series", values="time_ms", sort=False)
pivot.round(2)

# %%
fig = study_views.plot_cost_series(efficiency, value="time_ms", title="loss layer: forward + backward per iteration")
save_figure(fig, "11_time_vs_classes")

# %% [markdown]
# Memory: `saved_tensors_mb` is what autograd keeps for the backward pass (independent of the device);
# `peak_rss_mb` is the growth of the process's memory during one iteration (CPU).

# %%
fig = study_views.plot_cost_series(efficiency, value="saved_tensors_mb", title="loss layer: tensors saved for backward")
save_figure(fig, "11_memory_vs_classes")

# %%
largest = efficiency["num_classes"].max()
at_largest = efficiency[efficiency["num_classes"] == largest].set_index("series")
print(f"at C = {largest}:")
for series, row in at_largest.iterrows():
    print(
        f"  {series:22s} {row['time_ms']:8.2f} ms, saved {row['saved_tensors_mb']:8.1f} MB, "
        f"{int(row['loss_parameters']):>10,d} learnable values"
    )
missing = sorted(set(efficiency["series"]) - set(at_largest.index))
if missing:
    print("not measured at this C (did not fit):", ", ".join(missing))

# %%
for c, rows in efficiency.groupby("num_classes"):
    rows = rows.set_index("series")["time_ms"]
    print(f"C = {c:5d}: fastest {rows.idxmin()} ({rows.min():.2f} ms), slowest {rows.idxmax()} ({rows.max():.2f} ms)")

# %% [markdown]
# Read from the lines above: with the CUB/Cars setting ($N = 12$, $\lambda = 0.3$), ProxyGML's loss layer is the
# **slowest** series at every $C$ it was measured at, and it was not measured at SOP's size at all (it did not fit);
# the step-by-step timing further down shows that $\mathcal{L}^p$, which compares all $CN$ proxies with all $C$
# class sums, is what costs. With the SOP setting ($N = 1$, $\lambda = 0$) it is the fastest series at
# $C = 11{,}318$. So the paper's efficiency advantage shows here only in its SOP setting. These are CPU times on a
# shared machine, one thread; the ordering, not the milliseconds, is the finding.

# %% [markdown]
# ## What "fewer" means in the paper
#
# ProxyGML with $N = 12$ holds **more** proxies than ProxyNCA or Proxy-Anchor (one per class): $CN$ of them, and the
# similarity graph $S = XP^\top$ is $B \times CN$. The paper's claim is different: every sample's subgraph $W$ keeps
# only
#
# $$k = \lceil r C N \rceil \ll C N$$
#
# proxies ($k = 60$ of $1{,}200$ for $C = 100$, $N = 12$, $r = 0.05$), and the reverse label propagation $Z = WY^p$
# and the mask softmax work on these few. "Fewer is more" then says: **a small $k$ is as good as, or better than, a
# large one**. That is the claim checked here, on the committed grid of notebook 8 ($C = 100$).

# %%
summary = study_tables.summarize_seeds(grid, by=["N", "r"])
comparisons = study_tables.study_comparisons(grid, "grid")  # every pair of cells, Holm-corrected across them all
for n, cells in summary.groupby("N"):
    cells = cells.sort_values("k")
    if len(cells) < 2:
        print(f"N = {int(n):2d}: only one r in the table, nothing to compare")
        continue
    few, many = cells.iloc[0], cells.iloc[-1]
    pair = statistics.find_comparison(
        comparisons,
        statistics.cell_label(["N", "r"], (n, few["r"])),
        statistics.cell_label(["N", "r"], (n, many["r"])),
    )
    print(
        f"N = {int(n):2d} (CN = {100 * int(n):5d}): k = {int(few['k']):3d} -> R@1 "
        f"{study_tables.format_mean_std(few['R@1 mean'], few['R@1 std'])}; k = {int(many['k']):3d} -> "
        f"{study_tables.format_mean_std(many['R@1 mean'], many['R@1 std'])}: {pair['verdict']}"
    )
best = summary.loc[summary["R@1 mean"].idxmax()]
print(
    f"best cell of the grid: N = {int(best['N'])}, r = {best['r']:g}, k = {int(best['k'])} of CN = "
    f"{100 * int(best['N'])} ({100 * best['k'] / (100 * best['N']):.0f} % of the proxies)"
)

# %% [markdown]
# So, per $N$ (lines above): for $N = 1$ the smallest $k$ is better than the largest beyond the spread, for $N = 4$
# the largest $k$ is slightly better beyond the spread, and for $N = 12$ the difference is within the spread. The
# best cell of the grid keeps 15 % of its proxies in each subgraph. "Fewer is more" in the sense of the paper (a
# small $k$ is enough) is therefore supported only partly here: a small $k$ is never far behind, but it is not
# better across the board.

# %% [markdown]
# ## Accuracy and cost against $k$ on the preset
#
# Left: Recall@1 of every grid cell against its $k$ (colour: $N$). Right: the loss layer's time for the same
# $(N, r)$ at the preset's $C = 100$, $d = 64$, $B = 32$, measured now on this machine.

# %%
cells = [(int(n), float(r)) for n, r in summary[["N", "r"]].itertuples(index=False)]
dim = int(study_tables.config_of(grid)["dim"])
cost = subgraph_cost.cost_against_k(cells, num_classes=100, dim=dim, repeats=cfg.pick(full=30, smoke=2))
cost[["N", "r", "k", "CN", "time_ms", "saved_tensors_mb"]]

# %%
fig = study_views.plot_accuracy_cost_vs_k(grid, cost=cost, title=f"{PRESET}: accuracy and cost against k")
save_figure(fig, "11_accuracy_cost_vs_k")

# %% [markdown]
# ## Which steps does $k$ make cheaper?
#
# One forward + backward of ProxyGML split into its steps, with the CUB/Cars setting $N = 12$ at $C = 300$
# classes ($CN = 3{,}600$ proxies, $d = 512$), for three values of $r$, so $k = 18$, $180$ and $1{,}800$. The
# similarity graph and $\mathcal{L}^p$ do not depend on $k$; only the top-$k$ selection and the $Z = WY^p$ /
# mask-softmax part can. ($\mathcal{L}^p$ compares all $CN$ proxies with all $C$ class sums: a $CN \times C$
# matrix, which is why the $N = 12$, $\lambda = 0.3$ series cannot go to SOP's size on a CPU.)

# %%
classes = cfg.pick(full=300, smoke=100)
times = subgraph_cost.step_times(
    num_classes=classes, proxies_per_class=12, r_values=(0.005, 0.05, 0.5), dim=512, repeats=cfg.pick(full=5, smoke=1)
)
fig = study_views.plot_step_times(times, title=f"ProxyGML step by step, C = {classes}, N = 12, d = 512, B = 32")
save_figure(fig, "11_step_times")

# %%
per_k = times.pivot_table(index="k", columns="step", values="time_ms", sort=False)
per_k["total"] = per_k.sum(axis=1)
print(per_k.round(2).to_string())
share = (per_k["S = X P^T"] + per_k["L^p"]) / per_k["total"]
print(
    "share of the time in the two k-independent steps (S and L^p):",
    ", ".join(f"k={k}: {100 * v:.0f} %" for k, v in share.items()),
)

# %% [markdown]
# In these timings the two steps that do not depend on $k$ take almost all of the time (the shares printed
# above), and $\mathcal{L}^p$ alone most of it. Growing $k$ a hundred-fold adds little. On this CPU, then, what
# the few proxies per subgraph save is small next to the dense $S$ and the regulariser; the cost of ProxyGML's
# loss layer is set by $CN$ and by $\lambda > 0$, not by $k$.

# %% [markdown]
# ## Explore
#
# Choose time or memory and the series.

# %%
study_widgets.cost_widget(efficiency)

# %% [markdown]
# ## Summary
#
# * The committed table measures the loss layers' time and memory per iteration against $C$ on this machine; the
#   printed lines at the largest $C$ give the numbers.
# * The paper's "fewer is more" is about $k$, the few proxies in each subgraph. On the preset, the printed
#   "fewer minus more" lines say for each $N$ whether the smallest $k$ of the grid is better, worse, or not
#   separable from the largest by the seed spread.
# * What $k$ saves is the top-$k$/vote/softmax part; the dense similarity $S = XP^\top$ and $\mathcal{L}^p$ cost
#   the same for every $k$ (the step-by-step table above).

# %% [markdown]
# ## Exercises
#
# **1.** At $C = 11{,}318$, how many proxies does each sample's subgraph hold with the SOP setting ($N = 1$,
# $r = 0.05$) and with the CUB/Cars setting ($N = 12$)?
#
# <details><summary>Solution</summary>
#
# ```python
# steps.subgraph_size(0.05, 11318, 1), steps.subgraph_size(0.05, 11318, 12)
# ```
#
# $566$ and $6{,}791$: with $N = 12$ the subgraph alone is larger than the whole proxy set of $N = 1$.
#
# </details>
#
# **2.** The similarity graph is $B \times CN$. Estimate its size in MB for $B = 32$, $C = 11{,}318$, $N = 12$ in
# float32, and compare it with the saved-tensor memory of the ProxyGML series at that $C$.
#
# <details><summary>Solution</summary>
#
# $32 \cdot 135{,}816 \cdot 4$ bytes $\approx 16.6$ MB. Autograd keeps $S$ (and a few tensors of the same size) for the
# backward pass, so the saved memory of that series is a small multiple of it; the top-$k$ part adds only
# $B \times k$ values.
#
# ```python
# 32 * 11318 * 12 * 4 / 2**20, at_largest.loc["ProxyGML N=12 λ=0.3", "saved_tensors_mb"]
# ```
#
# </details>
#
# **3.** Why is the comparison of loss layers on random embeddings fair for time and memory but says nothing about
# accuracy?
#
# <details><summary>Solution</summary>
#
# The cost of a loss layer depends on the shapes ($B$, $d$, $C$, $N$, $k$), not on the values of the embeddings, so
# random inputs of the right shape measure it exactly. Accuracy depends on what the layer teaches the network over
# a whole training run, which only training (notebooks 6, 8, 10) can measure.
#
# </details>
