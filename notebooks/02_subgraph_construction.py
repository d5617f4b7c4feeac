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
# [← 01 Proxies and the similarity graph](01_proxies_and_similarity_graph.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [03 Reverse label propagation →](03_reverse_label_propagation.ipynb) · about 25 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/02_subgraph_construction.ipynb)
#
# # 2. Relation-guided subgraph construction
#
# *ProxyGML teaching notebooks, part 2 of 11.*
#
# **Learning goals.** After this notebook you can
#
# 1. write down the positive mask $S^{pos}$ and compute it with `steps.positive_mask`;
# 2. compute the subgraph size $k = \lceil r\,C\,N \rceil$ and predict how $N$ and $r$ change it;
# 3. explain how the top-$k$ selection on $S + S^{pos}$ builds the set $\mathcal{I}$ and the sparse neighbour
#    matrix $W$ (`steps.select_subgraph`);
# 4. say what goes wrong without $S^{pos}$ (a sample's own class can drop out of its subgraph) and when
#    $k \le N$ (the subgraph holds only own-class proxies and the loss is zero);
# 5. write the positive-mask top-$k$ yourself (the exercise at the end is checked by `proxygml_lite.exercises`).
#
# **Prerequisites.** Notebook 1 (proxies, $S = XP^\top$, the proxy layout: proxy $j$ belongs to class
# $\lfloor j/N \rfloor$).

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
import warnings

import matplotlib.pyplot as plt
import torch

from proxygml_lite import ProxyGMLLoss, exercises, steps
from proxygml_lite.teaching import plots, toy, widgets

torch.set_printoptions(precision=2, sci_mode=False)

# %% [markdown]
# ## Toy batch and two sets of proxies
#
# Four classes with two modes each on the unit circle, and $N = 2$ proxies per class. Two proxy sets:
# `proxies_modes` are placed by hand, one near each mode (a layout to look at, not where training leaves the
# proxies: notebook 5 shows them merge), and `proxies_init` point in random directions, as right after
# initialisation, when the subgraph matters most.

# %%
C, K, N = 4, 2, 2
points, labels = toy.multimodal_circle(num_classes=C, modes_per_class=K, samples_per_mode=8, noise=0.2, seed=cfg.seed)
proxies_modes = toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, modes_per_class=K, jitter=0.3, seed=cfg.seed)
proxies_init = toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, modes_per_class=None, seed=3)
S = steps.similarity_graph(points, proxies_modes)  # notebook 1: S = X P^T
print(f"B = {len(points)} samples, C*N = {C * N} proxies, S: {tuple(S.shape)}")

# %% [markdown]
# ## Step 1: the positive mask $S^{pos}$
#
# $$S^{pos}_{ij} = \begin{cases} 1, & \text{if } y^s_i = y^p_j \\ 0, & \text{else} \end{cases}$$
#
# Row $i$ is 1 exactly on the $N$ proxies of sample $i$'s class. It is known from the labels alone, so it can guide
# the graph construction: the paper calls it a "soft" constraint that keeps each sample's own proxies in its
# subgraph, so that they are pulled towards it.

# %%
S_pos = steps.positive_mask(labels, num_classes=C, proxies_per_class=N)
print("labels of samples 0, 16, 32, 48:", labels[::16].tolist())
print(S_pos[::16].int())

# %% [markdown]
# ## Step 2: the subgraph size $k$
#
# Each sample keeps $k$ proxies, a fixed fraction $r \in (0, 1]$ of all $C N$:
#
# $$k = \lceil r \cdot C \cdot N \rceil .$$
#
# ($N = 12$, $r = 0.05$ below come from the official code's run scripts for CUB-200-2011; the paper's text does not
# state them.) So **$k$ grows with $N$ and with $r$**: doubling $N$ at fixed $r$ doubles $k$ (up to rounding). $N$ of the $k$
# places go to the own class (next step), so only $k - N$ are left for other classes; the subgraph compares the own
# class with other classes only if $k > N$, i.e. $r > 1/C$.

# %%
print("k = ceil(r*C*N) for C = 4:")
for n in (1, 2, 3, 6):
    print(f"  N = {n}:", {r: steps.subgraph_size(r, C, n) for r in (0.05, 0.1, 0.25, 0.3, 0.5, 1.0)})
print("official run scripts on CUB-200 (C=100, N=12, r=0.05): k =", steps.subgraph_size(0.05, 100, 12))

# %% [markdown]
# ## Step 3: top-$k$ of $S + S^{pos}$, the set $\mathcal{I}$ and the neighbour matrix $W$
#
# For every sample, the indices of the $k$ largest entries of its row of $S + S^{pos}$ form the set
# $\mathcal{I} = \{(i, j), \dots\}$, and the sparse neighbour matrix keeps $S$ there:
#
# $$W_{ij} = \begin{cases} S_{ij}, & \text{if } (i, j) \in \mathcal{I} \\ 0, & \text{else} \end{cases}$$
#
# A detail worth knowing: the paper writes $S + S^{pos}$, but as $S_{ij} \in [-1, 1]$, adding 1 does not always put
# an own-class proxy first (an own-class $S = -0.5$ becomes $0.5$, below an other-class $S = 0.9$). The official code
# adds $1000\,S^{pos}$ (`steps.POSITIVE_BIAS`), and so does `steps.select_subgraph`: with $k \ge N$, **all $N$
# own-class proxies are always kept**, and the other $k - N$ places go to the most similar proxies of other classes.
# The selection itself carries no gradient; the kept weights $W_{ij} = S_{ij}$ do.

# %%
r = 0.3
k = steps.subgraph_size(r, C, N)
subgraph = steps.select_subgraph(S, labels, num_classes=C, proxies_per_class=N, k=k, use_positive_mask=True)
W = subgraph.to_dense()
print(f"r = {r}: k = {k};  subgraph.indices {tuple(subgraph.indices.shape)} (the set I), W {tuple(W.shape)}")
print("I for samples 0 and 16:", subgraph.indices[[0, 16]].tolist())
print("W for samples 0 and 16:\n", W[[0, 16]])
assert bool(S_pos.gather(1, subgraph.indices).sum(1).eq(N).all())  # every sample keeps its N own proxies

# %% [markdown]
# The three matrices for the whole batch, rows sorted by class: $S^{pos}$ (left), $S$ with the kept entries
# outlined (middle), and $W$ (right). Every row of $W$ has $k$ non-zero entries, $N$ of them in the own-class block.

# %%
fig = plots.plot_subgraph_matrices(S, labels, num_classes=C, proxies_per_class=N, k=k)
save_figure(fig, "02_subgraph_matrices")

# %% [markdown]
# One sample at a time: its $k$ edges on the circle (left; every kept proxy is ringed, with its $S_{ij}$ written
# beside it, so that a proxy lying right on the sample, an edge of length zero, still shows) and its row of $S$
# (right; solid bars are kept, hatched bars are its own class). Here with the *random* proxies: the own-class
# proxies are far from the sample, yet $S^{pos}$ keeps them.

# %%
fig = plots.plot_subgraph_explorer(
    points,
    labels,
    num_classes=C,
    proxies_per_class=N,
    r=r,
    sample_index=5,
    positive_mask=True,
    modes_per_class=None,
    seed=3,
)
save_figure(fig, "02_subgraph_sample")

# %% [markdown]
# ### Explore $N$, $r$ and the sample
#
# Predict before you move a slider: (a) at $r = 0.3$, how many edges does a sample have for $N = 1, 2, 4$? (b) Which
# $r$ makes $k = N$, and what will the title say then? (c) Untick $S^{pos}$ and look for a sample whose own class
# disappears. The widget uses the hand-placed proxies near the modes; `modes_per_class=None` would give random ones.
#
# <details><summary>Answers</summary>
#
# (a) $k = \lceil 0.3 \cdot 4 \cdot N \rceil$: 2, 3 and 5 edges for $N = 1, 2, 4$.
#
# (b) $k = N$ when $rCN \le N$, i.e. $r \le 1/C = 0.25$ (and $r > (N-1)/(CN)$, so that $k$ does not drop below
# $N$). The title then adds "k ≤ N: only own class, $L^s$ = 0".
#
# (c) With these proxies, at $r = 0.3$ ($k = 3$) no sample loses its class: each sample's own proxy sits on its
# cluster. Lower $r$ to 0.2 ($k = 2$) and sample 0, for instance, loses it. With random proxies many more do (next
# section).
#
# </details>

# %%
widgets.subgraph_widget(
    points, labels, num_classes=C, modes_per_class=K, proxies_per_class=N, r=r, sample_index=5, seed=cfg.seed
)

# %% [markdown]
# ## Without $S^{pos}$ the own class can fall out of the subgraph
#
# Without the positive mask, $\mathcal{I}$ is the top-$k$ of $S$ alone (ablation rows 1, 3, 4 and 5 of the
# paper). At initialisation the proxies are random, so the own-class proxies are often not among the $k$ most similar
# ones. The figure counts, for the random proxies, the samples whose subgraph holds at least one own-class proxy, for
# every subgraph size $k = 1, \dots, CN$ (with $C = 4$, $N = 2$: $k = \lceil 8r \rceil$, so $r = 0.3$ is $k = 3$).
# With $S^{pos}$ (dashed) it is every sample, for every $k$. Without it (grey) the own class is often missing until
# $k$ approaches $CN$. In the shaded band $k \le N$ the mask keeps the own class but nothing else: there is
# nothing to compare with (last section).

# %%
S_init = steps.similarity_graph(points, proxies_init)
fig = plots.plot_own_class_coverage(S_init, labels, num_classes=C, proxies_per_class=N)
save_figure(fig, "02_own_class_coverage")

# %% [markdown]
# A concrete case: the first sample whose subgraph has no own-class proxy without $S^{pos}$ (right), and the same
# sample with $S^{pos}$ (left). Without its class in the subgraph, the sample has no edge that says "this is my
# class": notebook 4 shows that its loss is then a constant with zero gradient, so it teaches nothing.

# %%
without = steps.select_subgraph(S_init, labels, C, N, k, use_positive_mask=False)
own_kept = S_pos.gather(1, without.indices).sum(1)
lost = int(torch.nonzero(own_kept == 0)[0])
print(
    f"r = {r}, k = {k}: {int((own_kept == 0).sum())} of {len(points)} samples have no own-class proxy "
    f"without S^pos; the first is sample {lost}"
)
fig, axes = plt.subplots(1, 2, figsize=(10, 5), layout="constrained")
where = dict(proxies=proxies_init, num_classes=C, proxies_per_class=N, r=r, sample_index=lost)
plots.plot_subgraph(points, labels, positive_mask=True, ax=axes[0], legend=False, **where)
plots.plot_subgraph(points, labels, positive_mask=False, ax=axes[1], **where)
save_figure(fig, "02_without_positive_mask")

# %% [markdown]
# ## When $k \le N$: only own-class proxies, zero loss
#
# With $S^{pos}$ and $k \le N$, all $k$ places go to the own class: the subgraph never contains another class, so
# there is nothing to tell apart. The classification (notebook 4) then gives the own class probability 1, and the
# loss $\mathcal{L}^s$ and its gradient are 0 up to float rounding (the official formula's $10^{-8}$ and
# $10^{-20}$ leave traces of order $10^{-8}$ at most): there is nothing to learn from. `ProxyGMLLoss` warns when
# this happens (here $r = 0.2$: $k = \lceil 0.2 \cdot 4 \cdot 2 \rceil = 2 = N$). Notebook 5 (exercise 2) shows a
# catch with optimisers like Adam.

# %%
loss_fn = ProxyGMLLoss(num_classes=C, proxies_per_class=N, embedding_dim=2, r=0.2, weight_lambda=0.0)
with torch.no_grad():
    loss_fn.proxies.copy_(proxies_modes)
x = points.clone().requires_grad_(True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loss = loss_fn(x, labels)
loss.backward()
print(f"k = {loss_fn.k}   L^s = {loss.item():.2g}   largest |dL^s/dx| = {x.grad.abs().max().item():.2g}")
print("warning:", caught[0].message if caught else "none")

# %% [markdown]
# The printed value is not a bug. With every class in the subgraph being the own class, $P(y_i) = 1$ in float32, and
# the official $10^{-20}$ inside the log leaves $\mathcal{L}^s = -\log(1 + 10^{-20}) \approx -10^{-20}$: zero for
# every practical purpose, and so is the gradient.

# %% [markdown]
# ## Summary
#
# * $S^{pos}_{ij} = [y^s_i = y^p_j]$ marks each sample's own-class proxies (`steps.positive_mask`).
# * $k = \lceil rCN \rceil$ proxies per sample (`steps.subgraph_size`): larger $N$ or $r$ means a larger subgraph.
# * $\mathcal{I}$ = top-$k$ of $S + S^{pos}$ per row (the code uses $S + 1000\,S^{pos}$); $W = S$ on $\mathcal{I}$,
#   0 elsewhere (`steps.select_subgraph`, `Subgraph.to_dense`). With $k \ge N$ all own-class proxies are kept, the
#   remaining $k - N$ are the nearest proxies of other classes.
# * Without $S^{pos}$ a sample can lose its own class from the subgraph, especially early in training.
# * $k \le N$ leaves only own-class proxies: $\mathcal{L}^s = 0$ (up to rounding), nothing to learn; choose
#   $r > 1/C$.
#
# Next, notebook 3 turns each subgraph into class scores: reverse label propagation $Z = WY^p$.

# %% [markdown]
# ## Exercises
#
# **1.** With the official run scripts' CUB-200 setting ($C = 100$, $N = 12$, $r = 0.05$), how many proxies does a
# sample keep, and how many of them belong to other classes? What is the smallest $r$ for which the subgraph contains another
# class?
#
# <details><summary>Solution</summary>
#
# $k = \lceil 0.05 \cdot 100 \cdot 12 \rceil = 60$ (`steps.subgraph_size(0.05, 100, 12)`); 12 are own-class
# proxies, so 48 come from other classes, out of $1188$. Another class enters when $k > N$, i.e.
# $r \cdot 1200 > 12$, $r > 0.01 = 1/C$.
#
# </details>
#
# **2.** The top-$k$ selection runs under `torch.no_grad()`. Why is that fine, and which entries of $S$ receive a
# gradient?
#
# <details><summary>Solution</summary>
#
# Choosing indices is piecewise constant in $S$: small changes of $S$ do not change $\mathcal{I}$ (except at
# ties), so its derivative is zero almost everywhere. The gradient flows through the kept values
# $W_{ij} = S_{ij}$, $(i,j) \in \mathcal{I}$, only: a proxy outside every subgraph of the batch gets no gradient
# from $\mathcal{L}^s$ in that step.
#
# </details>
#
# **3.** Without $S^{pos}$, what fraction of samples keeps its own class at $r = 1$? Check it on the coverage plot
# and explain.
#
# <details><summary>Solution</summary>
#
# All of them: at $r = 1$, $k = CN$, every proxy is in every subgraph, so the top-$k$ keeps everything and
# $S^{pos}$ changes nothing. The mask matters for small $r$, which is what makes the subgraph cheap and local.
#
# </details>

# %% [markdown]
# ## Implement it yourself: the positive-mask top-$k$
#
# Write the selection of the set $\mathcal{I}$: for every row of `similarity` ($S$, shape $(B, CN)$), the indices
# of the `k` largest entries of $S + 1000\,S^{pos}$, where $S^{pos}_{ij} = 1$ iff `labels[i]` is the class of
# proxy $j$, i.e. `j // proxies_per_class`. Return a $(B, k)$ integer tensor (any order within a row). The
# checker compares your function with `steps.select_subgraph` on random inputs, including $k = N$ and $k = CN$.


# %%
def my_select_subgraph(similarity, labels, num_classes, proxies_per_class, k):
    """The (B, k) indices of the k largest entries of S + 1000 S^pos in every row."""
    raise NotImplementedError  # your code here


passed = exercises.check_select_subgraph(my_select_subgraph)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_select_subgraph(similarity, labels, num_classes, proxies_per_class, k):
#     proxy_class = torch.arange(similarity.shape[1]) // proxies_per_class      # y^p_j
#     s_pos = labels[:, None] == proxy_class[None, :]                            # (B, C*N) positive mask
#     return (similarity + 1000.0 * s_pos).topk(k, dim=1).indices
# ```
#
# Typical slips the checker reports: `topk` along `dim=0`, forgetting the mask (plain top-$k$ of $S$), or an
# off-by-one $k$.
#
# </details>
