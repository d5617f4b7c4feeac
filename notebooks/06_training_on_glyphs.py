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
# [← 05 Training on toy data](05_training_on_toy_data.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [07 CUB, Cars and SOP on a GPU →](07_benchmarks_on_gpu.ipynb) · about 30 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/06_training_on_glyphs.ipynb)
#
# # 6. Training ProxyGML on glyphs (CPU)
#
# *ProxyGML notebooks, part 6 of 11: the first real training run.*
#
# **Learning goals.** After this notebook you can
#
# 1. train ProxyGML with the paper's hyper-parameters ($N = 12$, $r = 0.05$, $\lambda = 0.3$) on a CPU benchmark
#    whose test classes are never seen in training, with one call that is cached and resumable;
# 2. read the learning curves of $\mathcal{L}^s$, $\mathcal{L}^p$, Recall@K and NMI, and say what each one tells you;
# 3. reload a finished run from its folder, embed the unseen classes and look at what retrieval returns: the
#    nearest neighbours of a query, hits and misses, the picture behind Recall@K;
# 4. read the training step of the engine, which is the loop of notebook 5 with the bookkeeping of a real run.
#
# **Prerequisites.** Notebooks 1-5 (the loss and a training loop on toy data).

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
import inspect

import pandas as pd
from IPython.display import Markdown, display

from proxygml_lite import steps
from proxygml_lite.data import load_dataset
from proxygml_lite.data.glyphs import glyph_sheet, look_alike_pairs
from proxygml_lite.evaluation import chance_nmi
from proxygml_lite.lab import experiments, run_findings, run_views, study_tables, study_widgets
from proxygml_lite.studies import plots as study_plots
from proxygml_lite.training.presets import config_from_preset
from proxygml_lite.training.step import train_step

pd.set_option("display.precision", 4)
PRESET = "glyphs_hard"
overrides = {"seed": cfg.seed}
if not cfg.smoke:  # evaluate along the way for the learning curves (the preset itself only evaluates at the end)
    epochs = config_from_preset(PRESET).epochs
    overrides["epoch_to_test"] = tuple(sorted({1, 2, 3, 5, *range(10, epochs + 1, 5), epochs}))
config = experiments.experiment_config(PRESET, smoke=cfg.smoke, **overrides)
if cfg.smoke:
    print("SMOKE MODE: a tiny glyph set and one epoch; the numbers below only check that the code runs.")
paper_recipe = config_from_preset("cub200")
shown = [
    "dataset",
    "dataset_options",
    "backbone",
    "pretrained",
    "freeze_bn",
    "dim",
    "N",
    "r",
    "weight_lambda",
    "epochs",
    "batch_size",
    "modellr",
    "centerlr",
    "new_epoch_to_decay",
    "rate",
]
pd.DataFrame(
    {
        "this run": {k: str(getattr(config, k)) for k in shown},
        "paper's CUB-200 recipe (preset cub200)": {k: str(getattr(paper_recipe, k)) for k in shown},
    }
)

# %% [markdown]
# ## The benchmark
#
# The glyph classes are characters rendered in many font faces with random distortions (the package generates and
# caches them on first use; no download). As in the paper, the classes of the test split are **disjoint** from the
# training classes: the network never sees them, so Recall@K measures how well the embedding generalises to new
# classes, exactly the question deep metric learning asks on CUB-200-2011 or Cars196. The preset `glyphs_hard`
# is the harder, paper-like variant of the quick `glyphs` preset; the README explains how it was chosen and what
# was measured. Each row below is one class, each column one image of it.

# %%
options = dict(config.dataset_options, progress=False)
train_set = load_dataset(config.dataset, data_root=config.data, split="train", **options)
test_set = load_dataset(config.dataset, data_root=config.data, split="test", **options)
print(
    f"training split: {train_set.num_classes} classes, {len(train_set)} images; "
    f"test split: {test_set.num_classes} other classes, {len(test_set)} images"
)
fig = glyph_sheet(train_set, num_classes=8, num_faces=10)
fig.suptitle("training classes (rows) and some of their images", fontsize=9)
save_figure(fig, "06_glyph_classes")
display(fig)

# %% [markdown]
# ## The training step
#
# The engine (`proxygml_lite.training.trainer.Trainer`) runs the loop of notebook 5 with what a real run needs around it:
# learning-rate decay, the warm-up, evaluation after every epoch, an atomic checkpoint after every epoch, Ctrl-C
# handling and resuming. The step itself, `proxygml_lite.training.step.train_step`, is short: `trainee(images, labels)` embeds the images
# and calls `ProxyGMLLoss`, that is $\mathcal{L} = \mathcal{L}^s + \lambda \mathcal{L}^p$ with
#
# $$\mathcal{L}^s = -\frac{1}{B}\sum_{i=1}^{B} \log \frac{M_{i y_i} e^{Z_{i y_i}}}{\sum_{c} M_{ic} e^{Z_{ic}}},
#   \qquad Z = W Y^p ,$$
#
# built from the steps of notebooks 1-4 (`steps.similarity_graph`, `steps.select_subgraph`,
# `steps.reverse_label_propagation`, `steps.classification_loss`, `steps.proxy_regulariser`):

# %%
print(inspect.getsource(train_step))
print(
    f"k = ceil(r C N) = {steps.subgraph_size(config.r, train_set.num_classes, config.N)} proxies in each subgraph "
    f"(of C N = {train_set.num_classes * config.N})"
)

# %% [markdown]
# ## Train (or read back) one run
#
# `experiments.cached_run` trains the configuration in `runs/notebooks/<name>/` (a temporary folder in smoke mode).
# If the folder already holds the finished run, it is read back instead; an interrupted run resumes from its last
# checkpoint. So re-executing this notebook costs seconds, not minutes. The progress bars show the epochs and
# the steps of the current epoch.

# %%
run_dir = experiments.cached_run(config, f"06_{PRESET}_seed{cfg.seed}", smoke=cfg.smoke)
print(run_views.run_summary(run_dir))
history = study_plots.read_history(run_dir)
columns = ["epoch", "loss_s", "loss_p", "loss", "lr_model", "R@1", "R@2", "R@4", "R@8", "NMI", "train_time_s"]
history[history["R@1"].notna()][[c for c in columns if c in history.columns]]

# %% [markdown]
# ## Learning curves
#
# (The table above lists the evaluated epochs only; `metrics.csv` has every epoch.) Left: the mean training losses
# per epoch. $\mathcal{L}^s$ is the samples' classification loss over their subgraphs; $\mathcal{L}^p$ is the proxy
# regulariser; the total $\mathcal{L} = \mathcal{L}^s + \lambda\mathcal{L}^p$ is dotted. The dotted vertical line
# marks the learning-rate decay (`new_epoch_to_decay`). Right: Recall@K and NMI on the **unseen** test classes after
# the evaluated epochs; epoch 0 is the network before ProxyGML training. NMI's chance level is far above zero: the dashed
# line is the NMI of clusters that ignore the images (`evaluation.chance_nmi`: the test labels shuffled, so the
# clusters have the classes' sizes). With many small classes, such meaningless clusters already share a lot of
# information with the labels, so only NMI's rise above that line measures the embedding.
#
# **Predict first.** The learning rate drops tenfold at the dotted line. Before you look: will $\mathcal{L}^s$ fall
# steadily from the first epoch to the last, or can it be small early, rise, and fall again? And will Recall@1 rise
# at the same epochs as $\mathcal{L}^s$ falls?

# %%
nmi_floor = chance_nmi(test_set.targets, seed=cfg.seed)
fig = study_plots.plot_run_history(run_dir, title=f"ProxyGML on {PRESET}, seed {cfg.seed}", nmi_chance=nmi_floor)
save_figure(fig, "06_training_curves")

# %%
last = history.iloc[-1]
sizes = pd.Series(test_set.targets).value_counts()
chance = float((sizes * (sizes - 1)).sum() / (len(test_set) * (len(test_set) - 1)))  # P(random other image: same class)
display(Markdown(run_findings.history_findings(history, r1_chance=chance, nmi_chance=nmi_floor)))

# %% [markdown]
# How to read this: the lines above are written by the cell from this run's `metrics.csv`, so they describe this
# run and no other. Compare the untrained network's Recall@1 with its chance level (random convolutional features
# keep some of the pixel-space similarity), and its NMI with NMI's chance level. Where $\mathcal{L}^s$ does not simply
# fall, compare it with Recall@1 at the same epoch: the loss is measured on each sample's own subgraph of $k$ proxies,
# so a small $\mathcal{L}^s$ says that the selected proxies agree with the labels, not that the embedding retrieves
# well; notebook 10 measures what happens in that phase. The convergence line is the preset's check: the gain over
# the last evaluated epochs.
#
# One run is one seed. How much does R@1 move between seeds of this very configuration? The committed ablation
# table (notebook 10) holds the full ProxyGML (row 8) trained with several seeds. Its row with this run's seed is
# the same configuration. Computed on the same processor with the same library builds, the two give the same number
# to the bit (evaluating after other epochs does not change training). Computed elsewhere, they need not: another
# processor or library build rounds floats differently, 50 epochs amplify that, and the two then agree only within
# the seed spread. The cell compares the machines recorded with each run and says which case this is.
#
# **Predict first.** Will this run's Recall@1 equal the table's seed-0 value exactly, or only lie within the seed
# spread of row 8?

# %%
try:
    ablation = study_tables.read_study_table("ablation", preset=PRESET)
    row8 = study_tables.summarize_seeds(ablation[ablation["row"] == 8], by=["row"]).iloc[0]
    print(
        f"row 8 of results/{PRESET}/ablation.csv: R@1 {study_tables.format_mean_std(row8['R@1 mean'], row8['R@1 std'])}"
        f" % over {row8['seeds']} seeds (per seed: {' '.join(f'{100 * v:.1f}' for v in row8['R@1 per seed'])})"
    )
    if cfg.smoke:
        print(f"this notebook's run: R@1 {100 * last['R@1']:.1f} % (smoke run: not comparable)")
    else:  # the table's row with this run's seed: the same number, or what differs (settings, machine)
        display(Markdown(run_findings.run_beside_table(run_dir, ablation, row=8)))
except FileNotFoundError as missing:
    print(missing)

# %% [markdown]
# ## What retrieval returns
#
# Recall@K asks, for every test image used as a query, whether one of its $K$ nearest neighbours (cosine
# similarity of the embeddings) shows the same class. `run_views.load_run` rebuilds the trained network from the
# run folder's checkpoint, `run_views.embed_split` embeds the test split, and the gallery shows a few queries with
# their nearest neighbours: green frames are the query's class, red frames another class (named under the frame).
# The title counts the green frames: the precision@6 of these queries, not Recall@6 (for Recall@K a query counts
# once, as soon as one of its $K$ neighbours is green). Some test classes are drawn alike: `look_alike_pairs` finds
# the pairs whose clean renderings are (almost) the same picture in at least one font face (Latin K and Cyrillic К,
# for example; the dataset keeps both because their other faces differ). A neighbour of the look-alike class is
# framed orange: label ambiguity rather than a mistake of the embedding. The six queries are spread evenly over the
# test classes; a seventh row, where the run has one, is the first query with a look-alike neighbour.

# %%
run = run_views.load_run(run_dir)
embeddings, labels, test_images = run_views.embed_split(run)
look_alikes = look_alike_pairs(test_images.classes)
print("look-alike test classes (drawn alike in one face):", ", ".join(f"{a} {b}" for a, b in look_alikes) or "none")
alike = run_views.look_alike_queries(embeddings, labels, test_images.classes, look_alikes, k=6)
print(f"{len(alike)} of {len(labels)} test queries have a look-alike class among their 6 nearest neighbours")
queries = study_widgets.gallery_queries(len(labels), first=0, rows=6) + alike[:1]  # the last row: the first of them
fig = run_views.plot_retrieval_gallery(
    test_images, embeddings, labels, query_indices=queries, k=6, look_alikes=look_alikes
)
save_figure(fig, "06_retrieval_gallery")

# %% [markdown]
# Recomputing Recall@1 from these embeddings gives the number the engine logged (the same code path), and the
# classes with the lowest Recall@1 show where the embedding still confuses characters:

# %%
from proxygml_lite.evaluation import recall_at_k

print(
    f"R@1 from the reloaded model: {100 * recall_at_k(embeddings, labels, ks=(1,))[1]:.2f}% "
    f"(logged by the engine: {100 * run.results['metrics']['R@1']:.2f}%)"
)
nearest = run_views.nearest_neighbours(embeddings, queries=range(len(labels)), k=1)[:, 0]
per_class = pd.DataFrame(
    {
        "class": [test_images.classes[int(y)] for y in labels],
        "hit": (labels[nearest] == labels).numpy(),
        "confused with": [test_images.classes[int(y)] for y in labels[nearest]],
    }
)
worst = per_class.groupby("class")["hit"].mean().sort_values().head(6)
confusions = per_class[~per_class["hit"]].groupby("class")["confused with"].agg(lambda s: s.value_counts().index[0])
worst_table = pd.DataFrame(
    {"R@1 of the class": worst, "most frequent wrong neighbour": confusions.reindex(worst.index)}
)
ambiguous = {frozenset(pair) for pair in look_alikes}
worst_table["look-alike pair"] = [
    frozenset((c, w)) in ambiguous for c, w in zip(worst_table.index, worst_table["most frequent wrong neighbour"])
]
worst_table

# %% [markdown]
# ## Explore the gallery
#
# Move the first query (the queries are spread evenly over the test classes) and the number of neighbours $K$.
# Count the hits yourself and compare with Recall@K: a query counts as a hit for Recall@K as soon as **one** of
# its $K$ neighbours is green.

# %%
study_widgets.gallery_widget(test_images, embeddings, labels, rows=5, k=6)

# %% [markdown]
# ## Summary
#
# * `experiments.cached_run` (over `studies.run_cell` and `train`) trains one configuration in its own folder,
#   reads a finished run back and resumes an interrupted one; the folder holds `config.json`, `metrics.csv`,
#   `results.json` and `checkpoint.pt`.
# * Recall@K and NMI on the unseen classes are read against their chance levels; NMI's (clusters that ignore
#   the images) is far above zero. The lines under the learning curves are written from this run's history: how
#   $\mathcal{L}^s$ and $\mathcal{L}^p$ moved, and Recall@1 where $\mathcal{L}^s$ was small. Read those lines,
#   not a story of a falling loss.
# * A trained run can be reloaded anywhere (`run_views.load_run`) and inspected: the gallery makes Recall@K
#   concrete, and the per-class table shows which characters the embedding still confuses, and which of those
#   confusions are look-alike classes (label ambiguity).
# * One run is one seed; the seed spread of the same configuration is in the committed ablation table.

# %% [markdown]
# ## Exercises
#
# **1.** Train the same configuration with `seed=1` (a new `name` for the folder) and compare its curves and its
# final R@1 with seed 0 and with the spread of row 8 printed above. How large is the difference between two seeds?
#
# <details><summary>Solution</summary>
#
# ```python
# other = experiments.cached_run(config.replace(seed=1), f"06_{PRESET}_seed1", smoke=cfg.smoke)
# study_plots.plot_run_history(other)
# print(study_plots.read_history(other)["R@1"].iloc[-1], last["R@1"])
# from proxygml_lite.lab import findings
#
# print(findings.seed_counts(PRESET).to_string(index=False))  # the seeds per cell of each committed study
# ```
#
# Compare the difference with the standard deviation of row 8: two seeds of one configuration typically differ by
# about that much. That is why the studies train their cells with several seeds and claim a difference only where a
# test over the seeds, corrected for the number of comparisons, supports it. The table printed last says, from the
# committed files themselves, how many seeds each study holds per cell and which notebook reads it (8: the grid, 9:
# the proxy snapshots, 10: the ablation and the probes). A study with one seed per cell, like this notebook's run,
# shows how one run behaves, not a result.
#
# </details>
#
# **2.** Why is the untrained model's R@1 (epoch 0) above the chance level printed under the learning curves, and
# what would a pretrained backbone change?
#
# <details><summary>Solution</summary>
#
# Chance is the probability that a random other test image has the query's class: the other images of its class
# among all other test images, averaged over the queries (the cell under the learning curves computes it). Even a random convolutional network keeps much of the pixel-space neighbourhood
# structure, and two renderings of one character are close in pixel space, so the untrained R@1 is above chance.
# A pretrained backbone (the paper fine-tunes an ImageNet BN-Inception) would start higher still, because its
# features were learned to tell images apart; the gap between epoch 0 and the last epoch is what training adds.
#
# </details>
#
# **3.** In the gallery, find a query whose first neighbour is a miss but that still counts as a hit for Recall@4.
# What does that say about the difference between R@1 and R@4?
#
# <details><summary>Solution</summary>
#
# Such a query has a red first frame and a green frame among the first four. R@4 forgives the wrong first
# neighbour, so R@4 is always at least R@1; the gap between them counts the queries whose own class is nearby but
# not the very nearest. The table of the hardest classes shows what those queries are mistaken for: compare its
# "most frequent wrong neighbour" with its "look-alike pair" column. A character that merely looks similar need not
# be one of the pairs that `look_alike_pairs` finds drawn alike in one face.
#
# </details>
