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
# [Contents](README.md) · [Glossary](GLOSSARY.md) · [02 Subgraph construction →](02_subgraph_construction.ipynb) · about 25 min
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/OWNER/proxygml_lite/blob/main/notebooks/01_proxies_and_similarity_graph.ipynb)
#
# # 1. Proxies and the similarity graph
#
# *ProxyGML teaching notebooks, part 1 of 11.* The method is from Zhu, Yang, Deng and Liu,
# "Fewer is More: A Deep Graph Metric Learning Perspective Using Fewer Proxies", NeurIPS 2020.
#
# **Learning goals.** After this notebook you can
#
# 1. say what deep metric learning optimises and why *proxies* replace the sampling of pairs and triplets;
# 2. explain why one *fixed* proxy per class (ProxyNCA's layout) is a poor summary of a class made of several
#    clusters, what ProxyGML's $N$ proxies per class change, and why this geometry alone does not decide how well
#    training goes (the network moves the embeddings too: notebook 5);
# 3. make toy embeddings with multi-modal classes on the unit circle (and sphere) with `proxygml_lite.teaching.toy`;
# 4. compute the similarity graph $S = XP^\top$ with `proxygml_lite.steps` and read it as a bipartite graph and as
#    a heat map, and write it yourself (the exercise at the end is checked by `proxygml_lite.exercises`).
#
# **Prerequisites.** Python and basic PyTorch (tensors, matrix products), the cosine similarity of two vectors, what
# a softmax classifier does. No GPU is needed; notebooks/README.md lists how long each notebook takes on a CPU.

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
import torch
import torch.nn.functional as F

from proxygml_lite import exercises, steps
from proxygml_lite.teaching import plots, toy, widgets

# %% [markdown]
# ## Deep metric learning, and where proxies come from
#
# Deep metric learning trains a network $f$ that maps an input (an image, say) to an embedding
# $\mathbf{x} = f(\text{input})$ with $\|\mathbf{x}\| = 1$, such that inputs of the same class land close together
# and inputs of different classes far apart. It is used for image retrieval and clustering, typically *on classes
# that were not seen in training*, so the network cannot just be a classifier.
#
# Three families, as the paper motivates them:
#
# * **Sampling-based** losses (contrastive, triplet) compare samples *with each other*: an anchor is pulled towards a
#   positive and pushed from a negative. The tuples come from a mini-batch, so each step sees a tiny part of the data
#   set and, in the paper's words, these methods "fail to characterize the global geometry of the embedding space".
# * **Proxy-based** losses (ProxyNCA) replace the other samples by learnable vectors, *proxies*, that stand for the
#   classes and live in the embedding space. Proxies are parameters, shared by every batch, so each comparison is
#   with a summary of the whole training set. ProxyNCA uses **one proxy per class** and compares every sample with
#   **all $C$** of them.
# * **ProxyGML** uses **$N$ proxies per class** that "collectively approximate" each class, and compares each
#   sample only with a **small subgraph of $k$ proxies** that it selects adaptively (notebook 2).
#
# The toy data below shows the geometry behind "one proxy per class" when a class is *multi-modal*: several
# separated clusters. Whether that geometry hurts in training is a separate question (notebook 5).

# %% [markdown]
# ## Toy embeddings with multi-modal classes
#
# `toy.multimodal_circle` puts $C$ classes of $K$ clusters ("modes") each on the unit circle. The clusters of the
# classes alternate around the circle, so the $K$ clusters of one class are far apart: for $K=2$ they are opposite.
# These points play the role of the embeddings $X$ (rows $\mathbf{x}^s_i$) of a batch of $B$ samples with labels
# $y^s_i$.

# %%
C, K = 3, 2  # classes, modes per class
points, labels = toy.multimodal_circle(num_classes=C, modes_per_class=K, samples_per_mode=10, noise=0.15, seed=cfg.seed)
print("X:", tuple(points.shape), " labels y^s:", labels.tolist())
print("row norms:", points.norm(dim=1).min().item(), "to", points.norm(dim=1).max().item())

# %%
fig = plots.plot_toy_embedding(points, labels, title=f"{C} classes x {K} modes on the unit circle")
save_figure(fig, "01_toy_circle")

# %% [markdown]
# ## One proxy per class versus $N$ proxies per class
#
# Where should *one* proxy of a bimodal class go? A natural choice is the normalised class mean. But the two
# clusters of a class are opposite, so the mean nearly cancels: its length before normalising is tiny and its
# direction is an accident of the noise. And whichever cluster a single proxy sits near, the other cluster is about
# 180° away. With $N = 2$ proxies per class, one can sit on each cluster.
#
# `toy.toy_proxies` makes a proxy matrix in the layout ProxyGML uses everywhere: rows $c N, \dots, cN + N - 1$
# belong to class $c$ (`steps.proxy_labels`). With `modes_per_class=K` we place the proxies **by hand**, one near
# each mode, to see the geometry. This is *not* where training leaves them. Training moves the embeddings as well:
# the network learns to pull a class's clusters together, and the $N$ proxies of a class end up on top of each
# other (notebook 5 measures a within-class cosine near 1; notebook 3 shows why the loss favours it).

# %%
class_means = torch.stack([points[labels == c].mean(dim=0) for c in range(C)])
print("length of each class mean before normalising:", [round(v, 3) for v in class_means.norm(dim=1).tolist()])
one_proxy = F.normalize(class_means, dim=1)  # (C, 2): ProxyNCA-style, one per class

N = 2
proxies = toy.toy_proxies(num_classes=C, proxies_per_class=N, dim=2, modes_per_class=K, jitter=0.2, seed=cfg.seed)
proxy_label = steps.proxy_labels(C, N)
print("proxy labels y^p:", proxy_label.tolist())


def nearest_proxy_accuracy(proxy_matrix, proxy_classes):
    """Fraction of samples whose most similar proxy has their class."""
    nearest = (points @ F.normalize(proxy_matrix, dim=1).T).argmax(dim=1)
    return (proxy_classes[nearest] == labels).float().mean().item()


print(
    f"nearest-proxy accuracy, 1 proxy per class (class means): {nearest_proxy_accuracy(one_proxy, torch.arange(C)):.2f}"
)
print(
    f"nearest-proxy accuracy, N={N} proxies per class (at the modes): "
    f"{nearest_proxy_accuracy(proxies, proxy_label):.2f}"
)

# %% [markdown]
# What this does and does not show. The embeddings here are **fixed**: with the points where they are, one proxy
# at the class mean is a poor summary, and one proxy per mode a good one. In training nothing is fixed: the network
# moves the points, and ProxyNCA's single proxy can then serve a class whose clusters the network has folded
# together. On the toy data of notebook 5 that is what happens: ProxyNCA, trained by the same loop, does as well as
# ProxyGML. Whether several proxies per class pay off on real images is measured in notebooks 8-10 (the parameter
# study of $N$ and $r$, the learned proxies drawn with UMAP, and the ablation table), beside the paper's numbers.

# %% [markdown]
# The figure puts the three ideas side by side for one anchor sample (black ring). Left: a triplet loss only sees
# the mini-batch (bright points). Middle: ProxyNCA compares the anchor with all $C$ proxies, one per class, placed
# at the class means. Right: ProxyGML compares it with its $k = \lceil r\,C\,N\rceil$ selected proxies, here with
# $r = 0.5$ (how the subgraph is chosen is notebook 2).

# %%
generator = torch.Generator().manual_seed(cfg.seed)
batch = torch.randperm(len(points), generator=generator)[:8].tolist()
fig = plots.plot_methods_compared(
    points,
    labels,
    anchor_index=batch[0],
    batch_indices=batch,
    class_proxies=one_proxy,
    proxies=proxies,
    num_classes=C,
    proxies_per_class=N,
    r=0.5,
)
save_figure(fig, "01_methods_compared")

# %% [markdown]
# ## The similarity graph $S = XP^\top$
#
# ProxyGML connects every sample to every proxy by an edge whose weight is their cosine similarity:
#
# $$S_{ij} = (\mathbf{x}^s_i)^\top \mathbf{x}^p_j, \qquad S = X P^\top \in \mathbb{R}^{B \times CN},$$
#
# where $\mathbf{x}^s_i$ is the (unit) embedding of sample $i$ and $\mathbf{x}^p_j$ the $j$-th proxy, normalised to
# unit length (the learnable proxies are normalised on every forward pass). So $S_{ij} \in [-1, 1]$: 1 means same
# direction, $-1$ opposite. Row $i$ of $S$ is sample $i$'s view of all $C N$ proxies.
#
# `steps.similarity_graph` is the function `ProxyGMLLoss` calls; it takes the *raw* proxies and normalises them.

# %%
S = steps.similarity_graph(points, proxies)
print("S:", tuple(S.shape), "= (B, C*N)")
assert torch.allclose(S, points @ F.normalize(proxies, dim=1).T, atol=1e-6)  # the formula, literally
torch.set_printoptions(precision=2, sci_mode=False)
print("rows of S for one sample of each mode (columns: proxies p0..p5 of classes", proxy_label.tolist(), ")")
print(S[::10])

# %% [markdown]
# ### $S$ as a bipartite graph
#
# Samples on the left, proxies on the right, one edge per entry $S_{ij}$ (red: similar, blue: opposite; thicker:
# larger $|S_{ij}|$). Here for one sample of each cluster. Every sample is connected to **every** proxy: the full
# graph has $B \cdot C N$ edges. Notebook 2 keeps only $k$ edges per sample.

# %%
fig = plots.plot_similarity_bipartite(
    S, labels, num_classes=C, proxies_per_class=N, sample_indices=list(range(0, len(points), 10))
)
save_figure(fig, "01_similarity_bipartite")

# %% [markdown]
# ### $S$ as a heat map
#
# The same matrix with all samples, rows sorted by class and columns grouped by class. Because each class has two
# clusters and (in this hand-made layout) one proxy at each, each class's diagonal block is split: a sample is
# close to the proxy of *its* cluster (red) and far from the proxy at the class's other cluster (blue).

# %%
fig = plots.plot_similarity_heatmap(
    S, labels, num_classes=C, columns_per_class=N, title=r"$S = XP^\top$ (rows: samples, columns: proxies)"
)
save_figure(fig, "01_similarity_heatmap")

# %% [markdown]
# ## The same in 3-D
#
# Real embeddings have hundreds of dimensions, but nothing above depends on $d = 2$. `toy.multimodal_sphere` puts
# the modes on the unit sphere; `steps.similarity_graph` is unchanged.

# %%
points_3d, labels_3d = toy.multimodal_sphere(
    num_classes=3, modes_per_class=2, samples_per_mode=15, noise=0.15, seed=cfg.seed
)
proxies_3d = toy.toy_proxies(num_classes=3, proxies_per_class=2, dim=3, modes_per_class=2, jitter=0.1, seed=cfg.seed)
print("S on the sphere:", tuple(steps.similarity_graph(points_3d, proxies_3d).shape))
fig = plots.plot_toy_embedding(
    points_3d, labels_3d, proxies=proxies_3d, proxies_per_class=2, title="3 classes x 2 modes on the unit sphere, N = 2"
)
save_figure(fig, "01_toy_sphere")

# %% [markdown]
# ## Explore: modes $K$, proxies $N$, noise
#
# The static figure shows three modes per class and three proxies per class; the widget below (run the notebook to
# use it) opens at the same setting. Vary $K$, $N$ and the noise, but predict first:
#
# (a) With $K = 3$ modes and $N = 1$ proxy per class, what fraction of a class's samples has its class's proxy
# nearby (on its own cluster)?
#
# (b) What does a class's diagonal block of the heat map look like when $N = K$?
#
# <details><summary>Answers</summary>
#
# (a) About a third: the single proxy sits near one of the three modes (here the first), so only the samples of
# that cluster are close to it; the other two clusters are 120° away, $S \approx \cos 120° = -0.5$.
#
# (b) Each of the class's $K$ sample clusters is red ($S \approx 1$) in exactly one of its $N = K$ proxy columns, and
# blue or pale in the others: the block is a permuted diagonal of red cells, one per mode.
#
# </details>

# %%
fig = plots.plot_similarity_explorer(num_classes=3, modes_per_class=3, proxies_per_class=3, noise=0.15, seed=cfg.seed)
save_figure(fig, "01_similarity_explorer")

# %%
widgets.similarity_widget(num_classes=3, modes_per_class=3, proxies_per_class=3, seed=cfg.seed)

# %% [markdown]
# ## Summary
#
# * Proxies are learnable vectors in the embedding space that stand for the training data; samples are compared
#   with proxies instead of with other samples of the mini-batch.
# * With the embeddings fixed, one proxy per class cannot sit near every cluster of a multi-modal class; ProxyGML
#   gives each class $N$ proxies. In training the network moves the embeddings too, so this geometry alone does not
#   decide the result (notebook 5 measures it on toy data, notebooks 8-10 on images).
# * The similarity graph $S = XP^\top$ (`steps.similarity_graph`) holds the cosine similarity of every sample to
#   every proxy: a complete bipartite graph with $B \times CN$ weighted edges. Proxy $j$ belongs to class
#   $\lfloor j / N \rfloor$.
#
# Next, notebook 2 keeps only a few edges per sample: the relation-guided subgraph.

# %% [markdown]
# ## Exercises
#
# **1.** What are the smallest and largest possible values of $S_{ij}$, and what do they mean geometrically? Which
# value does a sample have with a proxy at 90° from it?
#
# <details><summary>Solution</summary>
#
# $S_{ij} = \cos\theta_{ij}$ for the angle $\theta_{ij}$ between the unit vectors, so $S_{ij} \in [-1, 1]$:
# $1$ for the same direction, $-1$ for opposite directions, $0$ at 90° (orthogonal).
#
# </details>
#
# **2.** CUB-200-2011 has $C = 100$ training classes, and the official code's run scripts use $N = 12$ proxies per
# class there (the value comes from those scripts; the paper's text does not state it). How many columns does $S$
# have, and how many entries for a batch of $B = 32$? Check with `steps.proxy_labels`.
#
# <details><summary>Solution</summary>
#
# $C N = 1200$ columns; $32 \times 1200 = 38\,400$ entries. `len(steps.proxy_labels(100, 12))` is 1200; proxy
# $j$ belongs to class `j // 12`.
#
# </details>
#
# **3.** Make a class with $K = 3$ evenly spaced modes (`toy.multimodal_circle(num_classes=1, modes_per_class=3, samples_per_mode=50, noise=0.1)`). How long is its
# mean vector? What does that say about one proxy at the normalised mean?
#
# <details><summary>Solution</summary>
#
# The three modes are evenly spaced, 120° apart, and three unit vectors at 120° from each other sum to zero: the
# mean is nearly zero (only the noise keeps it from vanishing; its length is printed). Its direction is
# arbitrary, and wherever a single proxy sits, at least two of the three clusters are 60° or more away from it: a
# poor representative. With $N = 3$ proxies, one per mode, every point has a proxy of its class nearby.
#
# ```python
# p, y = toy.multimodal_circle(num_classes=1, modes_per_class=3, samples_per_mode=50, noise=0.1)
# print(f"length of the mean: {p.mean(0).norm():.3f}")
# spacing = 360 / 3  # degrees between neighbouring modes
# print(f"modes {spacing:.0f}° apart: a single proxy is at least {spacing / 2:.0f}° from two of the three")
# ```
#
# </details>

# %% [markdown]
# ## Implement it yourself: the similarity graph
#
# Write $S = XP^\top$ for **raw** proxies: `embeddings` is $X$, shape $(B, d)$, rows already of unit length;
# `proxies` is the learnable matrix, shape $(CN, d)$, rows of *any* length, so normalise each proxy first. Return
# $S$, shape $(B, CN)$. The checker compares your function with `steps.similarity_graph` on random inputs of
# several shapes and tells you which entry differs. Replace the `raise` line with your code and run the cell.


# %%
def my_similarity_graph(embeddings, proxies):
    """S = X P^T, with every proxy (row of proxies) scaled to unit length first."""
    raise NotImplementedError  # your code here


passed = exercises.check_similarity_graph(my_similarity_graph)

# %% [markdown]
# <details><summary>Solution</summary>
#
# ```python
# def my_similarity_graph(embeddings, proxies):
#     unit_proxies = proxies / proxies.norm(dim=1, keepdim=True)   # or F.normalize(proxies, dim=1)
#     return embeddings @ unit_proxies.T
# ```
#
# A common slip is to normalise along the wrong axis (`dim=0`, the columns), which the checker catches on any
# input with more than one proxy.
#
# </details>
