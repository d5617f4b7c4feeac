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
# [← 02 Subgraph construction](02_subgraph_construction.ipynb) · [Contents](README.md) · [Glossary](GLOSSARY.md) · [04 Mask softmax, loss and gradients →](04_mask_softmax_loss_gradients.ipynb) · about 20 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/03_reverse_label_propagation.ipynb)
#
# # 3. Reverse label propagation
#
# *ProxyGML teaching notebooks, part 3 of 11.*
#
# **Learning goals.** After this notebook you can
#
# 1. write the proxy label matrix $Y^p$ and compute $Z = WY^p$ by hand for a small example;
# 2. read $Z_{ic}$ as the *votes* of the proxies in sample $i$'s subgraph for class $c$, and say when a vote is zero,
#    negative or large;
# 3. contrast ProxyGML's *reverse* label propagation with classic label propagation: classic propagation spreads
#    known labels to unlabelled points over a fixed graph, while here all labels are known and they are used to
#    adjust the graph;
# 4. write $Z = WY^p$ yourself (the exercise at the end is checked by `proxygml_lite.exercises`).
#
# **Prerequisites.** Notebooks 1 and 2 ($S = XP^\top$, $S^{pos}$, $k = \lceil rCN \rceil$, $\mathcal{I}$, $W$).

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

import pandas as pd
import torch
import torch.nn.functional as F

from proxygml_lite import exercises, steps
from proxygml_lite.teaching import plots, toy, widgets

torch.set_printoptions(precision=3, sci_mode=False)
pd.set_option("display.precision", 3)

# %% [markdown]
# ## The proxy label matrix $Y^p$
#
# $Y^p \in \{0, 1\}^{CN \times C}$ is the one-hot matrix of the proxies' labels: $Y^p_{jc} = 1$ iff proxy $j$
# belongs to class $c$, i.e. $c = \lfloor j / N \rfloor$. For $C = 3$ classes and $N = 2$:

# %%
C, N = 3, 2
Y_p = F.one_hot(steps.proxy_labels(C, N), C).float()
print(Y_p)

# %% [markdown]
# ## Reverse label propagation: $Z = W Y^p$
#
# $$Z = W Y^p \in \mathbb{R}^{B \times C}, \qquad
#   Z_{ic} = \sum_j W_{ij} Y^p_{jc} = \sum_{j \in \mathcal{I}_i,\; y^p_j = c} S_{ij}.$$
#
# Each proxy in sample $i$'s subgraph casts a vote for its own class, with the weight of its edge $S_{ij}$. So
#
# * $Z_{ic} = 0$ when no proxy of class $c$ is in the subgraph (the class is **absent**);
# * $Z_{ic}$ can be **negative**: a kept proxy with $S_{ij} < 0$ votes against (it happens to own-class proxies,
#   which $S^{pos}$ keeps even when they are far away);
# * $|Z_{ic}| \le$ the number of class-$c$ proxies in the subgraph $\le N$.
#
# ### A worked example you can check by hand
#
# Two samples, $C = 3$ classes, $N = 2$ proxies per class, $r = 0.5$, so $k = \lceil 0.5 \cdot 3 \cdot 2 \rceil = 3$.
# Everything lies on the unit circle, so $S_{ij} = \cos(\text{angle between them})$:
#
# * proxies $p_0, \dots, p_5$ at $0°, 60°, 120°, 180°, 240°, 300°$, of classes $0, 0, 1, 1, 2, 2$;
# * sample $x_1$ at $20°$ with label 0, sample $x_2$ at $200°$ with label 1.


# %%
def unit(degrees):
    """Unit vectors at the given angles (degrees)."""
    radians = torch.tensor(degrees, dtype=torch.float32) * math.pi / 180
    return torch.stack([torch.cos(radians), torch.sin(radians)], dim=1)


X = unit([20.0, 200.0])
y = torch.tensor([0, 1])
P = unit([0.0, 60.0, 120.0, 180.0, 240.0, 300.0])
r = 0.5
k = steps.subgraph_size(r, C, N)
proxy_names = [f"p{j} (c{j // N})" for j in range(C * N)]
rows = ["x1 (y=0)", "x2 (y=1)"]

S = steps.similarity_graph(X, P)
print(f"k = {k}\nS = X P^T  (x1 row: cos 20, cos 40, cos 100, cos 160, cos 220, cos 280):")
pd.DataFrame(S.numpy(), index=rows, columns=proxy_names)

# %% [markdown]
# $S^{pos}$ marks $p_0, p_1$ for $x_1$ and $p_2, p_3$ for $x_2$. The ranking $S + 1000\,S^{pos}$ puts those first;
# the third place goes to the most similar other-class proxy: $p_5$ ($\cos 80° = 0.174$) for $x_1$ and $p_4$
# ($\cos 40° = 0.766$) for $x_2$.

# %%
S_pos = steps.positive_mask(y, C, N)
subgraph = steps.select_subgraph(S, y, C, N, k)
W = subgraph.to_dense()
print("S + 1000 S^pos:")
print(pd.DataFrame((S + steps.POSITIVE_BIAS * S_pos).numpy(), index=rows, columns=proxy_names))
print("\nI (kept proxies):", {rows[i]: sorted(subgraph.indices[i].tolist()) for i in range(2)})
print("\nW:")
pd.DataFrame(W.numpy(), index=rows, columns=proxy_names)

# %% [markdown]
# Now the votes. By hand: $Z_{1} = (\cos 20° + \cos 40°,\ 0,\ \cos 80°) = (1.706, 0, 0.174)$: class 1 is absent
# from $x_1$'s subgraph. $Z_2 = (0,\ \cos 80° + \cos 20°,\ \cos 40°) = (0, 1.113, 0.766)$: class 0 is absent.
# `steps.reverse_label_propagation` computes $Z$ as a scatter-add of the $k$ kept weights into their classes,
# never forming $Y^p$; it gives the same numbers as the dense product.

# %%
Z = steps.reverse_label_propagation(subgraph, C, N)
assert torch.allclose(Z, W @ Y_p, atol=1e-6)
by_hand = torch.tensor(
    [
        [math.cos(math.radians(20)) + math.cos(math.radians(40)), 0.0, math.cos(math.radians(80))],
        [0.0, math.cos(math.radians(80)) + math.cos(math.radians(20)), math.cos(math.radians(40))],
    ]
)
assert torch.allclose(Z, by_hand, atol=1e-5)
pd.DataFrame(Z.numpy(), index=rows, columns=[f"class {c}" for c in range(C)])

# %%
fig = plots.plot_matrix_product(
    W, Y_p, Z, row_names=rows, middle_names=proxy_names, column_names=[f"c{c}" for c in range(C)]
)
save_figure(fig, "03_worked_example")

# %% [markdown]
# ## Classic label propagation versus reverse label propagation
#
# **Classic label propagation** (e.g. Zhou et al., 2004) has a *fixed* graph over data points, a few of which are
# labelled. It spreads the known labels along the edges, $F \leftarrow \alpha A F + (1 - \alpha) Y$, until every
# unlabelled point has a score for each class. The graph is given; the unknown labels are the output.
#
# **Reverse label propagation** turns this around. Every label is known: the samples' $y^s$ and the proxies' $y^p$.
# One propagation step, $Z = WY^p$, carries the proxies' labels to the samples through the subgraph, and the loss
# (notebook 4) compares $Z$ with the *known* $y^s$. The gradient then changes the graph itself, i.e. the
# similarities $S_{ij}$, by moving the embeddings and the proxies. In the paper's words, "the neighbor relationships
# are adjusted according to ground-truth labels".
#
# Left: classic propagation on the toy batch with one known label per class, placed in the first mode of each
# class (`toy.label_propagation`, a graph of each point's 4 nearest neighbours). Each point is coloured by its
# predicted class; grey points were reached by no label at all (their scores are all zero), and crosses mark wrong
# predictions. Right: ProxyGML for one sample, where the known labels of the subgraph's proxies vote. The table
# below the figure counts, per cluster, what the propagation did.

# %%
C4, K4, N4 = 4, 2, 2
points, labels, modes = toy.multimodal_circle(
    num_classes=C4, modes_per_class=K4, samples_per_mode=8, noise=0.2, seed=cfg.seed, return_modes=True
)
labelled = torch.zeros(len(labels), dtype=torch.bool)
for c in range(C4):
    labelled[torch.nonzero((labels == c) & (modes == 0))[0]] = True  # one known label per class, in mode 0
scores = toy.label_propagation(points, labels, labelled=labelled, num_classes=C4, num_neighbours=4)
proxies = toy.toy_proxies(num_classes=C4, proxies_per_class=N4, dim=2, modes_per_class=K4, jitter=0.3, seed=cfg.seed)
fig = plots.plot_label_propagation_contrast(
    points,
    labels,
    labelled=labelled,
    scores=scores,
    proxies=proxies,
    num_classes=C4,
    proxies_per_class=N4,
    r=0.3,
    sample_index=5,
)
save_figure(fig, "03_label_propagation_contrast")

# %%
reached = scores.abs().amax(1) > 0
rows = []
for c in range(C4):
    for m in range(K4):
        cluster = (labels == c) & (modes == m) & ~labelled
        predicted = scores[cluster & reached].argmax(1)
        centre = points[(labels == c) & (modes == m)].mean(0)
        rows.append(
            {
                "class": c,
                "mode": m,
                "centre (deg)": round(math.degrees(math.atan2(centre[1], centre[0])) % 360),
                "unlabelled": int(cluster.sum()),
                "reached by a label": int((cluster & reached).sum()),
                "predicted classes (reached)": sorted(set(predicted.tolist())),
                "correct": int((predicted == c).sum()),
            }
        )
pd.DataFrame(rows).set_index(["class", "mode"])

# %% [markdown]
# Read the table with the figure. The graph is *not* cut between the clusters of different classes: on this
# circle a cluster's neighbours are clusters of *other* classes (the classes are interleaved), and some k-NN edges
# join neighbouring clusters. Labels flow along those edges without regard to class. The known labels sit in the
# first modes, at 0°, 45°, 90° and 135°; the second modes (180° to 315°) hold no known label, and whatever reaches
# them comes from a neighbour of another class: in this run class 0's label leaks from 0° into the cluster at 315°
# (all 8 points predicted as class 0) and on to one point of the cluster at 270°, while the clusters at 180° and
# 225° are reached by no label at all (grey). Even between first modes a label crosses over: one point of class 0
# and one of class 1 take their neighbouring cluster's class. Classic propagation can only spread labels along a graph it is given, right or wrong. Reverse label propagation
# has every label and changes the graph instead.

# %% [markdown]
# ## All $N$ own-class proxies vote
#
# With $S^{pos}$ and $k \ge N$ *every* own-class proxy is in the subgraph, near or far. So the own-class vote is a
# sum over all $N$ of them, which is one dot product with their sum:
#
# $$Z_{iy_i} = \sum_{j:\, y^p_j = y^s_i} (\mathbf{x}^s_i)^\top \mathbf{x}^p_j
#   = (\mathbf{x}^s_i)^\top \Big(\sum_{j:\, y^p_j = y^s_i} \mathbf{x}^p_j\Big).$$
#
# For its own class, a sample sees the $N$ proxies *collectively*, as one vector of length up to $N$. The other
# classes are different: only their proxies among the $k - N$ nearest enter the subgraph, so they are represented
# *locally*, by the proxies close to the sample.
#
# That has a consequence in our hand-made layout: the two clusters of a class are opposite, and so are its two
# proxies. Their votes nearly cancel (about $0.95 - 0.95$), while the nearest other-class proxy votes about $+0.9$.
# Predict how often $\arg\max_c Z_{ic}$ is the own class, then run the cell.
#
# The answer (none) is one reason why training does *not* keep the proxies in this layout. The summed vote is largest
# when all $N$ own-class proxies point the same way as the sample, so the loss pulls them together; the network, in
# turn, learns to map a class's clusters next to each other. In notebook 5 the proxies of a class merge (within-class
# cosine near 1) while the embedding folds the clusters of a class together. Rows of the heat map are sorted by
# class; every row has at least $C - 1 - (k - N)$ zeros (absent classes), because only $k - N$ places are left for
# the other classes.

# %%
r4 = 0.3
S4 = steps.similarity_graph(points, proxies)
Z4 = steps.reverse_label_propagation(steps.select_subgraph(S4, labels, C4, N4, steps.subgraph_size(r4, C4, N4)), C4, N4)
own_sum = torch.stack([proxies[labels[i] * N4 : (labels[i] + 1) * N4].sum(0) for i in range(len(labels))])
assert torch.allclose(Z4.gather(1, labels[:, None])[:, 0], (points * own_sum).sum(1), atol=1e-5)  # the identity
print(
    f"k = {steps.subgraph_size(r4, C4, N4)}; argmax Z = own class for "
    f"{(Z4.argmax(1) == labels).float().mean():.0%} of the samples; absent classes per row: "
    f"{(Z4 == 0).sum(1).float().mean():.1f} on average"
)
fig = plots.plot_similarity_heatmap(
    Z4,
    labels,
    num_classes=C4,
    columns_per_class=1,
    column_name="class",
    value_name="$Z_{ic}$",
    vmin=-N4,
    vmax=N4,
    title=r"$Z = WY^p$ for the toy batch",
)
save_figure(fig, "03_votes_heatmap")

# %% [markdown]
# ### Explore the votes
#
# One sample's subgraph (left) and its votes $Z_i$ (right; dashed empty bars are absent classes, $M = 0$, see
# notebook 4). The title gives the mask-softmax probability of the sample's label. Predict, then check: (a) at
# which $r$ does a second other class appear in the votes for $N = 2$? (b) With $N = 1$ (one proxy per class, at
# one of the two clusters), which samples get a high own-class vote, and which a negative one? (c) Why does $N = 2$
# not help the votes here, although it helped the nearest-proxy accuracy in notebook 1?
#
# <details><summary>Answers</summary>
#
# (a) With $C = 4$ and $N = 2$, $k = \lceil 8r \rceil$ and $k - N$ places are left for other classes. A second
# other class needs $k - N \ge 2$, i.e. $k \ge 4$, $r > 0.375$ (0.38 on the slider); it appears then if the two
# nearest other-class proxies belong to two different classes.
#
# (b) With $N = 1$ each class's single proxy sits at its *first* cluster. Samples of a first cluster get an
# own-class vote near $+1$; samples of a second cluster, 180° away, get one near $-1$ (their own proxy is opposite,
# but $S^{pos}$ keeps it in the subgraph).
#
# (c) The own-class vote *sums* the $N$ proxies of the class. With one at each of two opposite clusters, the sum is
# about $0.95 - 0.95 \approx 0$, whatever cluster the sample is in. Nearest-proxy accuracy takes the *maximum* over
# the proxies, so it profits from one proxy per cluster; the summed vote does not.
#
# </details>

# %%
fig = plots.plot_votes_explorer(
    points, labels, num_classes=C4, proxies_per_class=N4, r=r4, sample_index=5, modes_per_class=K4, seed=cfg.seed
)
save_figure(fig, "03_votes_sample")

# %%
widgets.votes_widget(
    points, labels, num_classes=C4, modes_per_class=K4, proxies_per_class=N4, r=r4, sample_index=5, seed=cfg.seed
)

# %% [markdown]
# ## Summary
#
# * $Y^p$ is the one-hot label matrix of the proxies; $Z = WY^p$ sums, for every sample and class, the similarities
#   to that class's proxies in the sample's subgraph (`steps.reverse_label_propagation`, a scatter-add).
# * $Z_{ic} = 0$ for classes absent from the subgraph; votes can be negative; $|Z_{ic}| \le N$.
# * With $S^{pos}$, the own-class vote is the dot product with the *sum* of all $N$ own-class proxies; other classes
#   only vote through their proxies near the sample.
# * Classic label propagation spreads known labels to unlabelled points along a fixed graph, to wherever its edges
#   lead, across class boundaries too. Reverse label propagation uses known labels to *change* the graph, through a
#   loss on $Z$.
# * The summed own-class vote favours a class's proxies pointing the same way: the hand-made layout with one proxy
#   per opposite cluster gets no sample right, and training merges the proxies (notebook 5).
#
# Next, notebook 4 turns $Z$ into probabilities with the mask softmax, and into the loss.

# %% [markdown]
# ## Exercises
#
# **1.** In the worked example, take $r = 1$ (so $k = 6$, every proxy is kept). Compute $Z_1$ by hand and check
# with the code.
#
# <details><summary>Solution</summary>
#
# $Z_1 = (\cos 20° + \cos 40°,\ \cos 100° + \cos 160°,\ \cos 220° + \cos 280°) = (1.706, -1.113, -0.592)$.
# No class is absent any more, and the far-away classes get negative votes.
#
# ```python
# import math
#
# # x1 sits at 20°, the proxies at 0°, 60°, ..., 300° (two per class): its angles to each class's two proxies
# angles = {0: (20, 40), 1: (100, 160), 2: (220, 280)}
# by_hand = [round(sum(math.cos(math.radians(a)) for a in pair), 3) for pair in angles.values()]
# full = steps.select_subgraph(S, y, C, N, steps.subgraph_size(1.0, C, N))
# print("by hand:", by_hand, " code:", steps.reverse_label_propagation(full, C, N)[0])
# ```
#
# </details>
#
# **2.** Why is $Z_{iy_i} \le N$, and what does that bound mean for $N = 1$ compared with $N = 3$?
#
# <details><summary>Solution</summary>
#
# $Z_{iy_i}$ is a sum of at most $N$ cosine similarities, each $\le 1$; equivalently the dot product of
# $\mathbf{x}^s_i$ with the sum of the $N$ own proxies, whose length is at most $N$. With $N = 1$ the own-class vote
# is a single cosine, at most 1, so the mask softmax can never be very confident (with one other class in the
# subgraph, $P(y_i) \le e^{1}/(e^{1} + e^{-1}) \approx 0.88$). With $N = 3$ it can reach 3, but only if all three
# own proxies point near the sample: the loss therefore pulls a class's proxies towards its samples, and together.
#
# </details>
#
# **3.** In classic label propagation, what is learned and what is fixed? And in reverse label propagation?
#
# <details><summary>Solution</summary>
#
# Classic: the graph (the data's similarities) is fixed; the labels of the unlabelled points are computed.
# Reverse: all labels are fixed (known); the graph is learned, because $S_{ij}$ depends on the trainable embedding
# network and proxies and the loss on $Z$ changes them.
#
# </details>

# %% [markdown]
# ## Implement it yourself: $Z = WY^p$
#
# Write reverse label propagation from the **dense** neighbour matrix: `W` has shape $(B, CN)$, $S_{ij}$ on the
# kept entries and 0 elsewhere (`subgraph.to_dense()`), and proxy $j$ belongs to class `j // proxies_per_class`.
# Return $Z$, shape $(B, C)$, with $Z_{ic}$ the sum of row $i$ of $W$ over the columns of class $c$. (The package's
# `steps.reverse_label_propagation` takes the sparse `Subgraph` instead; the checker builds $W$ for it.)


# %%
def my_reverse_label_propagation(W, num_classes, proxies_per_class):
    """Z = W Y^p: for each sample and class, the summed weights of that class's proxies."""
    raise NotImplementedError  # your code here


passed = exercises.check_reverse_label_propagation(my_reverse_label_propagation)

# %% [markdown]
# <details><summary>Solution</summary>
#
# Either build $Y^p$ and multiply, or sum the $N$ columns of each class:
#
# ```python
# def my_reverse_label_propagation(W, num_classes, proxies_per_class):
#     Y_p = F.one_hot(torch.arange(W.shape[1]) // proxies_per_class, num_classes).to(W.dtype)
#     return W @ Y_p
#     # or: W.view(W.shape[0], num_classes, proxies_per_class).sum(dim=2)
# ```
#
# `j % proxies_per_class` instead of `j // proxies_per_class` (mixing up the proxy layout) is the slip the checker
# catches most often.
#
# </details>
