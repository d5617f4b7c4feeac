"""Cost of the loss layer as the number of classes grows (the paper's efficiency claim).

ProxyGML's argument: proxy-based losses compare every sample with every
class's proxies, so their cost grows with ``C``; ProxyGML keeps only
``k = ceil(r C N)`` proxies per sample in the subgraph ``W`` (``S`` itself is
still ``B x C N``). :func:`measure_loss_cost` times one forward + backward of
the loss layer alone (random L2-normalised embeddings, no network) and
measures its memory, for ProxyGML and the baselines of
:mod:`proxygml_lite.baselines`. :func:`measure_efficiency` makes the committed
table ``efficiency.csv`` from it (each measurement in a fresh process, with
its peak memory), and :mod:`proxygml_lite.lab.subgraph_cost` times ProxyGML step by
step with the same clock (:func:`median_ms`). This module is the one place
where loss-layer cost is measured.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ..baselines import build_loss
from ..fileio import atomic_write_csv, read_csv
from ..registry import LOSSES

__all__ = [
    "median_ms",
    "measure_loss_cost",
    "EFFICIENCY_CLASSES",
    "EFFICIENCY_SERIES",
    "EFFICIENCY_MEMORY_LIMIT",
    "EFFICIENCY_COLUMNS",
    "measure_efficiency",
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(
    fn: Callable[[], object], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> tuple[float, float]:
    """``(median, min)`` wall milliseconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones.

    On CUDA the device is synchronised around each call, so the time is the work's, not the launch's.
    """
    device = device or torch.device("cpu")
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - begin) * 1000.0)
    return statistics.median(times), min(times)


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

            time_ms, time_ms_min = median_ms(iteration, repeats, warmup, device)
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
                    "time_ms": time_ms,
                    "time_ms_min": time_ms_min,
                    "saved_tensors_mb": saved,
                    "peak_memory_mb": peak,
                }
            )
            del loss_fn, embeddings, labels
    return pd.DataFrame(rows)


# ------------------------------------------------ the committed efficiency table
#: Numbers of classes of the efficiency table (11,318 = SOP's C).
EFFICIENCY_CLASSES = (100, 300, 1000, 3000, 11318)
#: series name -> (loss, keyword arguments). ProxyGML in the CUB/Cars setting and in the SOP setting.
EFFICIENCY_SERIES: dict[str, tuple[str, dict]] = {
    "ProxyGML N=12 λ=0.3": (
        "proxygml",
        {"proxies_per_class": 12, "r": 0.05, "weight_lambda": 0.3},
    ),
    "ProxyGML N=1 λ=0": (
        "proxygml",
        {"proxies_per_class": 1, "r": 0.05, "weight_lambda": 0.0},
    ),
    "SoftTriple": ("softtriple", {}),
    "ProxyNCA": ("proxynca", {}),
    "Proxy-Anchor": ("proxyanchor", {}),
}
#: Largest working memory (bytes) one efficiency measurement may need; larger ones are left out of the table.
EFFICIENCY_MEMORY_LIMIT = 4 * 2**30
EFFICIENCY_COLUMNS = [
    "series",
    "loss",
    "N",
    "weight_lambda",
    "num_classes",
    "batch_size",
    "dim",
    "loss_parameters",
    "time_ms",
    "time_ms_min",
    "saved_tensors_mb",
    "peak_rss_mb",
    "device",
    "threads",
]


def _working_bytes(loss: str, kwargs: dict, num_classes: int, batch_size: int, dim: int) -> int:
    """A generous estimate of the memory one forward + backward of the loss needs."""
    n = kwargs.get("proxies_per_class", 1)
    proxies = num_classes * n * dim * 4 * 4  # parameters, normalised copy, gradients
    similarities = batch_size * num_classes * max(n, 10) * 4 * 6
    regulariser = num_classes * n * num_classes * 4 * 4 if loss == "proxygml" and kwargs.get("weight_lambda") else 0
    return proxies + similarities + regulariser


def _measure_one(
    series: str,
    loss: str,
    kwargs: dict,
    num_classes: int,
    batch_size: int,
    dim: int,
    repeats: int,
    threads: int,
) -> dict:
    """Worker (a fresh process): peak RSS increase of one iteration, then the timing of measure_loss_cost."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    loss_fn = build_loss(loss, num_classes, dim, **kwargs)
    embeddings = F.normalize(torch.randn(batch_size, dim), dim=1).requires_grad_(True)
    labels = torch.randint(0, num_classes, (batch_size,))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    loss_fn(embeddings, labels).backward()
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0
    del loss_fn, embeddings, labels
    timing = measure_loss_cost(
        {loss: kwargs},
        class_counts=[num_classes],
        batch_size=batch_size,
        dim=dim,
        repeats=repeats,
        warmup=1,
    ).iloc[0]
    return {
        "series": series,
        "loss": loss,
        "N": kwargs.get("proxies_per_class", ""),
        "weight_lambda": kwargs.get("weight_lambda", ""),
        "num_classes": num_classes,
        "batch_size": batch_size,
        "dim": dim,
        "loss_parameters": int(timing["loss_parameters"]),
        "time_ms": float(timing["time_ms"]),
        "time_ms_min": float(timing["time_ms_min"]),
        "saved_tensors_mb": float(timing["saved_tensors_mb"]),
        "peak_rss_mb": peak,
        "device": "cpu",
        "threads": threads,
    }


def measure_efficiency(
    path: str | Path,
    class_counts: Iterable[int] = EFFICIENCY_CLASSES,
    series: dict[str, tuple[str, dict]] | None = None,
    batch_size: int = 32,
    dim: int = 512,
    repeats: int = 5,
    threads: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """The efficiency table: each (series, C) measured in a fresh process; rows already in ``path`` are kept.

    A measurement whose working memory would exceed :data:`EFFICIENCY_MEMORY_LIMIT`
    (ProxyGML ``N = 12``, ``lambda = 0.3`` at SOP's ``C``: its ``L^p`` compares
    all ``C N`` proxies with every class) is left out and reported.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    series = dict(series or EFFICIENCY_SERIES)
    rows = read_csv(path).to_dict("records") if path.exists() else []
    have = {(r["series"], int(r["num_classes"])) for r in rows}
    jobs = [(name, c) for name in series for c in class_counts if (name, int(c)) not in have]
    context = multiprocessing.get_context("spawn")
    for name, c in tqdm(jobs, desc="loss-layer cost", disable=not progress, dynamic_ncols=True):
        loss, kwargs = series[name]
        need = _working_bytes(loss, kwargs, c, batch_size, dim)
        if need > EFFICIENCY_MEMORY_LIMIT:
            print(
                f"{name}, C={c}: left out (needs about {need / 2**30:.0f} GiB, more than the "
                f"{EFFICIENCY_MEMORY_LIMIT / 2**30:.0f} GiB allowed here)",
                file=sys.stderr,
            )
            continue
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            rows.append(
                pool.submit(
                    _measure_one,
                    name,
                    loss,
                    kwargs,
                    int(c),
                    batch_size,
                    dim,
                    repeats,
                    threads,
                ).result()
            )
        order = {n: i for i, n in enumerate(series)}
        rows.sort(key=lambda r: (order.get(r["series"], len(order)), int(r["num_classes"])))
        atomic_write_csv(path, rows, EFFICIENCY_COLUMNS)
    if not path.exists():
        atomic_write_csv(path, rows, EFFICIENCY_COLUMNS)
    return read_csv(path)
