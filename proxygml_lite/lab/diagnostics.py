"""The subgraph votes that decide ``L^s`` for given samples and proxies (notebook 10's exercise 1).

Rows 2 and 7 of the ablation keep ``S^pos`` (all ``N`` own-class proxies are
always in the subgraph ``W``) but switch ``L^p`` off. Notebook 10's
hypothesis: the own-class vote ``Z_{i,y_i} = sum of the N own-class
similarities`` can reach ``N``, while a class absent from ``W`` votes 0 and an
other class present with few proxies votes little, so ``L^s`` can become small
without the embeddings of different classes being separated.
:func:`subgraph_statistics` measures those votes. (The probes that test the
hypothesis during training are the study ``probes``: :mod:`.ablation_probes`.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import steps

__all__ = ["subgraph_statistics"]


@torch.no_grad()
def subgraph_statistics(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    *,
    proxies_per_class: int,
    r: float,
    positive_mask: bool = True,
) -> dict[str, float]:
    """What decides ``L^s`` for these samples and proxies.

    Args:
        embeddings: ``X`` ``(B, d)`` of training samples (normalised here).
        labels: their classes ``(B,)`` in ``0..C-1``.
        proxies: the raw ``(C*N, d)`` proxy matrix.
        proxies_per_class: ``N``; r: the subgraph scale (``k = ceil(r C N)``).
        positive_mask: build ``W`` with ``S^pos`` (rows 2, 7, 8) or without.

    Returns:
        ``own vote`` (mean ``Z_{i,y_i}``), ``best other vote`` (mean of the
        largest ``Z_{i,c}``, ``c != y_i``), ``other classes in W`` (mean number
        of other classes with a proxy in the subgraph), ``L^s mask`` and
        ``L^s plain`` (the loss with and without ``M`` on these samples),
        ``cosine between classes`` (mean cosine of two samples of different
        classes: near 1 means the embeddings collapsed together),
        ``cosine within classes``, ``proxy cosine within classes`` (mean over
        classes of the mean cosine between two own proxies; ``nan`` for
        ``N = 1``) and ``nearest-proxy accuracy`` (the nearest proxy has the
        sample's class).
    """
    x = F.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
    labels = torch.as_tensor(labels, dtype=torch.long)
    proxies = torch.as_tensor(proxies, dtype=torch.float32)
    n = int(proxies_per_class)
    c = proxies.shape[0] // n
    k = steps.subgraph_size(r, c, n)
    similarity = steps.similarity_graph(x, proxies)
    subgraph = steps.select_subgraph(similarity, labels, c, n, k, positive_mask)
    z = steps.reverse_label_propagation(subgraph, c, n)
    own = z.gather(1, labels.view(-1, 1)).squeeze(1)
    others = z.scatter(1, labels.view(-1, 1), -math.inf)
    present = steps.class_mask(z).scatter(1, labels.view(-1, 1), False)
    same = labels.view(-1, 1) == labels.view(1, -1)
    cos = x @ x.T
    off = ~torch.eye(len(x), dtype=torch.bool)
    normed = steps.normalize_proxies(proxies).view(c, n, -1)
    if n > 1:
        within = normed @ normed.transpose(1, 2)
        proxy_cos = float(within[:, ~torch.eye(n, dtype=torch.bool)].mean())
    else:
        proxy_cos = float("nan")
    nearest = similarity.argmax(dim=1) // n
    return {
        "own vote": float(own.mean()),
        "best other vote": float(others.max(dim=1).values.mean()),
        "other classes in W": float(present.sum(dim=1).float().mean()),
        "L^s mask": float(steps.classification_loss(z, labels, True)),
        "L^s plain": float(steps.classification_loss(z, labels, False)),
        "cosine between classes": float(cos[~same].mean()) if (~same).any() else float("nan"),
        "cosine within classes": float(cos[same & off].mean()) if (same & off).any() else float("nan"),
        "proxy cosine within classes": proxy_cos,
        "nearest-proxy accuracy": float((nearest == labels).float().mean()),
    }
