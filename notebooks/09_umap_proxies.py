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
# [← 08 Parameter study of N and r](08_parameter_study_N_r.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [10 Ablation table →](10_ablation_table.ipynb) · about 20 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/09_umap_proxies.ipynb)
#
# # 9. UMAP views of proxies and embeddings
#
# *ProxyGML notebooks, part 9 of 11.*
#
# **Learning goals.** After this notebook you can
#
# 1. draw sample embeddings and proxies of a real training run in one 2-D map, at several epochs, with one UMAP
#    fitted once on all epochs so that the epochs share the map;
# 2. tell from measurements, not from the picture alone, whether the $N$ proxies of a class spread over its
#    samples or merge into one point;
# 3. compare what happens for $N = 1$, $4$ and $12$, and relate it to notebook 5 (toy data) and to the authors'
#    remark that similar proxies end up close late in training.
#
# **Prerequisites.** Notebooks 5 (proxies moving on toy data) and 6 (a training run on `glyphs_hard`).

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
import numpy as np
import pandas as pd

from proxygml_lite.lab import proxy_spread_views, study_tables, study_widgets, umap_maps, umap_views

pd.set_option("display.precision", 3)
PRESET = "glyphs_hard"
results = study_tables.committed_results_dir(PRESET)
files = umap_maps.snapshot_files(results)  # {N: the r = 0.05, seed 0 snapshot file}
print(f"snapshot files in results/{PRESET}/snapshots: " + ", ".join(p.name for p in files.values()))
snapshots = {n: umap_views.read_snapshots(path) for n, path in sorted(files.items())}
for n, runs in snapshots.items():
    print(
        f"N = {n:2d}: epochs {[s.epoch for s in runs]}, {len(runs[0].labels)} training samples, "
        f"{len(runs[0].proxies)} proxies of dimension {runs[0].proxies.shape[1]}"
    )

# %% [markdown]
# ## What was saved
#
# `make studies` trained the grid cells $r = 0.05$, seed 0, of notebook 8 with two extra switches,
# `save_proxies=True` and `save_embeddings=True`: after every listed epoch the run kept its proxies
# $P \in \mathbb{R}^{CN \times d}$ and the embeddings of a fixed, seeded subset of **training** samples (the
# proxies belong to the training classes, so these are the samples they are meant to represent). Epoch 0 is the
# network and the proxies before training. The files are committed, so this notebook needs no training.
#
# UMAP (McInnes et al., 2018) maps the $d$-dimensional points to 2-D so that near neighbours stay near. One map is
# fitted per run on the samples **and** proxies of **all** its epochs together (cosine metric, seeded), so a point
# that does not move between epochs stays at the same place in the drawing. For a clear picture (and a fit of
# seconds) the map holds 12 of the 100 training classes and four of the saved epochs. The first UMAP call compiles numba code; the warm-up does that once:

# %%
warm_up_seconds = umap_views.warm_up_umap()

# %%
CLASSES = list(range(cfg.pick(full=12, smoke=6)))
MAP_EPOCHS = (0, 2, 10, 50)  # mapped epochs (where saved); the measurements below use every saved epoch
# The full-mode maps are committed (results/glyphs_hard/umap_maps.npz): a seeded UMAP still differs a little
# from one processor to the next, so every machine reads the same map; other settings are fitted here.
views = umap_maps.umap_maps(
    files,
    classes=CLASSES,
    epochs=MAP_EPOCHS,
    seed=cfg.seed,
    n_epochs=cfg.pick(full=200, smoke=20),
    maps_file=results / umap_maps.MAPS_FILE,
)
for name, view in views.items():
    points = sum(len(s) + len(p) for s, p in zip(view.samples, view.proxies))
    print(f"{name}: one UMAP of {points} points (epochs {view.epochs}), its fit took {view.fit_seconds:.1f} s")

# %% [markdown]
# ## Three epochs of one run ($N = 12$)
#
# Dots are training samples, stars the $N = 12$ proxies of each class, in the class's colour; six classes are
# coloured, the other mapped classes are grey.

# %%
largest = max(snapshots)
view = views[f"N = {largest}"]
shown_epochs = [view.epochs[0], view.epochs[len(view.epochs) // 2], view.epochs[-1]]
fig = umap_views.plot_umap_epochs(view, epochs=shown_epochs, classes=CLASSES[:6])
save_figure(fig, "09_umap_epochs_largest_N")

# %% [markdown]
# The same for the smallest $N$ of the files, where every class has a single proxy:

# %%
smallest = min(snapshots)
view_small = views[f"N = {smallest}"]
fig = umap_views.plot_umap_epochs(
    view_small,
    epochs=[view_small.epochs[0], view_small.epochs[len(view_small.epochs) // 2], view_small.epochs[-1]],
    classes=CLASSES[:6],
)
save_figure(fig, "09_umap_epochs_smallest_N")

# %% [markdown]
# ## Spread or merge? Measured in the embedding space
#
# A 2-D map can put points together that are apart in $d$ dimensions, and the other way round. So the question is
# answered with cosines in the original space (`proxy_spread_views.proxy_spread`, per class, then averaged over the 100
# training classes):
#
# * **proxy cosine**: mean cosine between two different proxies of a class (1 = merged into one point);
# * **sample cosine**: mean cosine between two samples of the class (how spread the class itself is);
# * **proxy groups**: how many groups the $N$ proxies form when proxies with cosine $\ge 0.95$ count as one
#   ($N$ = all distinct, 1 = all merged);
# * **proxies used**: how many of the $N$ proxies are the nearest own proxy of at least one sample.
#
# If the proxies spread over the modes of a class, their cosine should be about as low as the samples' and several
# proxies should be "used"; if they merge, their cosine approaches 1 and one group remains.

# %%
spread = {f"N = {n}": proxy_spread_views.spread_over_epochs(runs) for n, runs in snapshots.items()}
pd.concat(spread.values(), ignore_index=True)

# %%
fig = proxy_spread_views.plot_proxy_spread({name: table for name, table in spread.items() if not name.endswith("= 1")})
save_figure(fig, "09_proxy_spread")

# %%
for name, table in spread.items():
    first, last = table.iloc[0], table.iloc[-1]
    if np.isnan(last["proxy cosine"]):
        print(
            f"{name}: one proxy per class, nothing to merge; sample cosine within a class "
            f"{first['sample cosine']:.3f} (epoch {int(first['epoch'])}) -> {last['sample cosine']:.3f} "
            f"(epoch {int(last['epoch'])})"
        )
        continue
    n = int(last["N"])
    print(
        f"{name}: proxy cosine {first['proxy cosine']:.3f} -> {last['proxy cosine']:.3f}, sample cosine "
        f"{first['sample cosine']:.3f} -> {last['sample cosine']:.3f}; proxy groups {first['proxy groups']:.1f} -> "
        f"{last['proxy groups']:.1f} of {n}; proxies used {first['proxies used']:.1f} -> {last['proxies used']:.1f} "
        f"(epochs {int(first['epoch'])} -> {int(last['epoch'])})"
    )
    merged = table[table["proxy groups"] <= 1.05]
    if len(merged):
        print(f"    one group per class (proxy groups <= 1.05) from epoch {int(merged['epoch'].iloc[0])} on")

# %% [markdown]
# What the measurements say (the lines above): where a class has several proxies, they **merge**. Their mean
# cosine goes to about 1 and a single group per class remains, from the epoch printed on, while the class's own
# samples stay spread (their mean cosine at the last epoch is far below the proxies'). So on `glyphs_hard`, as on
# the toy data of notebook 5 and as the authors' feedback says of late training, the $N$ proxies of a class do not
# spread over its modes; they act like one proxy with an $N$-fold vote (exercise 3). A "proxies used" count above 1
# does not contradict this: when the proxies of a class coincide, which of them is the nearest to a sample is
# decided by differences far below the merge threshold. The UMAP pictures agree: the stars of a class sit on one
# spot. (If you change the data or the preset, re-read the numbers: this paragraph describes the committed run.)

# %% [markdown]
# ## Explore
#
# Choose the run ($N$), the epoch and the classes to colour. Every epoch is drawn in the same map.

# %%
study_widgets.umap_widget(views, classes=4)

# %% [markdown]
# ## Summary
#
# * One seeded UMAP per run, fitted on all its epochs, shows samples and proxies moving in a shared map.
# * Whether a class's proxies spread or merge is read from the printed cosines and group counts, not from the
#   picture; the lines above state what this run did for each $N$.
# * Notebook 5 found merging proxies on toy data, and the authors write that similar proxies end up close to each
#   other late in training; compare the printed numbers with both.

# %% [markdown]
# ## Exercises
#
# **1.** Fit the $N = 12$ map on the last epoch alone and compare it with the shared map. Why would separate maps
# per epoch be misleading for a "movement" picture?
#
# <details><summary>Solution</summary>
#
# ```python
# alone = umap_views.fit_umap(snapshots[largest][-1:], classes=CLASSES, seed=cfg.seed)
# umap_views.plot_umap_snapshot(alone, epoch=alone.epochs[0], classes=CLASSES[:6])
# ```
#
# UMAP's layout is only defined up to rotations, reflections and a lot of stretching; two separate fits put the same
# points at unrelated places, so differences between them say nothing about movement. A single fit on all epochs
# gives every epoch the same coordinates system.
#
# </details>
#
# **2.** Change the merge threshold of `proxy_spread` to 0.8 and 0.99. How sensitive is the "proxy groups"
# count, and which number is robust to that choice?
#
# <details><summary>Solution</summary>
#
# ```python
# for threshold in (0.8, 0.95, 0.99):
#     print(threshold, proxy_spread_views.spread_over_epochs(snapshots[largest], merge_cosine=threshold).iloc[-1].to_dict())
# ```
#
# The group count depends on the threshold by construction; the mean proxy cosine does not, so it is the number to
# quote, with the sample cosine beside it as the scale of the class.
#
# </details>
#
# **3.** With $N = 12$, $r = 0.05$ and $C = 100$, how many places of each subgraph are left for proxies of other
# classes once the own proxies are in? What does that imply if a class's 12 proxies merge?
#
# <details><summary>Solution</summary>
#
# `steps.subgraph_size(0.05, 100, 12) - 12` $= 48$. If the 12 proxies of a class merge, they act like one proxy
# with 12 times its vote: the own-class vote $Z_{iy_i}$ becomes $12 \times$ the cosine to that point, and the 48 other
# places still go to other classes' proxies. The subgraph then works like $N = 1$ with a larger weight on the own
# class, which is one reason why more proxies need not mean more modes covered.
#
# </details>
