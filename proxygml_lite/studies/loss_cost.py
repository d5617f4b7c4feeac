"""Cost of one loss layer: the clock and the measurement that every cost figure uses.

ProxyGML's argument: proxy-based losses compare every sample with every
class's proxies, so their cost grows with ``C``; ProxyGML keeps only
``k = ceil(r C N)`` proxies per sample in the subgraph ``W`` (``S`` itself is
still ``B x C N``). :func:`measure_loss_cost` times one forward + backward of
the loss layer alone (random L2-normalised embeddings, no network) and
measures its memory, for ProxyGML and the baselines of
:mod:`proxygml_lite.baselines`. This module is the one place where loss-layer
cost is measured: :mod:`proxygml_lite.studies.efficiency` makes the committed
table ``efficiency.csv`` with :func:`cost_at`, and
:mod:`proxygml_lite.lab.subgraph_cost` times ProxyGML step by step with the
same clock (:func:`interleaved_ms`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from ..baselines import build_loss
from ..registry import LOSSES

__all__ = ["interleaved_ms", "measure_loss_cost", "cost_at"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_ms(
    fns: Sequence[Callable[[], object]], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> list[list[float]]:
    """Wall milliseconds of ``repeats`` calls of each of ``fns``, taken in turns, after ``warmup`` untimed rounds.

    Round ``i`` calls every function once before round ``i + 1`` calls any, so
    a slow stretch of a shared machine slows all of them alike instead of
    whichever happened to be measured then: differences between the functions
    are not confounded with the machine's load drifting. Every repeat is
    returned (``result[j]`` = the times of ``fns[j]``, in call order), not a
    summary: on a shared machine the spread is as large as many differences,
    so a reader needs the repeats to see it and to test a difference. On CUDA
    the device is synchronised around each call, so the time is the work's,
    not the launch's.
    """
    device = device or torch.device("cpu")
    for _ in range(warmup):
        for fn in fns:
            fn()
    _sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, kept in zip(fns, times):
            begin = time.perf_counter()
            fn()
            _sync(device)
            kept.append((time.perf_counter() - begin) * 1000.0)
    return times


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
        repeats: timed iterations of each loss, the losses of one ``C`` in turns
            (:func:`interleaved_ms`); warmup: untimed rounds first.
        seed: for the random embeddings and labels.

    Returns:
        DataFrame with ``loss``, ``num_classes``, ``loss_parameters`` (number of
        learnable values, e.g. ``C*N*d`` proxies), ``time_ms`` (median of the
        repeats), ``time_ms_min``, ``repeat_times_ms`` (a tuple: every repeat's
        time, in order), ``saved_tensors_mb`` (what autograd keeps for backward:
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
    rows = []
    for c in counts:
        labelled = {name: (name, kwargs or {}) for name, kwargs in specs.items()}
        for row in cost_at(labelled, c, batch_size, dim, device, repeats, warmup, seed):
            rows.append({"loss": row.pop("label"), "num_classes": c, **row})
    return pd.DataFrame(rows)


def cost_at(
    specs: Mapping[str, tuple[str, dict]],
    num_classes: int,
    batch_size: int,
    dim: int,
    device: torch.device,
    repeats: int,
    warmup: int,
    seed: int,
) -> list[dict]:
    """Time and memory of each ``label -> (loss, kwargs)`` at one ``C``; their repeats interleaved (:func:`interleaved_ms`)."""
    generator = torch.Generator().manual_seed(seed)
    setups = []
    for label, (name, kwargs) in specs.items():
        torch.manual_seed(seed)
        loss_fn = build_loss(name, num_classes, dim, **kwargs).to(device)
        if hasattr(loss_fn, "validate"):
            loss_fn.validate = False  # as in training: no per-call value checks (device syncs)
        embeddings = F.normalize(torch.randn(batch_size, dim, generator=generator), dim=1).to(device)
        embeddings.requires_grad_(True)
        labels = torch.randint(0, num_classes, (batch_size,), generator=generator).to(device)

        def iteration(loss_fn=loss_fn, embeddings=embeddings, labels=labels):
            for p in loss_fn.parameters():
                p.grad = None
            embeddings.grad = None
            loss_fn(embeddings, labels).backward()

        setups.append((label, loss_fn, embeddings, labels, iteration))
    all_times = interleaved_ms([setup[-1] for setup in setups], repeats, warmup, device)
    rows = []
    for (label, loss_fn, embeddings, labels, iteration), times in zip(setups, all_times):
        peak = float("nan")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            iteration()
            _sync(device)
            peak = (torch.cuda.max_memory_allocated(device) - before) / 2**20
        rows.append(
            {
                "label": label,
                "loss_parameters": sum(p.numel() for p in loss_fn.parameters()),
                "time_ms": statistics.median(times),
                "time_ms_min": min(times),
                "repeat_times_ms": tuple(times),
                "saved_tensors_mb": _saved_tensor_bytes(loss_fn, embeddings, labels) / 2**20,
                "peak_memory_mb": peak,
            }
        )
    return rows
