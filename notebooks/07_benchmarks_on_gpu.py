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
# [← 06 Training on glyphs](06_training_on_glyphs.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [08 Parameter study of N and r →](08_parameter_study_N_r.ipynb) · about 20 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/07_benchmarks_on_gpu.ipynb)
#
# # 7. CUB-200-2011, Cars196 and Stanford Online Products on a GPU
#
# *ProxyGML notebooks, part 7 of 11.*
#
# **Learning goals.** After this notebook you can
#
# 1. prepare the three benchmarks of the paper (download, checksums, the class-disjoint train/test split) with one
#    command each;
# 2. train ProxyGML on them with the paper's recipe (the presets `cub200`, `cars196`, `online_products`) and fill a
#    results table beside the paper's;
# 3. load a run folder trained elsewhere (for example on a GPU machine) and show its history, its table and what it
#    retrieves.
#
# Without a GPU or without the data, the notebook says so and runs everything on **fabricated miniature
# datasets** in the benchmarks' exact file layouts instead: the code path is the real one, but the images are
# synthetic patterns and **no number from the miniature run is a result**.
#
# **Prerequisites.** Notebook 6 (a training run, its folder, Recall@K and NMI).

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
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import torch
from IPython.display import display

from proxygml_lite import steps
from proxygml_lite.data import load_dataset
from proxygml_lite.data.manifest import prepare_command
from proxygml_lite.lab import experiments, miniature_data, run_views, study_views, study_widgets
from proxygml_lite.studies import plots as study_plots
from proxygml_lite.training.presets import config_from_preset

pd.set_option("display.precision", 4)
BENCHMARKS = {"cub200": "CUB-200-2011", "cars196": "Cars196", "online_products": "Stanford Online Products"}
DATA = experiments.data_root()
prepared = {}
for name, title in BENCHMARKS.items():
    try:
        train_split = load_dataset(name, DATA, "train")
        prepared[name] = True
        print(f"{title}: prepared, {train_split.num_classes} training classes, {len(train_split)} images")
    except (FileNotFoundError, ValueError) as problem:
        prepared[name] = False
        print(f"{title}: not prepared in the data folder ({type(problem).__name__})")
has_gpu = torch.cuda.is_available()
print("GPU:", torch.cuda.get_device_name(0) if has_gpu else "none")
REAL = has_gpu and any(prepared.values()) and not cfg.smoke
if not REAL:
    print(
        "\n=> No GPU and/or no prepared benchmark here: every step below runs on FABRICATED MINIATURE data "
        "(synthetic images in the real layouts). Its numbers check the code path; they are not results."
    )

# %% [markdown]
# ## Step 1: the data
#
# Each benchmark is one command. It downloads the archives (mirrors in order, resumable, md5-checked), extracts
# them safely, applies the paper's split (CUB: classes 1-100 train, 101-200 test; Cars196: 1-98 / 99-196; SOP:
# `Ebay_train.txt` / `Ebay_test.txt`) and writes `data/<name>/{train,test}/<class>/<image>` with a manifest that
# every later load checks. Archives you downloaded by hand go to `data/archives/`
# (`python -m proxygml_lite.data sources NAME` lists the files, checksums and mirrors). Sizes: about 1.1 GB (CUB),
# 1.9 GB (Cars196), 2.9 GB (SOP).

# %%
for name in BENCHMARKS:
    print(prepare_command(name, "data", " --download"))

# %% [markdown]
# Here, without the real archives, `miniature_data.prepare_miniature` writes miniature archives in the exact raw
# layouts (`CUB_200_2011.tgz` with `images.txt`, `classes.txt`, ...; `car_ims.tgz` + `cars_annos.mat`;
# `Stanford_Online_Products.zip` with `Ebay_*.txt`) and runs the same `prepare_dataset` on them, into a temporary
# data folder:

# %%
if REAL:
    data_root = DATA
else:
    data_root = Path(tempfile.mkdtemp(prefix="proxygml_miniature_"))
    for name in BENCHMARKS:
        miniature_data.prepare_miniature(name, data_root)
for name, title in BENCHMARKS.items():
    for split in ("train", "test"):
        ds = load_dataset(name, data_root, split)
        print(f"{title} {'(miniature) ' if not REAL else ''}{split}: {ds.num_classes} classes, {len(ds)} images")

# %% [markdown]
# ## Step 2: the paper's recipe
#
# The presets hold the official settings (github.com/YuehuaZhu/ProxyGML): BN-Inception pretrained on ImageNet,
# $d = 512$, batch 32, Adam, 50 epochs with the learning rates $\times 0.1$ after epochs 20 and 40, $r = 0.05$;
# $N = 12$, $\lambda = 0.3$ and frozen BatchNorm on CUB and Cars; $N = 1$, $\lambda = 0$ and a proxy learning rate
# of 0.3 on SOP.

# %%
keys = [
    "backbone",
    "dim",
    "batch_size",
    "epochs",
    "modellr",
    "centerlr",
    "new_epoch_to_decay",
    "N",
    "r",
    "weight_lambda",
    "freeze_bn",
]
recipe = pd.DataFrame({name: {k: str(getattr(config_from_preset(name), k)) for k in keys} for name in BENCHMARKS})
recipe.loc["k = ceil(r C N)"] = [
    str(steps.subgraph_size(0.05, c, config_from_preset(name).N)) for name, c in zip(BENCHMARKS, (100, 98, 11318))
]
display(recipe)

# %% [markdown]
# ## Step 3: train
#
# On a GPU machine, the official README's commands paste unchanged (`--gpu 0` picks the device), e.g.
#
# ```bash
# python -m proxygml_lite.train -b 32 --gpu 0 --dataset cub200 --freeze_BN --epochs 50 --dim 512 --r 0.05 -C 100 \
#     --N 12 --weight_lambda 0.3 --centerlr 0.03 --rate 0.1 --new_epoch_to_decay 20 40 --out runs/cub200
# ```
#
# or, from Python, `experiments.cached_run(config_from_preset("cub200", data="data", device="cuda"), "07_cub200",
# smoke=False)`, which reads a finished run back and resumes an interrupted one (Ctrl-C saves a checkpoint). The
# cell below does exactly that for every prepared benchmark when a GPU is present. Otherwise it trains the
# miniatures for two epochs with the same presets, changed only where a miniature needs it: a small CNN without
# pretrained weights instead of BN-Inception (no download), $d = 32$, and an $r$ large enough that each subgraph
# holds more than the own-class proxies ($k > N$) with only 8 or 16 classes.

# %%
runs = {}
for name in BENCHMARKS:
    if REAL:
        if prepared[name]:
            runs[name] = experiments.cached_run(
                config_from_preset(name, data=str(DATA), device="cuda"), f"07_{name}", smoke=False
            )
        continue
    classes = miniature_data.MINIATURE_SIZES[name][0]
    n = config_from_preset(name).N
    miniature_r = (n + 1) / (classes * n) + 0.1  # k = ceil(r C N) > N
    config = config_from_preset(
        name,
        data=str(data_root),
        backbone="smallcnn",
        pretrained=False,
        dim=32,
        epochs=2,
        batch_size=16,
        r=round(miniature_r, 3),
        workers=0,
        device="cpu",
        quiet=True,
        recall_ks=(1, 2, 4, 10),
        epoch_to_test=None,
    )
    runs[name] = experiments.cached_run(config, f"07_miniature_{name}", smoke=True)  # temporary folder
    print(run_views.run_summary(runs[name]))

# %% [markdown]
# ## Step 4: the results table beside the paper's
#
# This code's final metrics (percent) next to the paper's ProxyGML-512 row, labelled as the paper's.

# %%
label = "this code" if REAL else "miniature smoke run (NOT a result)"
table = run_views.results_beside_paper(runs, label=label)
display(table)

# %% [markdown]
# For orientation, the paper's whole comparison table (all numbers are the paper's, none from this code):

# %%
fig = study_views.plot_paper_comparison(metric="R@1")
save_figure(fig, "07_paper_comparison")

# %% [markdown]
# ## Step 5: load a run folder trained elsewhere
#
# A run folder is self-contained: copy it from the GPU machine (`rsync -a gpu:runs/cub200 runs/`) and point
# `RUN_FOLDER` at it. `run_summary` says what it holds, `plot_run_history` draws its `metrics.csv`, and
# `load_run` rebuilds the trained network on this machine's CPU for the gallery. Without such a folder, the
# miniature CUB run is copied to a new place and loaded from there, as a stand-in.

# %%
RUN_FOLDER = None  # e.g. Path("../runs/cub200"), copied from the GPU machine
if RUN_FOLDER is None:
    RUN_FOLDER = Path(tempfile.mkdtemp(prefix="proxygml_elsewhere_")) / "cub200"
    shutil.copytree(runs["cub200"], RUN_FOLDER)
print(run_views.run_summary(RUN_FOLDER))
history = study_plots.read_history(RUN_FOLDER)
fig = study_plots.plot_run_history(
    history, title="loaded run" + ("" if REAL else ": miniature smoke run, not a result")
)
save_figure(fig, "07_loaded_run_history")

# %%
loaded = run_views.load_run(RUN_FOLDER)
embeddings, labels, test_images = run_views.embed_split(loaded, data_root=data_root)
fig = run_views.plot_retrieval_gallery(
    test_images,
    embeddings,
    labels,
    query_indices=[0, 12, 24, 36],
    k=5,
    title=None if REAL else "miniature smoke run: fabricated images, not a result",
)
save_figure(fig, "07_loaded_run_gallery")

# %%
study_widgets.gallery_widget(test_images, embeddings, labels, rows=4, k=5)

# %% [markdown]
# ## Summary
#
# * `python -m proxygml_lite.data prepare NAME --download` prepares each benchmark; `train --dataset NAME` (or the
#   official flags) trains it with the paper's recipe; the cell of step 3 does both from Python, cached.
# * `run_views.results_beside_paper` puts a run's final metrics next to the paper's row; the paper's numbers are
#   always labelled as the paper's.
# * Any run folder can be loaded on another machine: its history, its table and its retrievals.
# * Without a GPU or data this notebook ran the fabricated miniatures: the printed numbers only show that the code
#   runs end to end.

# %% [markdown]
# ## Exercises
#
# **1.** Why does the miniature need a larger $r$ than the paper's 0.05? Compute $k$ for the paper's $r$ with the
# miniature's 8 training classes and $N = 12$.
#
# <details><summary>Solution</summary>
#
# `steps.subgraph_size(0.05, 8, 12)` $= \lceil 4.8 \rceil = 5 \le N = 12$: every subgraph would hold only own-class
# proxies and $\mathcal{L}^s$ would be zero (notebook 2). With 100 classes, $k = 60 > 12$.
#
# </details>
#
# **2.** On a GPU machine, which of the three benchmarks will take longest per epoch, and why?
#
# <details><summary>Solution</summary>
#
# Stanford Online Products: it has the most training images (59,551 against 5,864 and 8,054), so the most steps
# per epoch at batch 32, and the largest test set to embed and rank (60,502 images). Its loss layer holds
# $C = 11{,}318$ proxies ($N = 1$), which notebook 11 measures.
#
# </details>
#
# **3.** Run `python -m proxygml_lite.data sources cars196` in a terminal. Why are two of the mirrors marked as the
# original addresses, and what does the package do with a third-party copy?
#
# <details><summary>Solution</summary>
#
# The Stanford addresses are the original ones but offline; the third-party copy is accepted only if its md5
# checksum equals the original's, so a repackaged or altered file is refused.
#
# </details>
