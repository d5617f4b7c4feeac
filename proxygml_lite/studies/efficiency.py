"""The committed efficiency table ``efficiency.csv``: loss-layer cost as the number of classes grows.

The paper's efficiency claim is that ProxyGML's cost grows more slowly with
``C`` than other proxy losses'. :func:`measure_efficiency` makes the table
from :func:`proxygml_lite.studies.loss_cost.cost_at` (each measurement in a
fresh process, with its peak memory and every repeat's time, so that a reader
can see the spread and test a difference); this module also holds what the
table is (its series, classes, columns, memory cap and repeat-time format).
:mod:`proxygml_lite.studies.efficiency_table` reads it back (either format:
tables written before 2026-12-06 lack the per-repeat times, the ``skipped``
column and the machine).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ..atomic_writers import atomic_write_csv
from ..baselines import build_loss
from ..fileio import read_csv
from .loss_cost import cost_at

__all__ = [
    "EFFICIENCY_CLASSES",
    "EFFICIENCY_SERIES",
    "EFFICIENCY_MEMORY_LIMIT",
    "EFFICIENCY_REPEATS",
    "EFFICIENCY_COLUMNS",
    "skip_reason",
    "format_times",
    "parse_times",
    "text_cell",
    "measure_efficiency",
]


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
    "cpu",
    "machine",
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


def text_cell(value) -> str:
    """A text cell of the table as text, stripped: ``""`` for an empty one (NaN)."""
    return value.strip() if isinstance(value, str) else ""


#: The efficiency table's text columns, read as text (an id such as "217e49000001" would read as a number, and a
#: single repeat's time as a float).
TEXT_COLUMNS = {"skipped": str, "repeat_times_ms": str, "cpu": str, "machine": str}


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


def _status_mb(key: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process in MB (Linux's ``/proc/self/status``); ``None`` elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> float | None:
    """Reset this process's resident high-water mark to its current size (Linux: ``5`` into
    ``/proc/self/clear_refs``); returns that size in MB, or ``None`` where it cannot be reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _status_mb("VmRSS")


def _peak_rss(loss: str, kwargs: dict, num_classes: int, batch_size: int, dim: int, threads: int) -> float:
    """Worker (a fresh process): MB the process's resident memory peaks above its size before its first iteration
    (which includes what a first forward + backward loads besides the loss's own tensors).

    The high-water mark is reset just before the iteration (Linux), so the import of torch and the building of the
    loss, whose peaks are larger than a small loss's iteration, do not hide it (without the reset most cells read 0).
    Elsewhere (macOS) the growth of ``ru_maxrss``, a lower bound, often 0 for small cells.
    """
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    loss_fn = build_loss(loss, num_classes, dim, **kwargs)
    embeddings = F.normalize(torch.randn(batch_size, dim), dim=1).requires_grad_(True)
    labels = torch.randint(0, num_classes, (batch_size,))
    before = _reset_peak_rss()
    if before is not None and _status_mb("VmHWM") is not None:
        loss_fn(embeddings, labels).backward()
        return max(0.0, _status_mb("VmHWM") - before)  # the counters are approximate: never below nothing
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loss_fn(embeddings, labels).backward()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / scale


def _time_group(
    specs: dict[str, tuple[str, dict]], num_classes: int, batch_size: int, dim: int, repeats: int, threads: int
) -> tuple[list[dict], float, dict]:
    """Worker (a fresh process): the series of ``specs`` at one ``C``, their repeats interleaved; the load average;
    and the machine's fingerprint (a timing belongs to its processor and software, as a run's rounding does)."""
    from ..training.fingerprint import machine_fingerprint

    torch.set_num_threads(threads)
    load = os.getloadavg()[0]  # how busy the machine was: the timings are only as quiet as it
    rows = cost_at(specs, num_classes, batch_size, dim, torch.device("cpu"), repeats, warmup=1, seed=0)
    return rows, load, machine_fingerprint("cpu")


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


def _this_machine(threads: int) -> str:
    """The fingerprint id that a timing worker with ``threads`` threads records (:func:`_time_group`)."""
    from ..training.device import torch_threads
    from ..training.fingerprint import machine_fingerprint

    with torch_threads(threads):
        return machine_fingerprint("cpu")["id"]


def _run_fresh(fn, *args):
    """``fn(*args)`` in a fresh spawned process (no memory high-water mark or thread pool carried over)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _is_skipped(row: Mapping) -> bool:
    return bool(text_cell(row.get("skipped")))


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
    load average when the timing began (``load_1min``), its CPU model (``cpu``)
    and its fingerprint id (``machine``, :mod:`proxygml_lite.training.fingerprint`). A cell whose
    *estimated* working memory exceeds :data:`EFFICIENCY_MEMORY_LIMIT` is not
    attempted: its row has no times and says why in ``skipped`` (e.g.
    ``"estimated 24 GiB > 4 GiB cap"``), and it is estimated again on the
    next call. (Series whose estimates add up to more than the cap are timed
    in separate groups.) A table written before the per-repeat times (without
    ``repeat_times_ms``) cannot be completed: all its cells are measured again;
    so are the cells timed on another machine (another ``machine`` id), since
    one table compares the timings of one processor.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    series = dict(series or EFFICIENCY_SERIES)
    rows: list[dict] = []
    if path.exists():
        old = read_csv(path, dtype=TEXT_COLUMNS)
        if "repeat_times_ms" in old.columns:
            rows = old.to_dict("records")
        else:
            print(
                f"{path}: written before each repeat's time was kept (no repeat_times_ms column); "
                "every cell is measured again",
                file=sys.stderr,
            )
    here = _this_machine(threads)
    kept = [r for r in rows if _is_skipped(r) or text_cell(r.get("machine")) == here]
    if len(kept) < len(rows):  # one table, one machine: timings of two processors are not comparable
        print(
            f"{path}: {len(rows) - len(kept)} measured cells were timed on another machine (or an unrecorded one); "
            f"measured again on this one ({here})",
            file=sys.stderr,
        )
        rows = kept
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
            timed, load, machine = _run_fresh(
                _time_group, {n: series[n] for n in group}, c, batch_size, dim, repeats, threads
            )
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
                        "cpu": machine["cpu"],
                        "machine": machine["id"],
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
    return read_csv(path, dtype=TEXT_COLUMNS)
