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
#    Products' 11,318, for ProxyGML (both of the paper's settings) and three proxy-based baselines, measured on this
#    project's CPU machine;
# 2. tell which differences between timings are real: repeated measurements, their spread, and a test (Welch on
#    the log times, Holm-corrected) instead of one number per cell;
# 3. say precisely what the paper's "fewer is more" claims: each sample's subgraph keeps only $k \ll CN$ proxies,
#    not that ProxyGML holds fewer proxies than its competitors;
# 4. check that claim on the `glyphs_hard` preset: accuracy against $k$ for every $N$ and $r$, with the seeds;
# 5. find out which steps of the loss $k$ actually makes cheaper, and which it does not touch.
#
# **Prerequisites.** Notebooks 2 ($k = \lceil rCN \rceil$, $W$), 4 ($\mathcal{L}^p$) and 8 (the $N \times r$ grid).

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

from proxygml_lite.lab import (
    efficiency_findings,
    efficiency_views,
    grid_findings,
    study_tables,
    study_widgets,
    subgraph_cost,
    timing_comparisons,
)
from proxygml_lite.studies.efficiency_table import efficiency_cells

pd.set_option("display.precision", 3)
PRESET = "glyphs_hard"
efficiency = study_tables.read_study_table("efficiency", preset=PRESET)
grid = study_tables.read_study_table("grid", preset=PRESET)
cells = efficiency_cells(efficiency)  # one row per (series, C), either table format, the repeats as lists
setting = cells.iloc[0]
kept = sorted(set(cells.loc[cells["measured"], "repeats"]))
print(
    f"results/{PRESET}/efficiency.csv: {int(cells['measured'].sum())} measured cells, "
    f"{int((~cells['measured']).sum())} skipped; series {list(dict.fromkeys(cells['series']))}; "
    f"B = {int(setting['batch_size'])}, d = {int(setting['dim'])}; repeat times kept per cell: "
    + (", ".join(map(str, kept)) if kept != [0] else "none (the table predates them: median and fastest only)")
)
machines = sorted(set(cells.loc[cells["measured"], "machine"]) - {""})
print(
    "timed on: "
    + (", ".join(machines) + f" ({', '.join(sorted(set(cells['cpu']) - {''}))})" if machines else "not recorded")
)

# %% [markdown]
# ## The loss layer against the number of classes
#
# Each cell of the table times one forward + backward pass of the loss layer alone (random unit-length
# embeddings, no network), repeated, with one thread, on this project's CPU machine
# (`python -m proxygml_lite.studies --studies efficiency`; the runner times the series of one $C$ in turns). Two ProxyGML series follow the paper's settings:
# $N = 12$, $\lambda = 0.3$ (CUB-200, Cars196) and $N = 1$, $\lambda = 0$ (SOP), both with $r = 0.05$. SoftTriple,
# ProxyNCA and Proxy-Anchor are the pytorch-metric-learning implementations with their defaults (SoftTriple with
# its 10 centres per class). Before it measures a cell, the runner *estimates* the memory it needs and skips the
# cell, without running anything, when the estimate exceeds its cap; the `skipped` column says so.
#
# **Predict first.** ProxyNCA and Proxy-Anchor compare each sample with $C$ proxies, SoftTriple with $10C$
# centres, ProxyGML with $CN$ proxies, and with $\lambda > 0$ its $\mathcal{L}^p$ compares all $CN$ proxies with $C$
# class sums.
# Which series should grow fastest with $C$, and roughly how fast (as $C$ or as $C^2$)?

# %%
cells.pivot_table(index="num_classes", columns="series", values="time_ms", sort=False).round(2)

# %%
print(cells.loc[~cells["measured"], ["series", "num_classes", "skipped"]].to_string(index=False))

# %% [markdown]
# The figure draws each cell's median time with a bar over its repeats (the legend says which), log-log; the
# dashed lines mark CUB-200's 100 and SOP's 11,318 training classes, and where a series ends early the figure says
# why.

# %%
fig = efficiency_views.plot_cost_series(
    efficiency, value="time_ms", title="loss layer: forward + backward per iteration"
)
save_figure(fig, "11_time_vs_classes")

# %% [markdown]
# One number per cell hides how noisy a timing on a shared machine is. The paragraph below is written by the
# cell from the table: how far the median lies from the fastest repeat, and, where the table keeps every repeat,
# which differences between series a test supports.

# %%
display(Markdown(efficiency_findings.noise_findings(efficiency)))

# %%
comparisons = timing_comparisons.compare_series(efficiency)  # empty for a table without its repeats
display(Markdown(efficiency_findings.ordering_findings(efficiency, comparisons)))

# %% [markdown]
# Memory: `saved_tensors_mb` is what autograd keeps for the backward pass (independent of the device);
# `peak_rss_mb` is how far the process's resident memory peaks above its size before one iteration, in a fresh
# process (CPU; it is the first iteration, so it includes what a first pass loads besides the loss's tensors).

# %%
fig = efficiency_views.plot_cost_series(
    efficiency, value="saved_tensors_mb", title="loss layer: tensors saved for backward"
)
save_figure(fig, "11_memory_vs_classes")

# %%
display(Markdown(efficiency_findings.memory_findings(efficiency)))

# %%
largest = cells["num_classes"].max()
print(f"at C = {largest:,}:")
for _, row in cells[cells["num_classes"] == largest].iterrows():
    if row["measured"]:
        print(
            f"  {row['series']:22s} {row['time_ms']:8.2f} ms (median; fastest {row['time_ms_min']:.2f}), "
            f"saved {row['saved_tensors_mb']:6.1f} MB, {int(row['loss_parameters']):>10,d} learnable values"
        )
    else:
        print(f"  {row['series']:22s} skipped, not attempted: {row['skipped']}")

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
#
# **Predict first.** For each $N$, will the smallest $r$ of the grid (the fewest proxies per subgraph) give the
# best Recall@1, or a larger one? And how many seeds would you need to tell two $r$ values a point apart?

# %%
k_comparisons, k_findings = grid_findings.fewer_is_more(grid)  # every pair of r within each N, Holm
display(Markdown(k_findings))

# %% [markdown]
# Every comparison behind that paragraph, in points of R@1 (difference = A - B, its per-pair 95% interval, Welch's p
# Holm-corrected across all 45 pairs of cells that differ in N only or in r only, as in notebook 8; the table shows
# the 15 pairs of r within each N):

# %%
points = {c: 100 * k_comparisons[c] for c in ["difference", "CI low", "CI high"]}
k_comparisons.assign(**points)[["N", "A", "B", "difference", "CI low", "CI high", "p (Holm)"]].round(3)

# %% [markdown]
# ## Accuracy and cost against $k$ on the preset
#
# Left: Recall@1 of every grid cell against its $k$ (colour: $N$). Right: the loss layer's time for the same
# $(N, r)$ at the preset's $C = 100$, $d = 64$, $B = 32$, measured now on this machine (median of the repeats).

# %%
summary = study_tables.summarize_seeds(grid, by=["N", "r"])
grid_cells = [(int(n), float(r)) for n, r in summary[["N", "r"]].itertuples(index=False)]
dim = int(study_tables.config_of(grid)["dim"])
cost = subgraph_cost.cost_against_k(grid_cells, num_classes=100, dim=dim, repeats=cfg.pick(full=30, smoke=2))
cost[["N", "r", "k", "CN", "time_ms", "time_ms_min", "saved_tensors_mb"]]

# %%
fig = efficiency_views.plot_accuracy_cost_vs_k(grid, cost=cost, title=f"{PRESET}: accuracy and cost against k")
save_figure(fig, "11_accuracy_cost_vs_k")

# %% [markdown]
# ## Which steps does $k$ make cheaper?
#
# One forward + backward of ProxyGML split into its steps, with the CUB/Cars setting $N = 12$ at $C = 300$
# classes ($CN = 3{,}600$ proxies, $d = 512$), for three values of $r$, so $k = 18$, $180$ and $1{,}800$. Each step
# is timed on its own, repeated: its input is made once (the previous step's output, detached), and the clock runs
# over that step's forward and backward only. The whole layer is timed in one go beside it. All of them, for all
# three $k$, are timed in turns (one repeat of each, then the next round), so the machine's load changes them alike. The similarity graph
# and $\mathcal{L}^p$ do not depend on $k$; only the top-$k$ selection and the $Z = WY^p$ / mask-softmax part can.
# ($\mathcal{L}^p$ compares all $CN$ proxies with all $C$ class sums: a $CN \times C$ matrix, which is why the
# runner's memory estimate for the $N = 12$, $\lambda = 0.3$ series grows as $C^2$ and passes its cap at SOP's size.)
#
# **Predict first.** When $k$ grows a hundred-fold, which bar will grow, and will the whole layer get noticeably
# slower?

# %%
times = subgraph_cost.step_times(
    num_classes=300, proxies_per_class=12, r_values=(0.005, 0.05, 0.5), dim=512, repeats=cfg.pick(full=20, smoke=2)
)
fig = efficiency_views.plot_step_times(times, title="ProxyGML step by step, C = 300, N = 12, d = 512, B = 32")
save_figure(fig, "11_step_times")

# %%
per_k = times.pivot_table(index="k", columns="step", values="time_ms", sort=False)
per_k[list(subgraph_cost.STEPS) + [subgraph_cost.WHOLE_LAYER]].round(2)

# %%
display(Markdown(efficiency_findings.step_findings(times)))

# %% [markdown]
# ## Explore
#
# Choose time or memory and the series.

# %%
study_widgets.cost_widget(efficiency)

# %% [markdown]
# ## Summary
#
# * The committed table measures each loss layer's time and memory per iteration against $C$, with every repeat
#   kept and the machine it ran on; the paragraphs above are written from it by the cells, and an ordering is
#   claimed only where the Holm-corrected test separates two series. A timing is a distribution, not a number, and
#   it belongs to its processor: keep the repeats, test, and measure again where you train
#   (`python -m proxygml_lite.studies --studies efficiency`).
# * A cell the runner skipped was never run: its memory was *estimated* above the cap.
# * The paper's "fewer is more" is about $k$, the few proxies in each subgraph. The grid paragraph says, for each
#   $N$, which $r$ has the highest mean and which pairs of $r$ the seeds can tell apart; comparing only the smallest
#   and largest $k$ can hide a middle $r$ that does better than both.
# * What $k$ changes is the top-$k$/vote/softmax part; the dense similarity $S = XP^\top$ and $\mathcal{L}^p$ cost
#   the same for every $k$, by construction (the step-by-step measurement above gives their share here).

# %% [markdown]
# ## Exercises
#
# **1.** At $C = 11{,}318$, how many proxies does each sample's subgraph hold with the SOP setting ($N = 1$,
# $r = 0.05$) and with the CUB/Cars setting ($N = 12$, same $r$)? Compare them with the whole proxy set of $N = 1$.
#
# <details><summary>Solution</summary>
#
# ```python
# from proxygml_lite import steps
#
# steps.subgraph_size(0.05, 11318, 1), steps.subgraph_size(0.05, 11318, 12)
# ```
#
# $566$ and $6{,}791$. At a fixed $r$, $k$ grows with $N$: the $N = 12$ subgraph holds about twelve times as many
# proxies as the $N = 1$ one, yet still fewer than the whole $N = 1$ proxy set of $11{,}318$.
#
# </details>
#
# **2.** The similarity graph $S$ is $B \times CN$. Estimate its size in MB for $B = 32$, $N = 12$ in float32 at
# the largest $C$ where the table measured the $N = 12$, $\lambda = 0.3$ series, and compare it with that series'
# saved-tensor memory there. What takes the rest? (Hint: the shape of $\mathcal{L}^p$'s logits.)
#
# <details><summary>Solution</summary>
#
# ```python
# from proxygml_lite.studies.efficiency_table import efficiency_cells
#
# n12 = efficiency_cells(efficiency).query("series == 'ProxyGML N=12 λ=0.3' and measured").set_index("num_classes")
# c = int(n12.index.max())
# s_mb = 32 * c * 12 * 4 / 2**20  # S: B x CN float32 values
# logits_mb = c * 12 * c * 4 / 2**20  # L^p's logits: CN x C float32 values
# print(f"C = {c:,}: S {s_mb:.1f} MB, L^p logits {logits_mb:.0f} MB, saved {n12.loc[c, 'saved_tensors_mb']:.0f} MB")
# ```
#
# $S$ is a small part of what autograd keeps: most of the saved memory is $\mathcal{L}^p$'s $CN \times C$ logits,
# which grow as $C^2 N$ while $S$ grows as $CN$. The top-$k$ part adds only $B \times k$ values. That is also why the
# runner's estimate for this series passes its memory cap at SOP's $C$.
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
#
# **4.** The timings are compared with Welch's test on the *logarithms* of the repeat times. Why the logarithm, and
# why might the test still be too confident?
#
# <details><summary>Solution</summary>
#
# Noise on a shared machine stretches a repeat by a factor (a busy core slows every instruction of it), so times
# are skewed and their spread grows with the time itself; on the log scale a factor becomes a shift, and the
# difference of mean logs is the log of a time ratio, which is what one wants to compare across series that differ
# by orders of magnitude. The runner times the series of one $C$ in turns, so a change in the machine's load slows
# them alike; but
# successive rounds share the machine's state (a slow stretch slows several rounds together), so the repeats are not
# independent draws, and a test that treats them as independent underestimates the uncertainty.
#
# </details>
