"""Cost of the loss layer as the number of classes grows (the paper's efficiency claim).

ProxyGML's argument: proxy-based losses compare every sample with every
class's proxies, so their cost grows with ``C``; ProxyGML keeps only
``k = ceil(r C N)`` proxies per sample in the subgraph ``W`` (``S`` itself is
still ``B x C N``). :func:`measure_loss_cost` times one forward + backward of
the loss layer alone (random L2-normalised embeddings, no network) and
measures its memory, for ProxyGML and the baselines of
:mod:`proxygml_lite.baselines`. :func:`measure_efficiency` makes the committed
table ``efficiency.csv`` from it (each measurement in a fresh process, with
its peak memory and every repeat's time, so that a reader can see the spread
and test a difference), and :mod:`proxygml_lite.lab.subgraph_cost` times
ProxyGML step by step with the same clock (:func:`interleaved_ms`). This module is
the one place where loss-layer cost is measured; :func:`efficiency_cells`
reads its table back (either format: the committed table of December 2026
predates the per-repeat times and the ``skipped`` column).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ..baselines import build_loss
from ..fileio import atomic_write_csv, read_csv
from ..registry import LOSSES

__all__ = [
    "interleaved_ms",
    "measure_loss_cost",
    "EFFICIENCY_CLASSES",
    "EFFICIENCY_SERIES",
    "EFFICIENCY_MEMORY_LIMIT",
    "EFFICIENCY_COLUMNS",
    "skip_reason",
    "measure_efficiency",
    "format_times",
    "parse_times",
    "efficiency_cells",
    "repeat_table",
]


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
        for row in _cost_at(labelled, c, batch_size, dim, device, repeats, warmup, seed):
            rows.append({"loss": row.pop("label"), "num_classes": c, **row})
    return pd.DataFrame(rows)


def _cost_at(
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
#: The cap on the *estimated* working memory (bytes, :func:`_working_bytes`) of one measurement: a cell whose
#: estimate exceeds it is not attempted; its row says so in ``skipped``.
EFFICIENCY_MEMORY_LIMIT = 4 * 2**30
#: Timed repeats per measurement: enough for Welch's test on the log times to separate a clear difference
#: after Holm's correction over the table's comparisons (5 repeats were too few for that on a busy machine).
EFFICIENCY_REPEATS = 10
EFFICIENCY_COLUMNS = [
    "series",
    "loss",
    "N",
    "weight_lambda",
    "num_classes",
    "batch_size",
    "dim",
    "loss_parameters",
    "repeats",
    "time_ms",
    "time_ms_min",
    "repeat_times_ms",
    "saved_tensors_mb",
    "peak_rss_mb",
    "device",
    "threads",
    "load_1min",
    "skipped",
]


def _working_bytes(loss: str, kwargs: dict, num_classes: int, batch_size: int, dim: int) -> int:
    """A generous estimate of the memory one forward + backward of the loss needs."""
    n = kwargs.get("proxies_per_class", 1)
    proxies = num_classes * n * dim * 4 * 4  # parameters, normalised copy, gradients
    similarities = batch_size * num_classes * max(n, 10) * 4 * 6
    regulariser = num_classes * n * num_classes * 4 * 4 if loss == "proxygml" and kwargs.get("weight_lambda") else 0
    return proxies + similarities + regulariser


def _bytes_text(size: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.0f} {unit}"
    return f"{size:.0f} B"


def skip_reason(loss: str, kwargs: dict, num_classes: int, batch_size: int, dim: int) -> str:
    """Why the efficiency runner does not attempt this measurement (``""``: it does).

    The only reason is the memory guard: ``"estimated 24 GiB > 4 GiB cap"`` when
    :func:`_working_bytes` exceeds :data:`EFFICIENCY_MEMORY_LIMIT` (ProxyGML
    ``N = 12``, ``lambda = 0.3`` at SOP's ``C``: its ``L^p`` logits are ``C N x C``).
    It is an estimate: nothing is run, so nothing is known to "not fit".
    """
    need = _working_bytes(loss, kwargs, num_classes, batch_size, dim)
    if need <= EFFICIENCY_MEMORY_LIMIT:
        return ""
    return f"estimated {_bytes_text(need)} > {_bytes_text(EFFICIENCY_MEMORY_LIMIT)} cap"


def format_times(times: Iterable[float]) -> str:
    """Repeat times as the table stores them: space-separated milliseconds, 3 decimals (1 µs)."""
    return " ".join(f"{t:.3f}" for t in times)


def parse_times(text) -> list[float]:
    """The repeat times of a ``repeat_times_ms`` cell (``[]`` for an empty cell or NaN)."""
    if not isinstance(text, str) or not text.strip():
        return []
    return [float(t) for t in text.split()]


def _series_fields(series: str, loss: str, kwargs: dict, num_classes: int, batch_size: int, dim: int) -> dict:
    return {
        "series": series,
        "loss": loss,
        "N": kwargs.get("proxies_per_class", ""),
        "weight_lambda": kwargs.get("weight_lambda", ""),
        "num_classes": num_classes,
        "batch_size": batch_size,
        "dim": dim,
    }


def _peak_rss(loss: str, kwargs: dict, num_classes: int, batch_size: int, dim: int, threads: int) -> float:
    """Worker (a fresh process, so the high-water mark is this loss's alone): MB the process grows in one iteration."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    loss_fn = build_loss(loss, num_classes, dim, **kwargs)
    embeddings = F.normalize(torch.randn(batch_size, dim), dim=1).requires_grad_(True)
    labels = torch.randint(0, num_classes, (batch_size,))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    loss_fn(embeddings, labels).backward()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0


def _time_group(
    specs: dict[str, tuple[str, dict]], num_classes: int, batch_size: int, dim: int, repeats: int, threads: int
) -> tuple[list[dict], float]:
    """Worker (a fresh process): the series of ``specs`` at one ``C``, their repeats interleaved; and the load average."""
    torch.set_num_threads(threads)
    load = os.getloadavg()[0]  # how busy the machine was: the timings are only as quiet as it
    rows = _cost_at(specs, num_classes, batch_size, dim, torch.device("cpu"), repeats, warmup=1, seed=0)
    return rows, load


def _groups(names: list[str], need: dict[str, int]) -> list[list[str]]:
    """The series of one ``C`` packed into groups timed together, each within the memory cap in all."""
    groups: list[list[str]] = []
    for name in names:
        for group in groups:
            if sum(need[n] for n in group) + need[name] <= EFFICIENCY_MEMORY_LIMIT:
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def _run_fresh(fn, *args):
    """``fn(*args)`` in a fresh spawned process (no memory high-water mark or thread pool carried over)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _is_skipped(row: Mapping) -> bool:
    value = row.get("skipped")
    return isinstance(value, str) and bool(value.strip())


def measure_efficiency(
    path: str | Path,
    class_counts: Iterable[int] = EFFICIENCY_CLASSES,
    series: dict[str, tuple[str, dict]] | None = None,
    batch_size: int = 32,
    dim: int = 512,
    repeats: int = EFFICIENCY_REPEATS,
    threads: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """The efficiency table: every (series, ``C``) cell; measured rows already in ``path`` are kept.

    For each ``C``, the series to measure are timed together in one fresh
    process, their repeats in turns (:func:`interleaved_ms`), so that the
    series compared at one ``C`` share the machine's ups and downs; each
    cell's peak memory is measured in a fresh process of its own. Every
    repeat's time is kept (``repeat_times_ms``), with the machine's 1-minute
    load average when the timing began (``load_1min``). A cell whose
    *estimated* working memory exceeds :data:`EFFICIENCY_MEMORY_LIMIT` is not
    attempted: its row has no times and says why in ``skipped`` (e.g.
    ``"estimated 24 GiB > 4 GiB cap"``), and it is estimated again on the
    next call. (Series whose estimates add up to more than the cap are timed
    in separate groups.) A table written before the per-repeat times (without
    ``repeat_times_ms``) cannot be completed: all its cells are measured again.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    series = dict(series or EFFICIENCY_SERIES)
    rows: list[dict] = []
    if path.exists():
        old = read_csv(path, dtype={"skipped": str, "repeat_times_ms": str})
        if "repeat_times_ms" in old.columns:
            rows = old.to_dict("records")
        else:
            print(
                f"{path}: written before each repeat's time was kept (no repeat_times_ms column); "
                "every cell is measured again",
                file=sys.stderr,
            )
    measured = {(r["series"], int(r["num_classes"])) for r in rows if not _is_skipped(r)}
    counts = [int(c) for c in class_counts]
    jobs = {c: [name for name in series if (name, c) not in measured] for c in counts}
    order = {n: i for i, n in enumerate(series)}
    bar = tqdm(total=sum(map(len, jobs.values())), desc="loss-layer cost", disable=not progress, dynamic_ncols=True)
    for c, names in jobs.items():
        if not names:
            continue
        new = []
        need = {}
        for name in names:
            loss, kwargs = series[name]
            reason = skip_reason(loss, kwargs, c, batch_size, dim)
            if reason:
                print(f"{name}, C={c}: skipped, not attempted ({reason})", file=sys.stderr)
                new.append(
                    {**_series_fields(name, loss, kwargs, c, batch_size, dim), "device": "cpu", "skipped": reason}
                )
                bar.update()
            else:
                need[name] = _working_bytes(loss, kwargs, c, batch_size, dim)
        for group in _groups(list(need), need):
            peaks = {name: _run_fresh(_peak_rss, *series[name], c, batch_size, dim, threads) for name in group}
            timed, load = _run_fresh(_time_group, {n: series[n] for n in group}, c, batch_size, dim, repeats, threads)
            for row in timed:
                name = row["label"]
                loss, kwargs = series[name]
                new.append(
                    {
                        **_series_fields(name, loss, kwargs, c, batch_size, dim),
                        "loss_parameters": int(row["loss_parameters"]),
                        "repeats": repeats,
                        "time_ms": float(row["time_ms"]),
                        "time_ms_min": float(row["time_ms_min"]),
                        "repeat_times_ms": format_times(row["repeat_times_ms"]),
                        "saved_tensors_mb": float(row["saved_tensors_mb"]),
                        "peak_rss_mb": peaks[name],
                        "device": "cpu",
                        "threads": threads,
                        "load_1min": load,
                        "skipped": "",
                    }
                )
                bar.update()
        replaced = {(r["series"], int(r["num_classes"])) for r in new}
        rows = [r for r in rows if (r["series"], int(r["num_classes"])) not in replaced] + new
        rows.sort(key=lambda r: (order.get(r["series"], len(order)), int(r["num_classes"])))
        atomic_write_csv(path, rows, EFFICIENCY_COLUMNS)
    bar.close()
    if not path.exists():
        atomic_write_csv(path, rows, EFFICIENCY_COLUMNS)
    return read_csv(path, dtype={"skipped": str, "repeat_times_ms": str})


# ------------------------------------------------ reading the table back
def efficiency_cells(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (series, ``C``) of an efficiency table, in either format, with the repeats as lists.

    Columns: ``series``, ``num_classes``, ``batch_size``, ``dim``,
    ``loss_parameters``, ``measured`` (bool), ``repeats`` (how many repeat
    times the table keeps: 0 for a table written before they were kept),
    ``repeat_times_ms`` (a list), ``time_ms`` (median), ``time_ms_min``,
    ``time_ms_max`` (NaN without repeats), ``saved_tensors_mb``,
    ``peak_rss_mb``, ``load_1min`` (NaN where not recorded) and ``skipped``
    (``""`` for a measured cell).

    A table without a ``skipped`` column (written before it existed) lists
    only the measured cells; the cells of its series (those of
    :data:`EFFICIENCY_SERIES`) and class counts that it lacks get the reason
    the runner gives today, recomputed with :func:`skip_reason` (the same
    estimate and cap as when that table was made), marked as recomputed.
    """
    name = "series" if "series" in table.columns else "loss"
    missing = [c for c in (name, "num_classes", "time_ms") if c not in table.columns]
    if missing:
        raise ValueError(
            f"the efficiency table lacks the column(s) {missing}; pass efficiency.csv (it has {list(table.columns)})"
        )
    out = []
    for _, row in table.iterrows():
        skipped = row.get("skipped", "")
        skipped = skipped.strip() if isinstance(skipped, str) else ""
        times = parse_times(row.get("repeat_times_ms", ""))
        out.append(
            {
                "series": row[name],
                "num_classes": int(row["num_classes"]),
                "batch_size": row.get("batch_size", math.nan),
                "dim": row.get("dim", math.nan),
                "loss_parameters": row.get("loss_parameters", math.nan),
                "measured": not skipped,
                "repeats": len(times),
                "repeat_times_ms": times,
                "time_ms": float(row["time_ms"]),
                "time_ms_min": _fastest(row, times),
                "time_ms_max": max(times) if times else math.nan,
                "saved_tensors_mb": float(row.get("saved_tensors_mb", math.nan)),
                "peak_rss_mb": float(row.get("peak_rss_mb", math.nan)),
                "load_1min": float(row.get("load_1min", math.nan)),
                "skipped": skipped,
            }
        )
    if "skipped" not in table.columns and name == "series" and {"batch_size", "dim"} <= set(table.columns):
        have = {(r["series"], r["num_classes"]) for r in out}
        batch_size, dim = int(table["batch_size"].iloc[0]), int(table["dim"].iloc[0])
        for series in dict.fromkeys(table["series"]):
            if series not in EFFICIENCY_SERIES:
                continue
            loss, kwargs = EFFICIENCY_SERIES[series]
            for c in sorted({int(c) for c in table["num_classes"]}):
                reason = skip_reason(loss, kwargs, c, batch_size, dim)
                if (series, c) in have or not reason:
                    continue
                out.append(
                    {
                        "series": series,
                        "num_classes": c,
                        "batch_size": batch_size,
                        "dim": dim,
                        "loss_parameters": math.nan,
                        "measured": False,
                        "repeats": 0,
                        "repeat_times_ms": [],
                        **{k: math.nan for k in ("time_ms", "time_ms_min", "time_ms_max")},
                        **{k: math.nan for k in ("saved_tensors_mb", "peak_rss_mb", "load_1min")},
                        "skipped": f"{reason} (recomputed: the table predates its skipped column)",
                    }
                )
    order = {s: i for i, s in enumerate(dict.fromkeys(table[name]))}
    cells = pd.DataFrame(out)
    cells = cells.sort_values(
        ["series", "num_classes"], key=lambda col: col.map(order) if col.name == "series" else col
    )
    return cells.reset_index(drop=True)


def _fastest(row: pd.Series, times: list[float]) -> float:
    """The fastest repeat: the table's ``time_ms_min``, else the kept repeats' minimum, else the median itself."""
    value = float(row.get("time_ms_min", math.nan))
    if math.isnan(value):
        value = min(times) if times else float(row["time_ms"])
    return value


def repeat_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every kept repeat as a row: ``series``, ``num_classes``, ``repeat``, ``time_ms`` (empty for an old table)."""
    rows = [
        {"series": cell["series"], "num_classes": cell["num_classes"], "repeat": i, "time_ms": t}
        for _, cell in efficiency_cells(table).iterrows()
        for i, t in enumerate(cell["repeat_times_ms"])
    ]
    return pd.DataFrame(rows, columns=["series", "num_classes", "repeat", "time_ms"])
