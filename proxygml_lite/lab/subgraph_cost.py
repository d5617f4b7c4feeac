"""What the subgraph size ``k`` costs: the loss layer's time against ``k``, and ProxyGML's time step by step.

The paper's "fewer is more" is about the *few proxies in each subgraph*:
every sample keeps only ``k = ceil(r C N)`` of the ``C N`` proxies in ``W``,
and ``Z = W Y^p`` and the mask softmax only see those. The similarity graph
``S = X P^T`` (``B x C N``) is still computed in full, and ``L^p`` compares
all ``C N`` proxies with the ``C`` class sums. :func:`cost_against_k` times
the whole loss layer for given ``(N, r)`` cells; :func:`step_times` times each
step of one forward + backward of ProxyGML on its own, so one sees which part
``k`` actually changes. Both run on random L2-normalised embeddings (no network),
like :func:`proxygml_lite.studies.loss_cost.measure_loss_cost`, and with its
clock (:func:`~proxygml_lite.studies.loss_cost.interleaved_ms`), keeping every repeat.
"""

from __future__ import annotations

import os
import statistics
import warnings
from collections.abc import Iterable

import pandas as pd
import torch
import torch.nn.functional as F

from .. import steps
from ..loss import ProxyGMLLoss
from ..studies.loss_cost import interleaved_ms, measure_loss_cost

__all__ = ["cost_against_k", "step_times", "STEPS", "WHOLE_LAYER"]

#: The steps of :func:`step_times`, in the order of the forward pass.
STEPS = ("S = X P^T", "top-k -> W", "Z = W Y^p, L^s", "L^p")
#: The ``step`` of the rows that time the whole layer (``ProxyGMLLoss``) in one go, for comparison with the steps' sum.
WHOLE_LAYER = "whole layer"


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
    ``time_ms_min``, ``repeat_times_ms`` (every repeat), ``saved_tensors_mb``.
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
                "repeat_times_ms": list(cost["repeat_times_ms"]),
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
    weight_lambda: float = 0.3,
    repeats: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Forward + backward milliseconds of each ProxyGML step on its own, for each ``r`` (so each ``k``) at one ``C N``.

    Each step is timed directly: its inputs are made once, outside the clock,
    as leaf tensors (the step before it, detached), and one repeat runs only
    that step's forward and its backward from a fixed upstream gradient. All
    steps of all ``r`` are timed in turns (:func:`~proxygml_lite.studies.loss_cost.interleaved_ms`),
    so a change in the machine's load cannot pass for a difference between ``k``:

    * ``S = X P^T``: the similarity graph (``B x C N``) from ``X`` and the raw proxies;
    * ``top-k -> W``: the top-``k`` ranking on ``S + S^pos`` and the gather of ``W`` from ``S``;
    * ``Z = W Y^p, L^s``: reverse label propagation of the ``k`` kept weights and the mask-softmax loss;
    * ``L^p``: the proxy regulariser (``C N`` proxies against ``C`` class sums).

    The whole layer (``ProxyGMLLoss`` with ``weight_lambda``, one forward +
    backward) is timed too, as the rows whose step is :data:`WHOLE_LAYER`. On a
    quiet machine the steps' sum approximates it, not exactly (the layer makes
    one backward pass through ``S`` for both losses, and its own bookkeeping).

    Returns one row per ``(r, step)``: ``r``, ``k``, ``step``, ``time_ms``
    (median of the repeats), ``time_ms_min``, ``time_ms_max``, ``repeats``,
    ``repeat_times_ms`` (every repeat, in order) and ``load_1min`` (the
    machine's 1-minute load average when the measurement began: the timings
    are only as quiet as the machine).
    """
    load = os.getloadavg()[0]
    generator = torch.Generator().manual_seed(seed)
    c, n = int(num_classes), int(proxies_per_class)
    x0 = F.normalize(torch.randn(batch_size, dim, generator=generator), dim=1)
    p0 = torch.randn(c * n, dim, generator=generator)
    labels = torch.randint(0, c, (batch_size,), generator=generator)
    grad_s = torch.randn(batch_size, c * n, generator=generator)
    s0 = steps.similarity_graph(x0, p0)

    def leaf(t: torch.Tensor) -> torch.Tensor:
        return t.detach().clone().requires_grad_()

    cells = []  # (r, k, step, the function that runs it)
    for r in r_values:
        k = steps.subgraph_size(float(r), c, n)
        kept = steps.select_subgraph(s0, labels, c, n, k)
        grad_w = torch.randn(kept.weights.shape, generator=generator)
        x, p, s, w = leaf(x0), leaf(p0), leaf(s0), leaf(kept.weights)

        def similarity(x=x, p=p):
            x.grad = p.grad = None
            steps.similarity_graph(x, p).backward(grad_s)

        def top_k(s=s, k=k, grad_w=grad_w):
            s.grad = None
            steps.select_subgraph(s, labels, c, n, k).weights.backward(grad_w)

        def propagation_and_loss(w=w, kept=kept):
            w.grad = None
            subgraph = steps.Subgraph(indices=kept.indices, weights=w, num_proxies=kept.num_proxies)
            steps.classification_loss(steps.reverse_label_propagation(subgraph, c, n), labels).backward()

        def regulariser(p=p):
            p.grad = None
            steps.proxy_regulariser(p, c, n).backward()

        torch.manual_seed(seed)
        layer = ProxyGMLLoss(c, n, dim, r=float(r), weight_lambda=weight_lambda)
        layer.validate = False  # as in training: no per-call value checks
        with torch.no_grad():
            layer.proxies.copy_(p0)

        def whole(layer=layer, x=x):
            x.grad = layer.proxies.grad = None
            layer(x, labels).backward()

        for step, fn in zip((*STEPS, WHOLE_LAYER), (similarity, top_k, propagation_and_loss, regulariser, whole)):
            cells.append((float(r), k, step, fn))
    with warnings.catch_warnings():  # the whole layer's k <= N warning is about training; a timing trains nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        all_times = interleaved_ms([fn for *_, fn in cells], repeats, warmup=1)
    return pd.DataFrame(
        [
            {
                "r": r,
                "k": k,
                "step": step,
                "time_ms": statistics.median(times),
                "time_ms_min": min(times),
                "time_ms_max": max(times),
                "repeats": len(times),
                "repeat_times_ms": times,
                "load_1min": load,
            }
            for (r, k, step, _), times in zip(cells, all_times)
        ]
    )
