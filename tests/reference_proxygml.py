"""An independent, dense reference of ProxyGML, written from the equations.

It follows the official implementation's formulation step by step (one-hot
matrices, dense matmuls, the literal mask-softmax formula with its epsilons),
so it is slow and memory-hungry but easy to check against the paper.
It shares no code with ``proxygml_lite``.
"""

import math

import torch
import torch.nn.functional as F


def dense_proxygml(
    embeddings,
    labels,
    proxies,
    num_classes,
    proxies_per_class,
    r,
    weight_lambda,
    positive_mask=True,
    mask_softmax=True,
    scale=1.0,
):
    """Return (total, L^s, L^p) for raw proxies of shape (C*N, d).

    ``scale``: the official ``scale_mask_softmax(tensor, mask, dim, scale)``,
    ``exp(tensor * scale) * mask`` with the mask taken from the unscaled logits.
    """
    C, N = num_classes, proxies_per_class
    dtype = embeddings.dtype
    centers = F.normalize(proxies.t(), p=2, dim=0)  # (d, C*N), as the official code stores them
    similarity = embeddings.matmul(centers)  # S, (B, C*N)
    proxy_label = torch.tensor([j // N for j in range(C * N)])
    y_p = torch.zeros(C * N, C, dtype=dtype)
    y_p[torch.arange(C * N), proxy_label] = 1.0  # Y^p
    s_pos = (labels.view(-1, 1) - proxy_label.view(1, -1) == 0).to(dtype)
    k = math.ceil(r * C * N)
    ranking = similarity + 1000 * s_pos if positive_mask else similarity
    _, indices = torch.topk(ranking, k, dim=1)
    keep = torch.zeros_like(similarity).scatter(1, indices, 1)
    w = keep * similarity  # W
    z = w.matmul(y_p)  # Z = W Y^p
    y_onehot = torch.zeros(len(labels), C, dtype=dtype)
    y_onehot[torch.arange(len(labels)), labels] = 1.0
    if mask_softmax:
        m = 1 - torch.eq(z, 0.0).to(dtype)
        exp = torch.exp(z * scale) * m
        p = exp / (1e-8 + exp.sum(dim=1)).unsqueeze(1)
        loss_s = torch.mean(torch.sum(-y_onehot * torch.log(p + 1e-20), dim=1))
    else:
        p = torch.softmax(z * scale, dim=1)
        loss_s = torch.mean(torch.sum(-y_onehot * torch.log(p), dim=1))
    if weight_lambda > 0:
        center_logits = centers.t().matmul(centers).matmul(y_p)
        log_q = torch.log_softmax(center_logits, dim=1)
        loss_p = -log_q[torch.arange(C * N), proxy_label].mean()
        return loss_s + weight_lambda * loss_p, loss_s, loss_p
    return loss_s, loss_s, torch.zeros((), dtype=dtype)
