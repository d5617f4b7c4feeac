"""What the subgraph size ``k`` costs: the loss layer's time against ``k``, and ProxyGML's time step by step.

The paper's "fewer is more" is about the *few proxies in each subgraph*:
every sample keeps only ``k = ceil(r C N)`` of the ``C N`` proxies in ``W``,
and ``Z = W Y^p`` and the mask softmax only see those. The similarity graph
``S = X P^T`` (``B x C N``) is still computed in full, and ``L^p`` compares
all ``C N`` proxies with the ``C`` class sums. :func:`cost_against_k` times
the whole loss layer for given ``(N, r)`` cells; :func:`step_times` splits one
forward + backward of ProxyGML into its steps, so one sees which part ``k``
actually changes. Both run on random L2-normalised embeddings (no network),
like :func:`proxygml_lite.studies.efficiency.measure_loss_cost`, and with its clock (:func:`~proxygml_lite.studies.efficiency.median_ms`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch
import torch.nn.functional as F

from .. import steps
from ..studies.efficiency import measure_loss_cost, median_ms

__all__ = ["cost_against_k", "step_times"]


def cost_against_k(
    cells: Iterable[tuple[int, float]],
    *,
    num_classes: int,
    dim: int,
    batch_size: int = 32,
    weight_lambda: float = 0.3,
    repeats: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Forward + backward time and saved memory of ``ProxyGMLLoss`` for each ``(N, r)`` cell at one ``C``.

    Returns one row per cell: ``N``, ``r``, ``k``, ``CN``, ``time_ms`` (median),
    ``time_ms_min``, ``saved_tensors_mb``.
    """
    rows = []
    for n, r in cells:
        kwargs = {"proxies_per_class": int(n), "r": float(r), "weight_lambda": weight_lambda}
        cost = measure_loss_cost(
            {"proxygml": kwargs}, class_counts=[num_classes], batch_size=batch_size, dim=dim, repeats=repeats, seed=seed
        ).iloc[0]
        rows.append(
            {
                "N": int(n),
                "r": float(r),
                "k": steps.subgraph_size(float(r), num_classes, int(n)),
                "CN": num_classes * int(n),
                "time_ms": float(cost["time_ms"]),
                "time_ms_min": float(cost["time_ms_min"]),
                "saved_tensors_mb": float(cost["saved_tensors_mb"]),
            }
        )
    return pd.DataFrame(rows)


def step_times(
    *,
    num_classes: int,
    proxies_per_class: int,
    r_values: Iterable[float],
    dim: int = 512,
    batch_size: int = 32,
    repeats: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Median forward + backward milliseconds of each ProxyGML step, for each ``r`` (so each ``k``) at one ``C N``.

    Steps: ``S = X P^T`` (similarity), top-``k`` selection (``W``), ``Z = W Y^p``
    plus ``L^s`` (mask softmax), and ``L^p`` (regulariser). Each is timed with
    its backward through the part of the graph it adds; the sum is close to,
    not exactly, the whole layer's time.

    Returns one row per ``(r, step)``: ``r``, ``k``, ``step``, ``time_ms``.
    """
    generator = torch.Generator().manual_seed(seed)
    c, n = int(num_classes), int(proxies_per_class)
    x0 = F.normalize(torch.randn(batch_size, dim, generator=generator), dim=1)
    p0 = torch.randn(c * n, dim, generator=generator)
    labels = torch.randint(0, c, (batch_size,), generator=generator)

    def timed(fn) -> float:
        return median_ms(fn, repeats, warmup=1)[0]

    rows = []
    for r in r_values:
        k = steps.subgraph_size(float(r), c, n)

        def similarity_only():
            x, p = x0.clone().requires_grad_(), p0.clone().requires_grad_()
            steps.similarity_graph(x, p).sum().backward()

        def through_subgraph(k=k):
            x, p = x0.clone().requires_grad_(), p0.clone().requires_grad_()
            s = steps.similarity_graph(x, p)
            steps.select_subgraph(s, labels, c, n, k).weights.sum().backward()

        def through_loss_s(k=k):
            x, p = x0.clone().requires_grad_(), p0.clone().requires_grad_()
            w = steps.select_subgraph(steps.similarity_graph(x, p), labels, c, n, k)
            steps.classification_loss(steps.reverse_label_propagation(w, c, n), labels).backward()

        def regulariser():
            p = p0.clone().requires_grad_()
            steps.proxy_regulariser(p, c, n).backward()

        t_s = timed(similarity_only)
        t_w = timed(through_subgraph)
        t_l = timed(through_loss_s)
        rows += [
            {"r": float(r), "k": k, "step": "S = X P^T", "time_ms": t_s},
            {"r": float(r), "k": k, "step": "top-k -> W", "time_ms": max(t_w - t_s, 0.0)},
            {"r": float(r), "k": k, "step": "Z = W Y^p, L^s", "time_ms": max(t_l - t_w, 0.0)},
            {"r": float(r), "k": k, "step": "L^p", "time_ms": timed(regulariser)},
        ]
    return pd.DataFrame(rows)
