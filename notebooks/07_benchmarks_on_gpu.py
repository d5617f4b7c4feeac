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
# [← 06 Training on glyphs](06_training_on_glyphs.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [08 Parameter study of N and r →](08_parameter_study_N_r.ipynb) · about 35 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/07_benchmarks_on_gpu.ipynb)
#
# # 7. CUB-200-2011, Cars196 and Stanford Online Products on a GPU
#
# *ProxyGML notebooks, part 7 of 11: a guide to training the paper's recipe on one real benchmark.*
#
# **Learning goals.** After this notebook you can
#
# 1. estimate what a run of the paper's recipe costs before you spend GPU hours: time and memory per epoch and per
#    evaluation, and disk, from FLOPs and image counts, with every assumption stated;
# 2. prepare one benchmark, check the set-up with a one-epoch sanity run, then train the full recipe in a run folder
#    that survives the end of a Colab session (`--resume`);
# 3. say where BN-Inception's ImageNet weights come from and what to do when their host is down;
# 4. compare a finished run with what to expect: the paper's numbers and a public reproduction, each labelled;
# 5. rerun a study table (the ablation of notebook 10, the grid of notebook 8) on a real benchmark, one command per
#    cell (a GPU, Colab or a Slurm cluster), and read it back into the same views.
#
# **Nothing here has run on a GPU yet.** No GPU was available to this project: every time and memory figure below is
# an **estimate** computed from counted FLOPs and image counts, never a measurement, and the sanity run is where you
# measure your own. Without a GPU (as when the outputs below were produced, on a CPU) each GPU-only cell prints that
# it is skipped, and the steps run on a **fabricated miniature** of the chosen benchmark in its exact file layout: the
# code path is the real one, the images are synthetic patterns, and **no number from the miniature is a result**.
#
# **Prerequisites.** Notebook 6 (a training run, its folder, Recall@K and NMI).

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
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from IPython.display import display

from proxygml_lite import steps
from proxygml_lite.data import load_dataset
from proxygml_lite.data.manifest import prepare_command
from proxygml_lite.data.prepare import prepare_dataset
from proxygml_lite.data.specs import SPECS, canonical_benchmark
from proxygml_lite.lab import (
    experiments,
    gpu_downloads,
    gpu_estimates,
    gpu_expectations,
    miniature_data,
    run_views,
    study_tables,
    study_widgets,
)
from proxygml_lite.studies import SEEDS, study_cells
from proxygml_lite.studies import main as studies_main
from proxygml_lite.studies import plots as study_plots
from proxygml_lite.train import main as train_main
from proxygml_lite.training.presets import config_from_preset

pd.set_option("display.precision", 4)
BENCHMARK = "cub200"  # THE benchmark of this notebook: "cub200", "cars196" or "online_products" (or "sop")
BENCHMARK = canonical_benchmark(BENCHMARK)
TITLE = SPECS[BENCHMARK].title
ON_COLAB = "google.colab" in sys.modules
has_gpu = torch.cuda.is_available()
REAL = has_gpu and not cfg.smoke  # the real benchmark on the GPU; otherwise a fabricated miniature on the CPU
WORKERS = min(8, os.cpu_count() or 1)  # the official 8 data-loading workers, at most one per CPU core (Colab: 2)
print(f"benchmark: {TITLE}; GPU: {torch.cuda.get_device_name(0) if has_gpu else 'none'}; on Colab: {ON_COLAB}")
if not REAL:
    print(
        "=> No GPU here (or smoke mode): the GPU-only cells below say they are skipped, and every step runs on a "
        f"FABRICATED MINIATURE of {TITLE} on the CPU. Its numbers check the code path; they are not results."
    )

# %% [markdown]
# ## Where the runs and the data live
#
# A Colab session ends (after at most 12 hours, often sooner), and its disk goes with it. So the **run folders go to
# Google Drive**, which survives the session: the checkpoint written after every epoch is what `--resume` continues
# from. The **images go to the session's local disk** (`/content/data`): reading tens of thousands of small files
# from Drive is slow. Keep the downloaded archive on Drive instead, and each new session prepares the benchmark from
# it in minutes, without downloading. Outside Colab, runs go to the checkout's `runs/07/` and data to `data/`
# (`PROXYGML_DATA` moves it).

# %%
if ON_COLAB:
    from google.colab import drive

    drive.mount("/content/drive")
    DRIVE = Path("/content/drive/MyDrive/proxygml_lite")  # runs, archives and the weights: kept between sessions
    RUN_ROOT, DATA = DRIVE / "runs", Path("/content/data")
else:
    print("not on Colab: skipped mounting Google Drive; runs go to runs/07/ of the checkout, data to its data folder")
    DRIVE, RUN_ROOT, DATA = None, experiments.repository_root() / "runs" / "07", experiments.data_root()

# %% [markdown]
# ## Before spending GPU hours: what a run costs
#
# **Predict first.** Stanford Online Products (SOP) has about ten times as many training images as CUB-200-2011. Will
# its run of the recipe take ten times as long? Write down a guess, then run the next cells.
#
# Nobody measured these numbers here, so the package *computes* them (`gpu_estimates`): it counts the FLOPs of one
# BN-Inception forward pass and the tensors the backward pass keeps (on this CPU, for one image), takes each
# benchmark's image and class counts and the recipe's batch, epochs and evaluation schedule, and divides by
# throughputs it **assumes** and states. A training image costs about three forward passes (forward and backward);
# during the one warm-up epoch the backbone is frozen and only the forward pass goes through it. An evaluation
# embeds the test split, searches the neighbours on the GPU and runs the k-means of NMI on the CPU.

# %%
cost = gpu_estimates.backbone_cost("bninception")
print(
    f"BN-Inception at {cost.image_size} x {cost.image_size}, counted on this CPU: {cost.forward_flops / 1e9:.2f} GFLOPs "
    f"per forward pass ({cost.forward_flops / 2e9:.2f} G multiply-adds, the 'about 2 GFLOPs' usually quoted), "
    f"{cost.parameters / 1e6:.1f} M parameters, {cost.saved_bytes / 2**20:.0f} MiB kept for the backward pass per image"
)
print(
    "the recipe evaluates after these epochs (0: the untrained network):",
    gpu_estimates.evaluation_epochs(config_from_preset(BENCHMARK)),
)
ASSUMED = gpu_estimates.Assumptions()  # put your GPU's and CPU's numbers here, e.g. Assumptions(gpu_tflops=10)
estimates = gpu_estimates.estimates_table(ASSUMED)
print(estimates.attrs["assumptions"])
estimates

# %%
fig = gpu_estimates.plot_estimates(estimates)
save_figure(fig, "07_run_estimates")

# %% [markdown]
# Back to the guess: the next cell divides SOP's estimates by CUB-200-2011's. Training grows with the training
# images; an evaluation embeds the test split and runs NMI's k-means with one cluster per test class, and SOP has
# far more of both.

# %%
cub, sop = estimates["CUB-200-2011"], estimates["Stanford Online Products"]
for row in ("train images", "training (h)", "test images", "evaluations (h)", "full recipe (h)"):
    print(f"{row:>16}: SOP / CUB-200-2011 = {sop[row] / cub[row]:4.1f} x (ESTIMATE)")

# %% [markdown]
# The one measurement to check these against is someone else's: a fork of the official code committed the logs of
# its CUB-200-2011 run (on a GPU its log does not name).

# %%
fork, cub = gpu_expectations.PUBLIC_REPRODUCTION, estimates["CUB-200-2011"]
print(
    f"CUB-200-2011, one training epoch: {fork.epoch_seconds:.0f} s in the fork's log (measured there), "
    f"{60 * cub['epoch (min)']:.0f} s estimated here; one evaluation: {fork.evaluation_seconds:.0f} s in the log, "
    f"{60 * cub['evaluation (min)']:.0f} s estimated"
)

# %% [markdown]
# ### Colab's session limits and SOP
#
# An SOP epoch has about ten times CUB's steps, and each of its evaluations embeds 60,502 test images and runs
# k-means with 11,316 clusters on the CPU; the official `epoch_to_test` evaluates 18 times (after epochs 1, 2 and
# 35-50), plus the untrained network. So the evaluations take almost as long as the training, and the whole recipe
# is estimated at several hours: much of one free Colab session, which often ends well before its 12 hours. What
# keeps it feasible:
#
# * **resume across sessions**: the checkpoint after every epoch means that the end of a session costs at most the
#   epoch in progress (about 5 minutes on SOP, estimated). Run the training cell again in the next session;
# * **fewer evaluations**: `--epoch_to_test` may change when a run resumes, and the evaluation restores the random
#   state it found, so the schedule never changes the training. `--epoch_to_test 50` evaluates only the end:

# %%
sop_last_only = gpu_estimates.estimates_table(ASSUMED, benchmarks=("online_products",), epoch_to_test=(50,))
sop = estimates["Stanford Online Products"]
print(
    f"SOP: {sop['steps per epoch']} steps per epoch ({sop['steps per epoch'] / cub['steps per epoch']:.1f}x CUB's); "
    f"{sop['evaluations']} evaluations of {sop['test images']:,} test images, {sop['evaluation (min)']:.0f} min each "
    f"(of which k-means {sop['k-means of NMI (min, CPU)']:.0f} min); the recipe: about {sop['full recipe (h)']:.1f} h, "
    f"with --epoch_to_test 50: {sop_last_only.iloc[:, 0]['full recipe (h)']:.1f} h (ESTIMATES, assumptions above)"
)

# %% [markdown]
# ## Step 1: the data
#
# One command prepares a benchmark: it downloads the archives (mirrors in order, resumable, md5-checked), extracts
# them safely, applies the paper's split (CUB: classes 1-100 train, 101-200 test; Cars196: 1-98 / 99-196; SOP:
# `Ebay_train.txt` / `Ebay_test.txt`) and writes `data/<name>/{train,test}/<class>/<image>` with a manifest that every
# later load checks. An archive found in `data/archives/` is not downloaded again. The disk it takes:

# %%
display(gpu_estimates.disk_table())
print(prepare_command(BENCHMARK, "/content/data" if ON_COLAB else "data", " --download"))

# %% [markdown]
# On a GPU machine the next cell prepares the chosen benchmark (on Colab it first copies the archives and weights kept on
# Drive by an earlier session; the sanity run keeps them there). Here, without a GPU, it writes a miniature of the benchmark's
# archives in their exact raw layout (`miniature_data.prepare_miniature`) and runs the same `prepare_dataset` on them,
# in a temporary folder.

# %%
if REAL:
    if DRIVE:  # the archives and the weights kept on Drive by an earlier session
        print("\n".join(gpu_downloads.keep_downloads(BENCHMARK, DATA, DRIVE / "downloads")))
    prepare_dataset(BENCHMARK, DATA, download=True)
    data_root = DATA
else:
    print(f"no GPU: skipped preparing the real {TITLE}; a fabricated miniature in its raw layout instead")
    data_root = Path(tempfile.mkdtemp(prefix="proxygml_miniature_"))
    miniature_data.prepare_miniature(BENCHMARK, data_root)
for split in ("train", "test"):
    ds = load_dataset(BENCHMARK, data_root, split)
    print(f"{TITLE} {'' if REAL else '(miniature) '}{split}: {ds.num_classes} classes, {len(ds)} images")

# %% [markdown]
# ## Step 2: the weights
#
# The recipe fine-tunes BN-Inception from its ImageNet weights. They come from one place, the host of Cadene's
# `pretrainedmodels`, which has been down more than once. The first run downloads them into torch's cache and checks
# the SHA-256 prefix in their file name; when the host is down, the error names the fallbacks:

# %%
print(gpu_downloads.weights_status())

# %% [markdown]
# On Colab the cache is lost with the session: after the sanity run, `gpu_downloads.keep_downloads` keeps the file (and the
# archives) on Drive, and the next session copies it back into the cache, so the run's settings stay the same and
# `--resume` accepts them.
#
# ## Step 3: the paper's recipe
#
# The preset holds the official settings (github.com/YuehuaZhu/ProxyGML): BN-Inception pretrained on ImageNet,
# $d = 512$, batch 32, Adam, 50 epochs with the learning rates $\times 0.1$ after epochs 20 and 40, $r = 0.05$; $N = 12$,
# $\lambda = 0.3$ and frozen BatchNorm on CUB and Cars; $N = 1$, $\lambda = 0$ and a proxy learning rate of 0.3 on SOP.
# Each sample's subgraph holds
#
# $$k = \lceil r \, C \, N \rceil$$
#
# proxies (notebook 2):

# %%
recipe = config_from_preset(BENCHMARK)
keys = ["backbone", "pretrained", "dim", "batch_size", "epochs", "modellr", "centerlr", "new_epoch_to_decay"]
keys += ["N", "r", "weight_lambda", "freeze_bn", "warm", "epoch_to_test", "workers"]
classes = SPECS[BENCHMARK].counts["train"][0]
table = pd.Series({k: str(getattr(recipe, k)) for k in keys}, name=f"preset {BENCHMARK}").to_frame()
table.loc["k = ceil(r C N)"] = f"{steps.subgraph_size(recipe.r, classes, recipe.N)} (C = {classes})"
table

# %% [markdown]
# ## Step 4: a one-epoch sanity run
#
# Before 50 epochs, one: it loads the weights, checks every image, trains one epoch and evaluates twice (the untrained
# network and after the epoch), in about the time the estimate gave. `--warm 0` makes this one epoch a full one
# (backbone included), so its time is that of the 49 later epochs of the recipe. The cell runs the package's command
# line in this kernel (`proxygml_lite.train.main`, the same as `python -m proxygml_lite.train` in a terminal) with
# `--resume`, so running it again reads the finished run back. What to check:
#
# * the untrained network (epoch 0) already retrieves far above chance: that is the ImageNet weights at work (the
#   fork's log has no untrained row; after its first epoch it shows R@1 59.1 % on CUB);
# * the loss is finite and R@1 rises after the epoch;
# * the measured epoch and evaluation times, against the estimates.
#
# Here, without a GPU, the miniature trains instead, with a small CNN from random weights, $d = 32$, batch 16 and an $r$
# large enough that a subgraph holds more than the own-class proxies ($k > N$) with only a few classes.

# %%
SANITY = RUN_ROOT / f"{BENCHMARK}_sanity" if REAL else experiments.runs_root(smoke=True) / f"07_{BENCHMARK}_sanity"
if REAL:
    flags = ["--dataset", BENCHMARK, "--data", str(DATA), "-j", str(WORKERS)]
else:
    mini_classes = miniature_data.MINIATURE_SIZES[BENCHMARK][0]
    mini_r = round((recipe.N + 1) / (mini_classes * recipe.N) + 0.1, 3)  # k = ceil(r C N) > N
    flags = ["--dataset", BENCHMARK, "--data", str(data_root), "--backbone", "smallcnn", "--no-pretrained"]
    flags += ["--dim", "32", "-b", "16", "--r", str(mini_r), "-j", "0", "--device", "cpu", "--recall-ks", "1", "2", "4"]
    flags += ["--quiet"]
sanity_flags = flags + ["--epochs", "1", "--warm", "0", "--out", str(SANITY), "--resume"]
print("python -m proxygml_lite.train " + shlex.join(sanity_flags))
status = train_main(sanity_flags)
assert status == 0, f"the sanity run stopped with exit status {status}: read the error line above"
if REAL and torch.cuda.max_memory_allocated() > 0:
    print(f"peak GPU memory of this run: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB (measured)")
if REAL and DRIVE:  # the downloaded archives and weights, for the next session
    print("\n".join(gpu_downloads.keep_downloads(BENCHMARK, DATA, DRIVE / "downloads")))

# %%
sanity = study_plots.read_history(SANITY)
display(sanity[[c for c in ("epoch", "loss", "R@1", "NMI", "train_time_s", "eval_time_s") if c in sanity]])
untrained, trained = sanity["R@1"].iloc[0], sanity["R@1"].iloc[-1]
test_classes = load_dataset(BENCHMARK, data_root, "test").num_classes
print(
    f"R@1 {100 * untrained:.1f} % untrained -> {100 * trained:.1f} % after one epoch (chance: about "
    f"{100 / test_classes:.1f} %, 1 / {test_classes} test classes)"
)
when = "measured on this GPU" if REAL else "measured on the CPU for the MINIATURE, not GPU times"
print(
    f"one epoch: {sanity['train_time_s'].iloc[-1]:.1f} s, one evaluation: {sanity['eval_time_s'].iloc[-1]:.1f} s "
    f"({when}); estimated for {TITLE} on a GPU: {60 * estimates[TITLE]['epoch (min)']:.0f} s and "
    f"{60 * estimates[TITLE]['evaluation (min)']:.0f} s"
)

# %% [markdown]
# ## Step 5: the full recipe, resumable
#
# The same flags, 50 epochs, a run folder of its own. **Run this cell again in every new session**: `--resume`
# continues from the last finished epoch, and a finished run is read back without training. Interrupting the kernel
# (Ctrl-C, the stop button) lets the step in progress finish and saves a checkpoint; a lost connection costs the epoch
# in progress. On a JupyterHub or a server, the same command in a terminal outlives the browser:
# `nohup python -m proxygml_lite.train ... --resume > train.log 2>&1 &`.
#
# Here the miniature trains for two epochs, and the command then runs a second time, to show what a new session sees.

# %%
RUN = RUN_ROOT / BENCHMARK if REAL else experiments.runs_root(smoke=True) / f"07_{BENCHMARK}"
full_flags = flags + ["--out", str(RUN), "--resume"] + ([] if REAL else ["--epochs", "2"])
print("python -m proxygml_lite.train " + shlex.join(full_flags))
if not REAL:
    print("no GPU: skipped the 50 epochs of the real recipe; the miniature trains for 2 epochs instead")
assert train_main(full_flags) == 0
begin = time.perf_counter()
assert train_main(full_flags) == 0  # what a new session does
print(
    f"the same command again: done in {time.perf_counter() - begin:.1f} s, the finished run read back, nothing trained"
)
print(run_views.run_summary(RUN))

# %% [markdown]
# ## Step 6: what to expect
#
# **Predict first.** The learning rates drop tenfold after epochs 20 and 40. Will R@1 keep climbing to the end, or
# flatten out? Will a run of the official code reach the paper's value?
#
# Three kinds of numbers, each labelled: the **paper's** (ProxyGML with $d = 512$, from its comparison table); a
# **public reproduction** of the official code (the fork's log above, at the README's CUB settings: the only one found,
# for CUB only); and **this run's** (here: the miniature, not a result).

# %%
label = "this run" if REAL else "miniature smoke run (NOT a result)"
display(gpu_expectations.expectations(BENCHMARK, RUN, label=label))
fig = gpu_expectations.plot_expected_recall(BENCHMARK, study_plots.read_history(RUN) if REAL else None, label=label)
save_figure(fig, "07_expected_recall")

# %% [markdown]
# The fork's R@1 is 59.1 % after the first epoch, 65.1-65.5 % from epoch 35 on, and 65.2 % at epoch 50: flat after the
# second decay, and 1.4 points below the paper's 66.6 %. A gap of that size is what to expect from one run; the paper
# does not say whether it reports the last or the best epoch, and a single seed of the official code already differs
# from it. The miniature's curve is not drawn: its numbers are not on this scale.
#
# ## Step 7: load a run folder trained elsewhere
#
# A run folder is self-contained: copy it from the GPU machine or from Drive (`rsync -a gpu:runs/07/cub200 runs/`) and
# point `RUN_FOLDER` at it. `run_summary` says what it holds, `plot_run_history` draws its `metrics.csv`, and
# `load_run` rebuilds the trained network on this machine's CPU for the gallery. Without such a folder, the run of
# step 5 is copied to a new place and loaded from there, as a stand-in.

# %%
RUN_FOLDER = None  # e.g. Path("../runs/07/cub200"), copied from the GPU machine
if RUN_FOLDER is None:
    RUN_FOLDER = Path(tempfile.mkdtemp(prefix="proxygml_elsewhere_")) / BENCHMARK
    shutil.copytree(RUN, RUN_FOLDER)
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
# ## Step 8: a study table on a real benchmark
#
# Notebooks 8 and 10 read tables made on `glyphs_hard`. The same study runner makes them on CUB, Cars or SOP: every
# cell (an ablation row or an $(N, r)$ pair, and a seed) is one full run of the recipe, in its own locked folder, and
# is also a command of its own, so one GPU, a series of Colab sessions or a cluster can work through the cells:
#
# ```bash
# FLAGS="--preset cub200 --studies ablation --epoch_to_test 50 --data data --results results/cub200 --runs runs/studies/cub200"
# python -m proxygml_lite.studies $FLAGS --list        # index, cell, id, status
# python -m proxygml_lite.studies $FLAGS --cell 7      # train one cell (a finished one is read back)
# python -m proxygml_lite.studies $FLAGS --gather      # the table, from the finished cells
# ```
#
# Give every call the same flags, so that the list is the same. Flags the runner does not know are training flags
# (`--epoch_to_test 50`: each cell evaluates once, at the end; the data loader's workers are `-j`, because the
# runner's own `--workers` counts the cells trained at once). Each cell costs a full run, so the study costs:

# %%
study_flags = ["--preset", BENCHMARK, "--studies", "ablation", "--epoch_to_test", "50", "--data", str(data_root)]
STUDY_RESULTS = RUN_ROOT / "results" / BENCHMARK if REAL else Path(tempfile.mkdtemp(prefix="proxygml_study_"))
study_flags += ["--results", str(STUDY_RESULTS), "--runs", str(STUDY_RESULTS / "cells")]
status = studies_main(study_flags + ["--seeds", "0", "--list"])
one_run = gpu_estimates.estimates_table(ASSUMED, benchmarks=(BENCHMARK,), epoch_to_test=(50,)).iloc[:, 0]
for studies_run in (["ablation"], ["ablation", "grid"]):
    cells = {cell.id for cell in study_cells(recipe.replace(epoch_to_test=(50,)), studies_run, SEEDS)}
    print(
        f"{' and '.join(studies_run)}, seeds {SEEDS[0]}-{SEEDS[-1]}: {len(cells)} cells x {one_run['full recipe (h)']:.2f} h "
        f"= about {len(cells) * one_run['full recipe (h)']:.0f} GPU-hours on {TITLE} (ESTIMATE)"
    )

# %% [markdown]
# On a Slurm cluster, a job array runs one cell per task. The next cell writes its script for the chosen benchmark: as
# many tasks as `--list` has cells (the ablation's 8 rows x 5 seeds), each with a time limit of 1.5 times the estimated
# run, rounded up to whole hours.

# %%
count = len({cell.id for cell in study_cells(recipe.replace(epoch_to_test=(50,)), ["ablation"], SEEDS)})
limit = max(1, math.ceil(1.5 * one_run["full recipe (h)"]))
cluster_flags = f"--preset {BENCHMARK} --studies ablation --epoch_to_test 50 --data data --results results/{BENCHMARK}"
slurm = [
    "#!/bin/bash",
    f"#SBATCH --array=0-{count - 1} --gres=gpu:1 --cpus-per-task=8 --time={limit:02d}:00:00",
    f'FLAGS="{cluster_flags} --runs runs/studies/{BENCHMARK}"',
    'python -m proxygml_lite.studies $FLAGS --cell "$SLURM_ARRAY_TASK_ID" -j 8',
    "# afterwards, once: python -m proxygml_lite.studies $FLAGS --gather",
]
print("\n".join(slurm))

# %% [markdown]
# On Colab, the next cell works through the cells one after another, with the results on Drive, once `RUN_STUDY = True`
# (hours: see the estimate above); run it again in each new session (finished cells are read back), then it gathers.

# %%
RUN_STUDY = False  # True: train the ablation's cells here, one full run each
if REAL and RUN_STUDY:
    for index in range(count):
        studies_main(study_flags + ["--cell", str(index), "-j", str(WORKERS)])
    studies_main(study_flags + ["--gather"])
else:
    why = "RUN_STUDY is False" if REAL else "no GPU"
    print(f"{why}: skipped training the study's cells (each is a full run of the recipe)")

# %% [markdown]
# A gathered table reads back with the reader of notebooks 8 and 10, `study_tables.read_study_table(kind, path=FOLDER)`
# (the `--results` folder), and goes through the same views and statistics they use: for the ablation
# `ablation_beside_paper`, `ablation_claims`, `study_comparisons(table, "ablation")` (Welch's test, Holm-corrected),
# `study_views.plot_ablation_seeds` and `study_widgets.ablation_widget` (notebook 10); for the grid
# `summarize_seeds(table, by=["N", "r"])`, `study_comparisons(table, "grid")`, `study_views.plot_metric_vs_N`,
# `plot_grid_heatmap` and `parameter_study_widget` (notebook 8). The pointer cells in notebooks 8 and 10 say where.
# Without a table of your own, the committed `glyphs_hard` ablation stands in below (a CPU benchmark, not CUB):

# %%
if (STUDY_RESULTS / "ablation.csv").is_file():
    folder, source = STUDY_RESULTS, f"the ablation on {TITLE}"
else:
    folder, source = study_tables.committed_results_dir("glyphs_hard"), "STAND-IN: the committed glyphs_hard ablation"
ablation = study_tables.read_study_table("ablation", path=folder)
print(f"{source}: {len(ablation)} runs, seeds {sorted(ablation['seed'].unique().tolist())}")
print(
    f"NMI (this code): the {study_tables.config_of(ablation)['nmi_protocol']} NMI protocol of the configuration; "
    "NMI (paper): the paper's official protocol. Compare the pattern of the rows, not the levels."
)
study_tables.ablation_beside_paper(ablation)

# %% [markdown]
# ## Summary
#
# * One variable, `BENCHMARK`, picks the benchmark; the estimates (computed from FLOPs, image counts and stated
#   assumptions, never measured here) say what its run costs before it starts, and the sanity run measures it.
# * `python -m proxygml_lite.train --dataset NAME --out FOLDER --resume` is the whole recipe; with the run folder on
#   Drive it continues across Colab sessions. SOP's evaluations cost about as much as its training:
#   `--epoch_to_test 50` may be set at any resume.
# * BN-Inception's weights come from one host with a record of outages: keep a copy, and `--pretrained PATH` uses it.
# * The paper's numbers and the public reproduction are labelled as what they are; a run of this code is compared
#   with both, never mixed with them.
# * A study table on a real benchmark is the study runner's cells, one command each, gathered into a table that
#   notebooks 8 and 10 read with `read_study_table(kind, path=FOLDER)`.

# %% [markdown]
# ## Exercises
#
# **1.** Why does the miniature need a larger $r$ than the paper's 0.05? Compute $k$ for the paper's $r$ with the
# miniature's 8 training classes and $N = 12$.
#
# <details><summary>Solution</summary>
#
# ```python
# mini_classes = miniature_data.MINIATURE_SIZES[BENCHMARK][0]  # the miniature's training classes
# print(f"r C N = 0.05 x {mini_classes} x {recipe.N} = {0.05 * mini_classes * recipe.N:.1f}")
# print(f"k with the miniature's classes: {steps.subgraph_size(0.05, mini_classes, recipe.N)}; N = {recipe.N}")
# print(f"k with 100 classes: {steps.subgraph_size(0.05, 100, recipe.N)}")
# ```
#
# $k = \lceil 4.8 \rceil = 5 \le N = 12$: every subgraph would hold only own-class proxies and $\mathcal{L}^s$ would be
# zero (the subgraph notebook). With 100 classes, $k = 60 > 12$.
#
# </details>
#
# **2.** Change `ASSUMED` to a GPU twice as fast (`gpu_tflops=8`) and run the estimates again. Why does CUB's epoch not
# get faster, and what would?
#
# <details><summary>Solution</summary>
#
# ```python
# faster = gpu_estimates.estimates_table(gpu_estimates.Assumptions(gpu_tflops=8))
# print(faster.attrs["assumptions"])
# print(faster.loc[["epoch (min)", "epoch bound by"], "CUB-200-2011"].to_string())
# print("before:", estimates.loc["epoch (min)", "CUB-200-2011"])
# ```
#
# With the assumed 200 images/s, CUB's epoch is bound by data loading (the row "epoch bound by"), and its time does
# not change: the GPU waits for the CPU. A faster GPU changes nothing there; more CPU cores (workers) or a faster decoding do, and
# `benchmarks/bench_data_pipeline.py` measures what your machine's workers deliver.
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
