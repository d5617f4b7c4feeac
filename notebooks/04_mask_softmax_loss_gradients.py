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
# [← 03 Reverse label propagation](03_reverse_label_propagation.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [05 Training on toy data →](05_training_on_toy_data.ipynb) · about 30 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/04_mask_softmax_loss_gradients.ipynb)
#
# # 4. Mask softmax, the loss and its gradients
#
# *ProxyGML teaching notebooks, part 4 of 11.*
#
# **Learning goals.** After this notebook you can
#
# 1. compute the class mask $M$, the mask softmax $P$ and the sample loss $\mathcal{L}^s$ by hand and with
#    `proxygml_lite.steps`, and say why a plain softmax over all classes is wrong for subgraph votes;
# 2. explain the proxy regulariser $\mathcal{L}^p$ as a "hard" constraint on the proxies, next to the "soft" one of
#    $S^{pos}$, and what it prefers;
# 3. read the gradients of $\mathcal{L} = \mathcal{L}^s + \lambda \mathcal{L}^p$ on the embeddings and the proxies;
# 4. predict what $N$, $r$ and $\lambda$ do before training anything (notebook 5 then measures them);
# 5. write the mask softmax yourself (the exercise at the end is checked by `proxygml_lite.exercises`).
#
# **Prerequisites.** Notebooks 1-3 ($S$, $S^{pos}$, $k$, $W$, $Z = WY^p$), the softmax and cross-entropy, and what a
# gradient is (PyTorch autograd computes them for us).

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

import matplotlib.pyplot as plt
import pandas as pd
import torch

from proxygml_lite import ProxyGMLLoss, exercises, steps
from proxygml_lite.teaching import plots, toy, widgets

torch.set_printoptions(precision=3, sci_mode=False)
pd.set_option("display.precision", 3)

# %% [markdown]
# ## The worked example of notebook 3, continued
#
# Two samples ($x_1$ at 20° with label 0, $x_2$ at 200° with label 1), proxies at $0°, 60°, \dots, 300°$ of classes
# $0, 0, 1, 1, 2, 2$, $r = 0.5$, $k = 3$. Notebook 3 found $Z_1 = (1.706, 0, 0.174)$ and $Z_2 = (0, 1.113, 0.766)$.


# %%
def unit(degrees):
    """Unit vectors at the given angles (degrees)."""
    radians = torch.tensor(degrees, dtype=torch.float32) * math.pi / 180
    return torch.stack([torch.cos(radians), torch.sin(radians)], dim=1)


C, N = 3, 2
X, y = unit([20.0, 200.0]), torch.tensor([0, 1])
P_ex = unit([0.0, 60.0, 120.0, 180.0, 240.0, 300.0])
k = steps.subgraph_size(0.5, C, N)
Z = steps.reverse_label_propagation(steps.select_subgraph(steps.similarity_graph(X, P_ex), y, C, N, k), C, N)
print("Z =\n", Z)

# %% [markdown]
# ## Step 1: the class mask $M$
#
# A class with $Z_{ic} = 0$ had no proxy in the subgraph: the subgraph says nothing about it. The mask records which
# classes are present:
#
# $$M_{ic} = \begin{cases} 1, & Z_{ic} \ne 0 \\ 0, & Z_{ic} = 0 \end{cases}$$

# %%
M = steps.class_mask(Z)
print("M =\n", M.int())

# %% [markdown]
# ## Step 2: the mask softmax $P$ and the loss $\mathcal{L}^s$
#
# The mask softmax normalises over the present classes only:
#
# $$P(\tilde{y}^s_i = c \mid \mathbf{x}^s_i) = \frac{M_{ic} \exp(Z_{ic})}{\sum_{c'=1}^{C} M_{ic'} \exp(Z_{ic'})},
# \qquad
# \mathcal{L}^s = -\frac{1}{B} \sum_{i=1}^{B} \log P(\tilde{y}^s_i = y^s_i \mid \mathbf{x}^s_i).$$
#
# (The official code adds $10^{-8}$ to the denominator and $10^{-20}$ inside the log; `steps` keeps both and
# computes the same value stably in log space.)
#
# A note on letters. The poster writes $M$ both for the batch size (in $\mathcal{L}^s$, $\frac{1}{M}\sum_{i=1}^M$)
# and for the class mask, and $P$ both for the proxies and for probabilities. This course writes $B$ for the batch
# size, $M$ only for the mask, $P$ for the proxy matrix and $P(\cdot \mid \cdot)$, always with its arguments, for a
# probability ([glossary: one letter, two meanings](GLOSSARY.md#one-letter-two-meanings)).
#
# By hand for $x_1$: classes 0 and 2 are present, $P_1 = 1 / (1 + e^{0.174 - 1.706}) = 0.822$ for its label 0, so
# $-\log P = 0.196$. For $x_2$: $P = 1 / (1 + e^{0.766 - 1.113}) = 0.586$, $-\log P = 0.535$. Mean:
# $\mathcal{L}^s = 0.365$.

# %%
P_mask = steps.mask_softmax(Z, M)
loss_s = steps.classification_loss(Z, y)
print("P (mask softmax) =\n", P_mask)
print(f"L^s = {loss_s.item():.3f}")
assert (
    abs(
        loss_s.item() - (-math.log(1 / (1 + math.exp(0.174 - 1.706))) - math.log(1 / (1 + math.exp(0.766 - 1.113)))) / 2
    )
    < 1e-3
)

# %% [markdown]
# ### Against a plain softmax over all classes
#
# A plain softmax treats an absent class as a class with score $Z_{ic} = 0$, i.e. weight $e^0 = 1$, as if the
# subgraph had voted for it. `steps.classification_loss(..., use_mask_softmax=False)` is that variant (the paper's
# ablation rows without $M$).

# %%
P_plain = torch.softmax(Z, dim=1)
print("P (plain softmax) =\n", P_plain)
print(
    f"L^s: mask softmax {steps.classification_loss(Z, y).item():.3f}, "
    f"plain softmax {steps.classification_loss(Z, y, use_mask_softmax=False).item():.3f}"
)

# %% [markdown]
# With 3 classes the difference is modest. With many classes it is not: the subgraph holds only $k$ proxies, so most
# classes are absent, and each of them takes $e^0 = 1$ of the plain softmax's mass. Take $C = 100$ classes and a
# subgraph whose votes are $1.5$ for the own class and $0.3$ for one other class:

# %%
z100 = torch.zeros(1, 100)
z100[0, 0], z100[0, 1] = 1.5, 0.3
label0 = torch.tensor([0])
print(
    f"P(own class): mask softmax {steps.mask_softmax(z100)[0, 0]:.3f}, plain softmax {torch.softmax(z100, 1)[0, 0]:.3f}"
)
print(
    f"L^s: mask {steps.classification_loss(z100, label0).item():.3f}, "
    f"plain {steps.classification_loss(z100, label0, use_mask_softmax=False).item():.3f}"
)

# %% [markdown]
# The toy batch of notebooks 2-3 (4 classes with 2 opposite clusters, $N = 2$ hand-placed proxies near the
# clusters, $r = 0.3$, $k = 3$) for three samples: mask softmax (black) against plain softmax (grey). Absent classes get
# nothing from the mask softmax, and a share of the plain one.

# %%
C4, K4, N4, r4 = 4, 2, 2, 0.3
points, labels = toy.multimodal_circle(num_classes=C4, modes_per_class=K4, samples_per_mode=8, noise=0.2, seed=cfg.seed)
proxies = toy.toy_proxies(num_classes=C4, proxies_per_class=N4, dim=2, modes_per_class=K4, jitter=0.3, seed=cfg.seed)
S4 = steps.similarity_graph(points, proxies)
Z4 = steps.reverse_label_propagation(steps.select_subgraph(S4, labels, C4, N4, steps.subgraph_size(r4, C4, N4)), C4, N4)
fig = plots.plot_softmax_comparison(Z4, labels, sample_indices=[0, 20, 40], num_classes=C4)
save_figure(fig, "04_mask_vs_plain_softmax")

# %% [markdown]
# ### When the own class is absent
#
# Without $S^{pos}$ a sample can lose its own class from the subgraph (notebook 2). Then $Z_{iy_i} = 0$, so
# $M_{iy_i} = 0$ and $P(y_i) = 0$: its loss is the constant $-\log(0 + 10^{-20}) = 46.05$, **with zero gradient**.
# Such a sample adds a large number to the loss and teaches nothing. $S^{pos}$ rules this out.

# %%
z_absent = torch.tensor([[0.0, 0.8, 0.5]], requires_grad=True)  # own class 0 absent
loss_absent = steps.classification_loss(z_absent, torch.tensor([0]))
loss_absent.backward()
print(f"L^s = {loss_absent.item():.2f}, gradient wrt Z: {z_absent.grad.tolist()}")

# %% [markdown]
# The four combinations of $S^{pos}$ and $M$ on the toy batch, through `ProxyGMLLoss` ($\lambda = 0$, so the loss is
# $\mathcal{L}^s$), for the proxies near the clusters and for random proxies as at initialisation. Read the table
# with the last cell in mind: with $S^{pos}$ off and $M$ on, a large value can mean "many samples without their
# class" (46.05 each, no gradient), not "a hard problem". And with $S^{pos}$ off the far own-class proxy (the one at
# the class's other cluster, $S \approx -1$) is no longer forced into the subgraph, which lowers the loss.

# %%
proxies_init = toy.toy_proxies(num_classes=C4, proxies_per_class=N4, dim=2, modes_per_class=None, seed=3)


def toy_loss(proxy_matrix, use_positive_mask, use_mask_softmax):
    loss_fn = ProxyGMLLoss(
        C4, N4, 2, r=r4, weight_lambda=0.0, positive_mask=use_positive_mask, mask_softmax=use_mask_softmax
    )
    with torch.no_grad():
        loss_fn.proxies.copy_(proxy_matrix)
    return loss_fn(points, labels).item()


table = {}
for name, proxy_matrix in (("near clusters", proxies), ("random", proxies_init)):
    kept = steps.select_subgraph(
        steps.similarity_graph(points, proxy_matrix),
        labels,
        C4,
        N4,
        steps.subgraph_size(r4, C4, N4),
        use_positive_mask=False,
    ).indices
    missing = int((steps.positive_mask(labels, C4, N4).gather(1, kept).sum(1) == 0).sum())
    table[name] = {
        f"S^pos {'on' if p else 'off'}, M {'on' if m else 'off'}": toy_loss(proxy_matrix, p, m)
        for p in (True, False)
        for m in (True, False)
    }
    table[name]["samples without own class (S^pos off)"] = missing
pd.DataFrame(table)

# %% [markdown]
# ## Step 3: the proxy regulariser $\mathcal{L}^p$
#
# $\mathcal{L}^p$ classifies every *proxy* with the proxies themselves: the score of proxy $j$ for class $c$ is
# its summed similarity to the $N$ proxies of class $c$ (itself included), i.e. row $j$ of $(PP^\top)Y^p$, and a
# plain softmax cross-entropy asks it to pick its own class:
#
# $$\mathcal{L}^p = -\frac{1}{CN} \sum_{j=1}^{CN} \log P(\tilde{y}^p_j = y^p_j \mid \mathbf{x}^p_j),
# \qquad P(\tilde{y}^p_j = c \mid \mathbf{x}^p_j) = \operatorname{softmax}_c\big((PP^\top)Y^p\big)_{j}.$$
#
# **This is the official code's formula, not the poster's.** The poster prints
# $\mathcal{L}^p = -\frac{1}{C \times N} \sum_{i=1}^{C} \sum_{j=1}^{N} \mathbb{I}(y^p_i = j) \log P(\tilde{y}^p_i = j
# \mid \mathbf{x}^p_i)$, whose indices do not fit together ($i$ runs over the $C$ classes but indexes a proxy, and
# $j \le N$ is compared with a class label) and which does not say how a proxy's $P$ is computed. The equation above
# is what `ProxyGMLLoss` and the official implementation compute: a plain softmax over the summed similarities
# $(PP^\top)Y^p$, self-similarity included, averaged over all $CN$ proxies (`steps.proxy_regulariser`).
#
# It acts on the proxies directly: it pushes proxies of different classes apart and pulls proxies of the same class
# together. The paper calls it a **"hard" constraint**, as opposed to the **"soft" constraint** of $S^{pos}$, which
# only acts through the samples (it keeps each sample's own proxies in its subgraph, so $\mathcal{L}^s$ pulls them
# towards the sample, and thereby towards each other).
#
# What does $\mathcal{L}^p$ prefer? Three configurations of $C = 4$, $N = 2$ proxies:

# %%
configs = {
    "two proxies per class, at opposite clusters": proxies,
    "random directions (initialisation)": proxies_init,
    "both proxies of a class together": toy.toy_proxies(
        num_classes=C4, proxies_per_class=N4, dim=2, modes_per_class=1, jitter=0.1, seed=cfg.seed
    ),
}
for name, config in configs.items():
    print(f"L^p = {steps.proxy_regulariser(config, C4, N4).item():.3f}   {name}")

# %% [markdown]
# $\mathcal{L}^p$ is lowest when the proxies of a class are together and the classes spread out: it works
# *against* keeping a class's proxies at separate clusters. $\lambda$ decides how much that counts. The heat map of
# the proxy similarities $PP^\top$ for the "opposite clusters" proxies shows why it is high there: each class's
# diagonal block holds a value close to $-1$ next to the $+1$ of the self-similarity.

# %%
proxy_similarity = steps.similarity_graph(torch.nn.functional.normalize(proxies, dim=1), proxies)
fig = plots.plot_similarity_heatmap(
    proxy_similarity,
    steps.proxy_labels(C4, N4),
    num_classes=C4,
    columns_per_class=N4,
    row_name="proxy",
    value_name="$p_j^\\top p_l$",
    title=r"proxy similarities $PP^\top$",
)
save_figure(fig, "04_proxy_similarity")

# %% [markdown]
# ## The objective and `ProxyGMLLoss`
#
# $$\mathcal{L}(\Theta, \mathcal{P}) = \mathcal{L}^s + \lambda\, \mathcal{L}^p$$
#
# `ProxyGMLLoss` is exactly the composition of the steps above; checking it on the toy batch:

# %%
lam = 0.3
loss_fn = ProxyGMLLoss(C4, N4, embedding_dim=2, r=r4, weight_lambda=lam)
with torch.no_grad():
    loss_fn.proxies.copy_(proxies)
total = loss_fn(points, labels)
by_steps = steps.classification_loss(Z4, labels) + lam * steps.proxy_regulariser(proxies, C4, N4)
print(f"ProxyGMLLoss: {total.item():.4f}  (L^s = {loss_fn.loss_s.item():.4f}, L^p = {loss_fn.loss_p.item():.4f})")
print(f"steps:        {by_steps.item():.4f}")
assert torch.allclose(total, by_steps, atol=1e-6)

# %% [markdown]
# ## Gradients on the circle
#
# `toy.loss_gradients` runs autograd through `ProxyGMLLoss` (for $\mathcal{L}^s$) and `steps.proxy_regulariser`
# (for $\mathcal{L}^p$) and returns the descent directions
# $-\partial \mathcal{L}^s / \partial \mathbf{x}^s_i$, $-\partial \mathcal{L}^s / \partial \mathbf{x}^p_j$ and
# $-\lambda\,\partial \mathcal{L}^p / \partial \mathbf{x}^p_j$, projected on the circle (the normalisation removes
# the radial part). The figure gives each of the three forces its own panel, so that no arrow hides another: the
# samples' arrows (left, in the sample's class colour), the $\mathcal{L}^s$ arrows on the proxies (middle) and the
# $\lambda\mathcal{L}^p$ arrows on the proxies (right). Each panel has its own arrow scale (the longest arrow is
# drawn at the same length in every panel; the titles give its true size).
#
# What to look for:
#
# * a sample moves towards the proxies that vote for its class and away from the other-class proxies in its
#   subgraph; a proxy moves towards the samples of its class and away from other-class samples that have it in
#   their subgraph;
# * in this full batch every proxy is in some sample's subgraph, but the arrows differ a lot in length: a proxy
#   that only enters the subgraphs of samples that are already well classified gets a force too short to see;
# * the $\lambda\mathcal{L}^p$ arrows push the classes' proxies apart and, as the table above predicts, pull the two
#   proxies of a class towards each other.

# %%
layout = dict(proxies=proxies, num_classes=C4, proxies_per_class=N4)
grads = toy.loss_gradients(points, labels, r=r4, weight_lambda=lam, **layout)
print(f"L^s = {grads.loss_s:.3f}, L^p = {grads.loss_p:.3f}")
print("|dL^s/dp_j| per proxy:", [round(v, 4) for v in grads.proxies_s.norm(dim=1).tolist()])
fig = plots.plot_gradient_explorer(points, labels, r=r4, weight_lambda=lam, **layout)
save_figure(fig, "04_gradients")

# %% [markdown]
# In this full batch every proxy lies in some subgraph. Training uses mini-batches, though; in a batch of only
# class-0 samples, several proxies are in no subgraph, and their $\mathcal{L}^s$ gradient is exactly zero:

# %%
batch = labels == 0
grads_batch = toy.loss_gradients(points[batch], labels[batch], r=r4, weight_lambda=lam, **layout)
kept = steps.select_subgraph(
    steps.similarity_graph(points[batch], proxies), labels[batch], C4, N4, steps.subgraph_size(r4, C4, N4)
).indices.unique()
outside = sorted(set(range(C4 * N4)) - set(kept.tolist()))
print("proxies in no subgraph of the class-0 batch:", outside)
print("their |dL^s/dp_j|:", [round(v, 6) for v in grads_batch.proxies_s[outside].norm(dim=1).tolist()])
print("their |lambda dL^p/dp_j|:", [round(v, 4) for v in grads_batch.proxies_p[outside].norm(dim=1).tolist()])

# %% [markdown]
# ### $\lambda$ and $r$
#
# The forces on the proxies with $\lambda = 0$ (top row) and $\lambda = 1.5$ (bottom row). Each column keeps one
# arrow scale for both rows, so the rows can be compared: the $\mathcal{L}^s$ arrows (left) are identical, and the
# $\lambda\mathcal{L}^p$ arrows (right) are absent at $\lambda = 0$ and grow in proportion to $\lambda$. In the
# widget, also vary $r$: a larger $r$ puts more proxies in each subgraph, so each sample is pushed from more
# classes.

# %%
# one scale per column, fitted to the lambda = 1.5 arrows (5 x those at lambda = 0.3)
scales = {"proxies_s": plots.arrow_scale(grads.proxies_s), "proxies_p": plots.arrow_scale(5 * grads.proxies_p)}
fig, axes = plt.subplots(2, 2, figsize=(7.4, 8), layout="constrained")
for row, value in zip(axes, (0.0, 1.5)):
    grads_value = toy.loss_gradients(points, labels, r=r4, weight_lambda=value, **layout)
    plots.plot_gradient_field(
        points,
        labels,
        gradients=grads_value,
        scales=scales,
        panels=("proxies_s", "proxies_p"),
        axes=row,
        legend=value == 1.5,
        **layout,
    )
    row[0].set_ylabel(f"λ = {value:g}", fontsize=11)
    row[0].set_title(f"λ = {value:g}, " + row[0].get_title(), fontsize=10)
save_figure(fig, "04_gradients_lambda")

# %%
widgets.gradient_widget(points, labels, r=r4, weight_lambda=lam, **layout)

# %% [markdown]
# ## Predict before you train: $N$, $r$ and $\lambda$
#
# Everything needed to predict the three knobs is now on the table.
#
# | knob | what it changes in the equations | expected effect |
# |---|---|---|
# | $N$ (proxies per class) | more rows in $P$; $k = \lceil rCN\rceil$ grows with $N$; the own-class vote $Z_{iy_i}$ sums $N$ cosines (up to $N$) | more capacity per class and larger margins in the mask softmax, more proxies to learn; $N = 1$ with a small $r$ leaves a single own cosine against one or two other-class votes |
# | $r$ (subgraph scale) | $k$, hence how many other-class proxies (and classes) each sample is compared with: $k - N$ | $r \le 1/C$: $k \le N$, $\mathcal{L}^s = 0$, nothing learned; small $r$: local, cheap, sparse gradients; $r = 1$: every class present, the mask changes nothing |
# | $\lambda$ (weight of $\mathcal{L}^p$) | scales the direct push/pull between proxies | $\lambda = 0$: proxies move only through samples; large $\lambda$: classes' proxies spread apart, a class's own proxies pulled together (against multi-modality) |
#
# Notebook 5 trains a small embedding and measures these predictions with seeded sweeps over $r$ and $\lambda$ and
# a comparison of $N$ at a fixed $k$. (Spoiler, so that you can check your reasoning there: not every row survives
# the measurement.)

# %% [markdown]
# ## Summary
#
# * $M = [Z \ne 0]$ marks the classes present in a subgraph; the mask softmax normalises over them only
#   (`steps.class_mask`, `steps.mask_softmax`); $\mathcal{L}^s$ is its cross-entropy (`steps.classification_loss`).
# * A plain softmax would give every absent class the weight $e^0 = 1$; with many classes that dominates.
# * An absent own class (possible without $S^{pos}$) gives a constant loss of 46.05 with zero gradient.
# * $\mathcal{L}^p$ (`steps.proxy_regulariser`) classifies the proxies by the proxies: a hard constraint that pushes
#   classes apart and pulls each class's proxies together; $S^{pos}$ is the soft constraint that acts through the
#   samples.
# * $\mathcal{L}^s$ only reaches the proxies inside subgraphs; $\lambda$ scales the direct proxy-proxy forces.

# %% [markdown]
# ## Exercises
#
# **1.** In the worked example, move $x_2$ to 180° (exactly on proxy $p_3$). Predict $Z_2$, $M_2$ and its loss term,
# then check with the code.
#
# <details><summary>Solution</summary>
#
# At 180°: $S_2 = (\cos 180°, \cos 120°, \cos 60°, \cos 0°, \cos 60°, \cos 120°)$
# $= (-1, -0.5, 0.5, 1, 0.5, -0.5)$.
# Own class 1: $p_2, p_3$; the best other proxy is $p_4$ ($0.5$). $Z_2 = (0, 1.5, 0.5)$, $M_2 = (0, 1, 1)$,
# $P(1) = 1/(1 + e^{-1}) = 0.731$, $-\log P = 0.313$.
#
# ```python
# import math
#
# X2 = unit([20.0, 180.0])
# S2 = steps.similarity_graph(X2, P_ex)
# print("angles of x_2 to p0..p5:", [abs(180 - a) for a in (0, 60, 120, 180, 240, 300)])
# print("S_2:", [round(v, 3) for v in S2[1].tolist()])
# Z2 = steps.reverse_label_propagation(steps.select_subgraph(S2, y, C, N, k), C, N)
# print("Z_2:", [round(v, 3) for v in Z2[1].tolist()], " M_2:", steps.class_mask(Z2)[1].int().tolist())
# print(f"P(1) = 1/(1 + e^-1) = {1 / (1 + math.exp(-1)):.3f}")
# print(f"loss term of x_2: {steps.classification_loss(Z2[1:], y[1:]).item():.3f}")
# ```
#
# </details>
#
# **2.** Take $N = 1$, $r = 1$ and no mask. What does $\mathcal{L}^s$ become? What is the largest probability it can
# give the right class when $C = 100$?
#
# <details><summary>Solution</summary>
#
# With $k = C$ every proxy is kept, so $Z_{ic} = S_{ic}$, the cosine similarity to the single proxy of class $c$:
# $\mathcal{L}^s$ is a softmax cross-entropy over cosine similarities to one proxy per class (a ProxyNCA-like
# loss without a temperature). Since every $Z_{ic} \in [-1, 1]$, at best
# $P = e^{1} / (e^{1} + 99\,e^{-1}) \approx 0.07$: without a scale factor the loss cannot become small. The sums over
# $N$ proxies and the mask are what give ProxyGML's scores room.
#
# </details>
#
# **3.** A proxy lies in no subgraph of the batch. Which terms of $\mathcal{L}$ move it, and in which direction?
#
# <details><summary>Solution</summary>
#
# Only $\lambda\mathcal{L}^p$: $\mathcal{L}^s$ depends on $S_{ij}$ only for $(i, j) \in \mathcal{I}$ (the selection
# has no gradient). $\mathcal{L}^p$ pulls it towards the proxies of its class and pushes it from the other classes'
# proxies. With $\lambda = 0$ it would not move at all in that step.
#
# </details>

# %% [markdown]
# ## Implement it yourself: the mask softmax
#
# Write $P = M \exp(Z) / (10^{-8} + \sum_c M_c \exp(Z_c))$ for a batch of votes `z` of shape $(B, C)$, with the
# mask $M = [Z \ne 0]$ computed inside your function. Absent classes must get probability 0, and a row with no
# class present at all must give zeros (not `nan`). The checker compares your function with `steps.mask_softmax`.


# %%
def my_mask_softmax(z):
    """The mask softmax of the votes z (B, C): a softmax over the classes with Z != 0 only."""
    raise NotImplementedError  # your code here


passed = exercises.check_mask_softmax(my_mask_softmax)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_mask_softmax(z):
#     mask = (z != 0).to(z.dtype)                                   # M
#     masked_exp = torch.exp(z) * mask                              # M exp(Z): 0 for absent classes
#     return masked_exp / (1e-8 + masked_exp.sum(dim=1, keepdim=True))
# ```
#
# The $10^{-8}$ is what keeps an all-absent row at 0 instead of $0/0$; summing over `dim=0` (the samples) instead of
# `dim=1` (the classes) is the other slip the checker points out.
#
# </details>
