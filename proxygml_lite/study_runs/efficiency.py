"""The efficiency table: loss-layer time and memory per iteration against the number of classes, each measured in a fresh process."""

from __future__ import annotations

import multiprocessing
import resource
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from ..fileio import atomic_write_csv, read_csv

__all__ = [
    "EFFICIENCY_CLASSES",
    "EFFICIENCY_SERIES",
    "EFFICIENCY_MEMORY_LIMIT",
    "EFFICIENCY_COLUMNS",
    "measure_efficiency",
]

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


# ---------------------------------------------------------------- efficiency
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
    import torch
    import torch.nn.functional as F

    from ..baselines import build_loss
    from ..studies.efficiency import measure_loss_cost

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
