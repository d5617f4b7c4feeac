"""Retrieval metrics from an exact, chunked k-nearest-neighbour search: Recall@K, MAP@R, R-Precision."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ._common import (
    _FAISS_BLOCK_NEIGHBOURS,
    _TORCH_BLOCK_ELEMENTS,
    DEFAULT_RECALL_KS,
    _check_chunk_size,
    _check_ks,
    _faiss,
    _prepare_embeddings,
    _prepare_labels,
    _resolve_backend,
)

__all__ = ["NeighbourStatistics", "neighbour_statistics", "recall_at_k", "map_at_r", "r_precision"]


# Exact, chunked k-nearest-neighbour search
# --------------------------------------------------------------------------- #


def _knn_blocks(
    x: torch.Tensor, k: int, backend: str, chunk_size: int | None
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, stop, idx)``: the top-``k`` neighbours of queries ``start..stop-1``.

    ``x`` is L2-normalised. ``idx`` is ``(stop - start, k)`` int64 (on ``x``'s
    device for torch, CPU for faiss), sorted by decreasing cosine similarity,
    with each query's own index excluded.
    """
    n = x.shape[0]
    if backend == "torch":
        block = chunk_size or max(1, min(n, _TORCH_BLOCK_ELEMENTS // n))
        for start in range(0, n, block):
            stop = min(n, start + block)
            sims = x[start:stop] @ x.T
            rows = torch.arange(stop - start, device=x.device)
            sims[rows, rows + start] = -math.inf  # exclude the query itself, by index
            idx = torch.topk(sims, k, dim=1, largest=True, sorted=True).indices
            del sims
            yield start, stop, idx
        return

    faiss = _faiss()
    xs = x.cpu().numpy()
    index = faiss.IndexFlatIP(xs.shape[1])
    index.add(xs)
    block = chunk_size or max(1, min(n, _FAISS_BLOCK_NEIGHBOURS // (k + 1)))
    for start in range(0, n, block):
        stop = min(n, start + block)
        _, found = index.search(xs[start:stop], k + 1)
        found = torch.from_numpy(found)
        is_self = found == torch.arange(start, stop).unsqueeze(1)
        # If more than k exact duplicates outrank the query itself, drop the last instead.
        is_self[~is_self.any(dim=1), -1] = True
        yield start, stop, found[~is_self].view(stop - start, k)


# --------------------------------------------------------------------------- #
# Per-query statistics shared by all retrieval metrics
# --------------------------------------------------------------------------- #


@dataclass
class NeighbourStatistics:
    """What every retrieval metric needs, per query, from ONE neighbour search.

    Attributes:
        first_hit: ``(n,)`` int64, the 1-based rank of the first neighbour that
            shares the query's label, or ``num_neighbours + 1`` if none of the
            searched neighbours does. ``Recall@K = mean(first_hit <= K)``.
        average_precision: ``(n,)`` float64, AP@R of each query
            (``nan`` where ``R_i = 0``, or if MAP was not requested).
        r_precision: ``(n,)`` float64, R-Precision of each query (``nan`` likewise).
        num_relevant: ``(n,)`` int64, ``R_i``: the other samples of the query's class.
        num_neighbours: how many neighbours were searched per query.
    """

    first_hit: np.ndarray
    average_precision: np.ndarray
    r_precision: np.ndarray
    num_relevant: np.ndarray
    num_neighbours: int

    def recall(self, k: int) -> float:
        """Recall@k (a query with no same-class neighbour in its top k is a miss)."""
        if k > self.num_neighbours:
            raise ValueError(
                f"Recall@{k} needs {k} neighbours but only {self.num_neighbours} were searched; "
                f"include {k} in recall_ks."
            )
        return float(np.mean(self.first_hit <= k))

    def map_at_r(self) -> float:
        """MAP@R over the queries with ``R_i > 0`` (``nan`` if there are none)."""
        return _mean_over_valid(self.average_precision, "MAP@R")

    def mean_r_precision(self) -> float:
        """R-Precision over the queries with ``R_i > 0`` (``nan`` if there are none)."""
        return _mean_over_valid(self.r_precision, "RP")


def _mean_over_valid(values: np.ndarray, name: str) -> float:
    valid = ~np.isnan(values)
    if not valid.any():
        warnings.warn(
            f"{name} is nan: no query has another sample of its class (R = 0 for all); "
            f"evaluate on a set with at least two samples per class.",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(values[valid].mean())


def neighbour_statistics(
    embeddings,
    labels,
    num_neighbours: int = 1,
    *,
    with_map: bool = False,
    backend: str = "auto",
    chunk_size: int | None = None,
) -> NeighbourStatistics:
    """Search the neighbours once and reduce them to per-query statistics.

    Args:
        embeddings: ``(n, d)`` numpy array or torch tensor (any real dtype;
            L2-normalised here). A CUDA tensor is searched on its GPU by the
            torch backend.
        labels: ``(n,)`` integer class ids (numpy, torch or list).
        num_neighbours: neighbours to search for Recall@K (the largest K needed).
        with_map: also compute AP@R and RP; the search then covers at least
            ``max_i R_i`` neighbours.
        backend: ``"auto"``, ``"torch"`` or ``"faiss"`` (see the module docstring).
        chunk_size: queries per block (``None``: about 256 MiB of similarities
            per torch block; ``2**22 / (K + 1)`` queries per faiss block).

    Returns:
        A :class:`NeighbourStatistics`.
    """
    x = _prepare_embeddings(embeddings)
    (num_neighbours,) = _check_ks((num_neighbours,), x.shape[0], "num_neighbours")
    return _neighbour_statistics(x, labels, num_neighbours, with_map, backend, chunk_size)


def _neighbour_statistics(
    x: torch.Tensor, labels, num_neighbours: int, with_map: bool, backend: str, chunk_size
) -> NeighbourStatistics:
    """:func:`neighbour_statistics` on already normalised embeddings ``x``."""
    n = x.shape[0]
    backend = _resolve_backend(backend, x)
    _check_chunk_size(chunk_size)
    work_device = x.device if backend == "torch" else torch.device("cpu")
    codes, counts = _prepare_labels(labels, n, work_device)
    relevant = counts[codes] - 1  # R_i
    r_max = int(relevant.max()) if with_map else 0
    k = max(num_neighbours, r_max)

    first_hit = torch.empty(n, dtype=torch.int64, device=work_device)
    ap = torch.full((n,), math.nan, dtype=torch.float64, device=work_device)
    rp = torch.full((n,), math.nan, dtype=torch.float64, device=work_device)
    ranks = torch.arange(1, r_max + 1, device=work_device)
    with torch.no_grad():
        for start, stop, idx in _knn_blocks(x, k, backend, chunk_size):
            idx = idx.to(work_device)
            same = codes[idx] == codes[start:stop].unsqueeze(1)  # (m, k)
            hit_any = same.any(dim=1)
            first = same.to(torch.uint8).argmax(dim=1) + 1  # argmax returns the first maximum
            first_hit[start:stop] = torch.where(hit_any, first, torch.full_like(first, k + 1))
            if r_max > 0:
                r_q = relevant[start:stop]
                rel = same[:, :r_max] & (ranks.unsqueeze(0) <= r_q.unsqueeze(1))
                cum = rel.cumsum(dim=1, dtype=torch.float64)
                precision_at_hits = (cum / ranks.to(torch.float64)) * rel
                denom = r_q.to(torch.float64)  # 0 for lone queries -> 0/0 = nan
                ap[start:stop] = precision_at_hits.sum(dim=1) / denom
                rp[start:stop] = rel.sum(dim=1, dtype=torch.float64) / denom
    return NeighbourStatistics(
        first_hit=first_hit.cpu().numpy(),
        average_precision=ap.cpu().numpy(),
        r_precision=rp.cpu().numpy(),
        num_relevant=relevant.cpu().numpy(),
        num_neighbours=k,
    )


# --------------------------------------------------------------------------- #
# Public metrics
# --------------------------------------------------------------------------- #


def recall_at_k(
    embeddings,
    labels,
    ks: Iterable[int] = DEFAULT_RECALL_KS,
    *,
    backend: str = "auto",
    chunk_size: int | None = None,
) -> dict[int, float]:
    """Recall@K for every K in ``ks``: ``{K: fraction of queries with a same-class neighbour in their top K}``.

    Cosine similarity; each query excluded by index (duplicates of it count as
    neighbours); a query alone in its class is a miss. Exact and chunked; see
    the module docstring for backends and ties.
    """
    x = _prepare_embeddings(embeddings)
    ks = _check_ks(ks, x.shape[0], "ks")
    if not ks:
        raise ValueError("ks is empty; pass at least one cut-off, e.g. ks=(1, 2, 4, 8).")
    stats = _neighbour_statistics(x, labels, max(ks), False, backend, chunk_size)
    return {k: stats.recall(k) for k in ks}


def map_at_r(embeddings, labels, *, backend: str = "auto", chunk_size: int | None = None) -> float:
    """MAP@R (Musgrave et al., ECCV 2020): mean over queries with ``R_i > 0`` of AP@R_i.

    ``AP@R_i = (1/R_i) sum_{r <= R_i} P_i(r) [neighbour r shares the label]``,
    ``R_i`` the number of other samples of the query's class. Queries with
    ``R_i = 0`` are left out, as in pytorch-metric-learning (``nan`` if all are).
    """
    x = _prepare_embeddings(embeddings)
    return _neighbour_statistics(x, labels, 1, True, backend, chunk_size).map_at_r()


def r_precision(embeddings, labels, *, backend: str = "auto", chunk_size: int | None = None) -> float:
    """R-Precision: mean over queries with ``R_i > 0`` of the same-class fraction of the top ``R_i``.

    Queries with ``R_i = 0`` are left out, as in pytorch-metric-learning (``nan`` if all are).
    """
    x = _prepare_embeddings(embeddings)
    return _neighbour_statistics(x, labels, 1, True, backend, chunk_size).mean_r_precision()
