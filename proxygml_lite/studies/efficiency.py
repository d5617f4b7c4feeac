"""Cost of the loss layer as the number of classes grows (the paper's efficiency claim).

ProxyGML's argument: proxy-based losses compare every sample with every
class's proxies, so their cost grows with ``C``; ProxyGML keeps only
``k = ceil(r C N)`` proxies per sample in the subgraph ``W`` (``S`` itself is
still ``B x C N``). :func:`measure_loss_cost` times one forward + backward of
the loss layer alone (random L2-normalised embeddings, no network) and
measures its memory, for ProxyGML and the baselines of
:mod:`proxygml_lite.baselines`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Mapping

import pandas as pd
import torch
import torch.nn.functional as F

from ..baselines import build_loss
from ..registry import LOSSES

__all__ = ["measure_loss_cost"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _saved_tensor_bytes(loss_fn, embeddings, labels) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass of one call."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        try:
            key = (t.untyped_storage().data_ptr(), t.device.type)
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        except RuntimeError:  # tensors without storage
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(embeddings, labels)
    loss.backward()
    params = {p.untyped_storage().data_ptr() for p in loss_fn.parameters()}
    params.add(embeddings.untyped_storage().data_ptr())
    return sum(b for (ptr, _), b in seen.items() if ptr not in params)


def measure_loss_cost(
    losses: Iterable[str] | Mapping[str, dict] | None = None,
    class_counts: Iterable[int] = (100, 1000, 10000),
    batch_size: int = 32,
    dim: int = 512,
    device: str | torch.device = "cpu",
    repeats: int = 10,
    warmup: int = 2,
    seed: int = 0,
) -> pd.DataFrame:
    """Forward+backward time and memory of each loss layer per iteration, for each ``C``.

    Args:
        losses: names of registered losses (see :func:`~proxygml_lite.baselines.build_loss`;
            default: every registered loss, yours included) or a mapping
            ``name -> kwargs`` (e.g. ``{"proxygml": {"proxies_per_class": 1}}``).
            ProxyGML defaults to the paper's ``N = 12``, ``r = 0.05``, ``lambda = 0.3``.
        class_counts: numbers of classes ``C`` to measure.
        batch_size: ``B``; dim: ``d``.
        device: where to run; on CUDA the peak memory is measured too.
        repeats: timed iterations (the median is reported); warmup: untimed ones first.
        seed: for the random embeddings and labels.

    Returns:
        DataFrame with ``loss``, ``num_classes``, ``loss_parameters`` (number of
        learnable values, e.g. ``C*N*d`` proxies), ``time_ms`` (median),
        ``time_ms_min``, ``saved_tensors_mb`` (what autograd keeps for backward:
        device independent), ``peak_memory_mb`` (CUDA: peak allocated during one
        iteration above what was allocated before it; ``nan`` on the CPU).
    """
    device = torch.device(device)
    if losses is None:
        losses = LOSSES.names()
    specs = dict(losses) if isinstance(losses, Mapping) else {name: {} for name in losses}
    counts = [int(c) for c in class_counts]
    if not specs or not counts:
        raise ValueError("losses and class_counts must not be empty, e.g. losses=['proxygml'], class_counts=[100]")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0; got repeats={repeats}, warmup={warmup}")
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for c in counts:
        for name, kwargs in specs.items():
            torch.manual_seed(seed)
            loss_fn = build_loss(name, c, dim, **(kwargs or {})).to(device)
            if hasattr(loss_fn, "validate"):
                loss_fn.validate = False  # as in training: no per-call value checks (device syncs)
            embeddings = F.normalize(torch.randn(batch_size, dim, generator=generator), dim=1).to(device)
            embeddings.requires_grad_(True)
            labels = torch.randint(0, c, (batch_size,), generator=generator).to(device)

            def iteration(loss_fn=loss_fn, embeddings=embeddings, labels=labels):
                for p in loss_fn.parameters():
                    p.grad = None
                embeddings.grad = None
                loss_fn(embeddings, labels).backward()

            for _ in range(warmup):
                iteration()
            _sync(device)
            times = []
            for _ in range(repeats):
                begin = time.perf_counter()
                iteration()
                _sync(device)
                times.append((time.perf_counter() - begin) * 1000.0)
            peak = float("nan")
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
                iteration()
                _sync(device)
                peak = (torch.cuda.max_memory_allocated(device) - before) / 2**20
            saved = _saved_tensor_bytes(loss_fn, embeddings, labels) / 2**20
            rows.append(
                {
                    "loss": name,
                    "num_classes": c,
                    "loss_parameters": sum(p.numel() for p in loss_fn.parameters()),
                    "time_ms": statistics.median(times),
                    "time_ms_min": min(times),
                    "saved_tensors_mb": saved,
                    "peak_memory_mb": peak,
                }
            )
            del loss_fn, embeddings, labels
    return pd.DataFrame(rows)
