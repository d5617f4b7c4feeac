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
# 1. tell from measurements, not from a picture, whether the $N$ proxies of a class spread over its samples or
#    merge into one point, and at which epoch;
# 2. draw sample embeddings and proxies of a real training run in 2-D at several epochs with an *aligned* UMAP
#    (one map per epoch, tied together), and check the drawn movement against the measured one;
# 3. read one-variable probes (5 seeds each) to test what makes a class's proxies merge, with confidence
#    intervals and Holm-corrected p-values.
#
# **Prerequisites.** Notebooks 5 (proxies moving on toy data), 6 (a training run on `glyphs_hard`) and 8 (seeds,
# confidence intervals and Holm's correction).

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

from proxygml_lite import steps  # noqa: F401 (exercise 3 uses it)
from proxygml_lite.lab import merging_probes, proxy_spread_views, study_tables, study_widgets, umap_maps, umap_views

pd.set_option("display.precision", 3)
PRESET = "glyphs_hard"
results = study_tables.committed_results_dir(PRESET)
seeds = umap_maps.snapshot_seeds(results)  # read from the file names, not typed
files = {seed: umap_maps.snapshot_files(results, seed=seed) for seed in seeds}  # {seed: {N: path}}
snapshots = {seed: {n: umap_views.read_snapshots(path) for n, path in by_n.items()} for seed, by_n in files.items()}
first = snapshots[seeds[0]]
print(
    f"snapshot set in results/{PRESET}/snapshots: N in {sorted(first)}, r = 0.05, seeds {seeds} "
    f"({sum(len(by_n) for by_n in files.values())} files)"
)
for n, runs in first.items():
    print(
        f"N = {n:2d}: epochs {[s.epoch for s in runs]}, {len(runs[0].labels)} training samples, "
        f"{len(runs[0].proxies)} proxies of dimension {runs[0].proxies.shape[1]}"
    )

# %% [markdown]
# ## What was saved
#
# `make studies` trained the grid cells $r = 0.05$ of notebook 8 (the seeds printed above) with two extra switches,
# `save_proxies=True` and `save_embeddings=True`: after every listed epoch the run kept its proxies
# $P \in \mathbb{R}^{CN \times d}$ and the embeddings of a fixed, seeded subset of **training** samples (the
# proxies belong to the training classes, so these are the samples they are meant to represent). Epoch 0 is the
# network and the proxies before training. The files are committed, so this notebook needs no training.
#
# ## Spread or merge? Measured in the embedding space
#
# A 2-D map can put points together that are apart in $d$ dimensions, and the other way round. So the question is
# answered first with cosines in the original space (`proxy_spread_views.proxy_spread`, per class, then averaged
# over the 100 training classes):
#
# * **proxy cosine**: mean cosine between two different proxies of a class (1 = merged into one point);
# * **sample cosine**: mean cosine between two samples of the class (how spread the class itself is);
# * **proxy groups**: how many groups the $N$ proxies form when proxies with cosine $> 0.95$ count as one
#   ($N$ = all distinct, 1 = all merged);
# * **proxies used**: how many of the $N$ proxies are the nearest own proxy of at least one sample;
# * **proxy cosine to epoch 0**: how far each proxy turned from its starting direction (1 = not at all).
#
# If the proxies spread over the modes of a class, their cosine should be about as low as the samples' and several
# proxies should be "used"; if they merge, their cosine approaches 1 and one group remains.
#
# **Predict first.** Before running the next cells: at epoch 0 the network is untrained and the proxies are random.
# Do you expect a class's samples to start close together (cosine near 1) or spread out? And by which epoch of 50
# do you expect the 12 proxies of a class to act as one?

# %%
spread = pd.concat(
    [
        proxy_spread_views.spread_over_epochs(runs).assign(seed=seed)
        for seed in seeds
        for runs in snapshots[seed].values()
    ],
    ignore_index=True,
)
spread.groupby(["N", "epoch"]).mean(numeric_only=True).drop(columns="seed").unstack("N").round(3)

# %%
fig = proxy_spread_views.plot_proxy_spread(
    {f"N = {n}": table for n, table in spread.groupby("N")},
    title=f"do the N proxies of a class spread or merge? mean over seeds {seeds}, band: their range",
)
save_figure(fig, "09_proxy_spread")

# %% [markdown]
# When do the proxies merge, and what do the samples do meanwhile? Both read from the table above:

# %%
merged = proxy_spread_views.merge_epochs(spread)
display(merged.pivot(index="N", columns="seed", values="merged at epoch"))
by_n = spread.groupby(["N", "epoch"]).mean(numeric_only=True)
last_epoch = int(spread["epoch"].max())
samples_start = spread[spread["epoch"] == 0]["sample cosine"].mean()
samples_end = spread[spread["epoch"] == last_epoch]["sample cosine"].mean()
lines = [
    f"- $N = {n}$: the mean within-class proxy cosine first exceeds {proxy_spread_views.MERGE_COSINE:g} at epoch "
    f"{', '.join(str(int(e)) for e in group['merged at epoch'])} (seeds {', '.join(str(s) for s in group['seed'])}) "
    f"of {last_epoch}; at epoch {last_epoch} it is {group['proxy cosine at the last epoch'].min():.6f} or more."
    for n, group in merged.groupby("N")
]
display(
    Markdown(
        "**Merging is early, not late.** "
        + f"Of {last_epoch} epochs:\n\n"
        + "\n".join(lines)
        + f"\n\n**The samples become spread.** Their mean within-class cosine falls from {samples_start:.3f} at epoch 0 "
        f"to {samples_end:.3f} at epoch {last_epoch} (mean over every N and seed): the untrained network maps every "
        "image near one direction, and training spreads each class out while its proxies collapse to one point."
    )
)

# %% [markdown]
# ## Pictures: an aligned UMAP per epoch
#
# UMAP (McInnes et al., 2018) maps the $d$-dimensional points to 2-D so that near neighbours stay near. One UMAP
# fitted on all epochs together gives them one map, but it pins a point's snapshots to about one place, however far
# the point moved (exercise 1 shows it). Here every epoch gets its own map, fitted together with the others by
# `umap.AlignedUMAP`: every sample and proxy is tied to itself in the next epoch, so the maps share their
# orientation and movement in the embedding space shows up as movement in the drawing. The lines are the proxies'
# paths through the mapped epochs. For a clear picture (and a fit of about a minute) the maps hold 12 of the 100 training
# classes and four of the saved epochs of seed 0.
#
# The first UMAP call compiles numba code; the warm-up does that once:

# %%
warm_up_seconds = umap_views.warm_up_umap()

# %%
CLASSES = list(range(cfg.pick(full=12, smoke=6)))
MAP_EPOCHS = (0, 2, 10, 50)  # mapped epochs (where saved); the measurements above use every saved epoch
map_files = umap_maps.snapshot_files(results, seed=seeds[0], runs=umap_maps.MAPPED_N)
# The full-mode maps are committed (results/glyphs_hard/umap_maps.npz): a seeded UMAP still differs a little
# from one processor to the next, so every machine reads the same maps; other settings are fitted here.
maps = umap_maps.umap_maps(
    map_files,
    classes=CLASSES,
    epochs=MAP_EPOCHS,
    seed=cfg.seed,
    n_epochs=cfg.pick(full=200, smoke=20),
    umap_settings=cfg.pick(full=umap_maps.WIDGET_UMAP, smoke=(umap_maps.DEFAULT_UMAP,)),
    maps_file=results / umap_maps.MAPS_FILE,
)
views = maps[umap_maps.DEFAULT_UMAP]
measures = {f"N = {n}": proxy_spread_views.spread_over_epochs(snapshots[seeds[0]][n]) for n in map_files}
for (n_neighbors, min_dist), by_run in maps.items():
    print(
        f"n_neighbors {n_neighbors}, min_dist {min_dist}: aligned maps of {', '.join(by_run)}, "
        f"fitted in {sum(v.fit_seconds for v in by_run.values()):.0f} s where they were made"
    )

# %% [markdown]
# **Predict first.** With $N = 1$ a class has one proxy, so nothing can merge. Does that proxy stay near its random
# starting direction, or does it turn far from it? Look at the map of $N = 1$, then read the measured cosine in each
# panel's title.

# %%
smallest = f"N = {min(map_files)}"
view = views[smallest]
fig = umap_views.plot_umap_epochs(
    view,
    epochs=view.epochs,
    classes=CLASSES[:6],
    titles=[proxy_spread_views.measured_title(measures[smallest], e) for e in view.epochs],
)
save_figure(fig, "09_umap_epochs_smallest_N")
print(
    f"{smallest}, seed {seeds[0]}: the proxies' mean cosine to their epoch-0 direction, measured in the embedding "
    "space: "
    + ", ".join(
        f"epoch {e}: {c:.2f}"
        for e, c in zip(measures[smallest]["epoch"], measures[smallest]["proxy cosine to epoch 0"])
    )
)

# %% [markdown]
# The same for the largest $N$, where every class starts with 12 proxies:

# %%
largest = f"N = {max(map_files)}"
view = views[largest]
fig = umap_views.plot_umap_epochs(
    view,
    epochs=view.epochs,
    classes=CLASSES[:6],
    titles=[proxy_spread_views.measured_title(measures[largest], e) for e in view.epochs],
)
save_figure(fig, "09_umap_epochs_largest_N")
print(
    f"{largest}, seed {seeds[0]}: mean cosine to the epoch-0 direction "
    + ", ".join(
        f"epoch {e}: {c:.2f}" for e, c in zip(measures[largest]["epoch"], measures[largest]["proxy cosine to epoch 0"])
    )
)

# %% [markdown]
# ## Why do a class's proxies merge? One variable at a time
#
# Several proxies per class are the paper's premise: they should capture the variation within a class. Here they
# merge within the first epochs. One observation points at the optimiser: the proxies start with a small norm and
# Adam moves them far in the first epoch. `make studies` trained probes of ablation row 8 (the grid cell $N = 12$,
# $r = 0.05$), each changing **one** variable, with 5 seeds each; the `change` column says what each changes.
#
# **Predict first.** Which of the four changes do you expect to keep the 12 proxies of a class apart until epoch 50:
# a unit-norm initialisation, a 10 times smaller proxy learning rate, SGD instead of Adam for the proxies, or
# $\lambda = 0$ (no $L^p$)?

# %%
probes = study_tables.read_study_table("probes", preset=PRESET)
probe_epochs = pd.read_csv(results / "probe_epochs.csv")
chosen = probes[probes["probe"].isin([merging_probes.BASE, *merging_probes.MERGING_PROBES])]
chosen.groupby("probe", sort=False).agg(
    change=("change", "first"),
    seeds=("seed", "nunique"),
    cos_within=(merging_probes.COSINE, "mean"),
    R1=("R@1", "mean"),
)

# %%
fig = merging_probes.plot_merging_curves(probe_epochs, probes)
save_figure(fig, "09_merging_probes")

# %%
comparisons = merging_probes.merging_comparisons(probes)
comparisons[["A", "B", "mean A", "mean B", "difference", "CI low", "CI high", "p (Holm)"]]

# %% [markdown]
# What the probes support, written from the two tables above:

# %%
display(Markdown(merging_probes.merging_findings(probe_epochs, comparisons)))

# %% [markdown]
# The study `probes` also holds notebook 10's probes, each more than one change away from row 8. They are no
# one-variable answer, but one of them may keep a class's proxies apart, and then it is worth asking at what cost:

# %%
display(Markdown(merging_probes.unmerged_elsewhere(probes)))

# %% [markdown]
# ## Explore
#
# Choose the run ($N$), the epoch, UMAP's `n_neighbors` and `min_dist` (each pair is its own aligned fit) and whether
# to draw the proxies' paths. The title gives the cosines measured in the embedding space at that epoch: compare
# them with what the picture suggests. Does a larger `n_neighbors` or `min_dist` change whether the stars of a class
# sit on one spot?

# %%
study_widgets.umap_widget(maps, measures)

# %% [markdown]
# ## Summary
#
# * Whether a class's proxies spread or merge is read from cosines in the embedding space, not from the picture:
#   the tables above give the epoch at which each $N$ passes the merge threshold and how the samples spread.
# * An aligned UMAP (one map per epoch, tied together) shows movement; a single fit over all epochs hides it.
# * The one-variable probes say which changes slow the merging and whether any prevents it, with the R@1 cost
#   of each read as a difference with its confidence interval and Holm-corrected p.
# * Notebook 5 found merging proxies on toy data; compare with the numbers printed here.

# %% [markdown]
# ## Exercises
#
# **1.** Fit one UMAP on all epochs of the $N = 1$ run together (`aligned=False`) and compare how far its stars
# move with the aligned maps. Which picture agrees with the measured cosine to epoch 0?
#
# <details><summary>Solution</summary>
#
# ```python
# shared = umap_views.fit_umap(
#     [s for s in snapshots[seeds[0]][1] if s.epoch in MAP_EPOCHS], classes=CLASSES, seed=cfg.seed, aligned=False
# )
# for name, fitted in (("one map for all epochs", shared), ("aligned maps", views["N = 1"])):
#     span = (fitted.samples[0].max(axis=0) - fitted.samples[0].min(axis=0)).mean()
#     moved = [((p - fitted.proxies[0]) ** 2).sum(axis=1).mean() ** 0.5 / span for p in fitted.proxies]
#     print(name, "proxy displacement from epoch 0, in map widths:", [round(float(m), 2) for m in moved])
# print("measured cosine to epoch 0:", measures["N = 1"]["proxy cosine to epoch 0"].round(2).tolist())
# ```
#
# The printed displacements show how far each fit moves the proxies from their epoch-0 place, in units of the
# width of the epoch-0 samples. One map for all epochs has to place every snapshot of a proxy among its nearest
# neighbours over all epochs, which keeps a proxy near its own earlier snapshots; the aligned maps only tie a point
# to itself in the next epoch and let it move. Compare both with the measured cosine, which needs no map at all.
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
#     last = proxy_spread_views.spread_over_epochs(snapshots[seeds[0]][12], merge_cosine=threshold).iloc[-1]
#     print(threshold, last[["proxy cosine", "proxy groups"]].to_dict())
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
# ```python
# print(steps.subgraph_size(0.05, 100, 12) - 12)
# ```
#
# The printed number of places goes to other classes' proxies. If the 12 proxies of a class merge, they act like
# one proxy with 12 times its vote: the own-class vote $Z_{iy_i}$ becomes $12 \times$ the cosine to that point,
# while the other places still go to other classes' proxies. The subgraph then works like a single proxy per class
# with a larger weight on the own class, which is one reason why more proxies need not mean more modes covered.
#
# </details>
