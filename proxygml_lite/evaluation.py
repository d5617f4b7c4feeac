"""Retrieval and clustering evaluation: Recall@K, NMI, MAP@R and R-Precision.

These are the metrics ProxyGML (Zhu et al., NeurIPS 2020) reports -- NMI and
Recall@K on CUB-200-2011, Cars196 and Stanford Online Products -- plus MAP@R
and R-Precision from Musgrave, Belongie and Lim, "A Metric Learning Reality
Check" (ECCV 2020).

Protocol. Every one of the ``n`` test embeddings ``x_i`` (row ``i`` of ``X``)
is a query; the other ``n - 1`` embeddings are the gallery. Embeddings are
L2-normalised here, so the neighbours of ``x_i`` are ranked by the cosine
similarity ``x_i^T x_j`` (the same ordering as Euclidean distance between
normalised vectors). The query itself is removed **by index**: an exact
duplicate ``x_j == x_i`` with ``j != i`` is an ordinary neighbour (at the top
of the ranking), never mistaken for the query.

Write ``y_i`` for the label of ``x_i``, ``nn_i(1), nn_i(2), ...`` for its
neighbours in order of decreasing similarity, and ``R_i`` for the number of
*other* samples of class ``y_i`` (class size minus one).

* ``Recall@K = (1/n) sum_i [ exists r <= K : y_{nn_i(r)} = y_i ]``, the
  standard deep-metric-learning "Recall@K" (a hit-rate; it is *not* the
  information-retrieval recall). A query whose class has one sample
  (``R_i = 0``) can never hit and counts as a miss, as in the official ProxyGML
  evaluation code. pytorch-metric-learning's ``precision_at_1`` instead leaves
  such queries out, so the two agree exactly whenever every class has at least
  two samples (true of all three benchmark test sets).
* ``RP = mean_i (1/R_i) sum_{r <= R_i} [y_{nn_i(r)} = y_i]`` (R-Precision).
* ``MAP@R = mean_i (1/R_i) sum_{r <= R_i} P_i(r) [y_{nn_i(r)} = y_i]``, with
  ``P_i(r)`` the precision among the first ``r`` neighbours.
  For RP and MAP@R the mean runs over the queries with ``R_i > 0`` only, as in
  pytorch-metric-learning 2.x's ``AccuracyCalculator`` (its "lone query
  labels"); if no query has ``R_i > 0`` the value is ``nan``.
* ``NMI``: k-means on the normalised embeddings with as many clusters as there
  are classes, then ``sklearn.metrics.normalized_mutual_info_score`` (arithmetic
  mean normalisation) between the cluster assignment and the labels. The
  k-means settings are those of the official code for each dataset
  (:data:`NMI_PROTOCOLS`, :func:`official_nmi_protocol`): CUB-200-2011 and
  Cars196 use scikit-learn ``KMeans`` (k-means++, ``n_init=10``,
  ``max_iter=300``), Stanford Online Products faiss k-means (20 iterations,
  random initialisation); both are seeded here. ``"fast"`` (one k-means++
  start, 20 iterations) is an option for quick runs; its values differ from
  the official protocols' (``benchmarks/bench_nmi_protocols.py`` measures by
  how much).

Exactness and memory. The neighbour search is exact (brute force). It runs in
blocks of ``chunk_size`` queries: each block's similarities to all ``n``
samples are computed, its top ``K`` neighbours found, and immediately reduced
to three numbers per query (rank of the first same-class neighbour, AP@R, RP),
so neither the ``n x n`` similarity matrix nor the ``n x K`` neighbour list is
ever held. The neighbours are searched ONCE for the largest K that any
requested metric needs (``max(recall_ks)`` and ``max_i R_i`` for MAP@R/RP), as
pytorch-metric-learning's ``AccuracyCalculator`` does.

Backends (``backend=``):

* ``"faiss"``: exact ``faiss.IndexFlatIP`` on the CPU (faiss-cpu), searching
  ``K + 1`` neighbours per query and dropping the query's own index (or, when
  more than ``K`` exact duplicates push it out of the list, the last one).
* ``"torch"``: chunked matrix product ``X_b X^T`` plus ``torch.topk`` on the
  device of the embeddings (a CUDA tensor is evaluated on its GPU); the
  query's own entry is set to ``-inf`` before the top-k.
* ``"auto"`` (default): ``"torch"`` for a CUDA tensor, else ``"faiss"`` when
  it can be imported, else ``"torch"``.

Ties. Exactly equal similarities (duplicate vectors, or vectors at the same
angle) are ordered by the backend in an unspecified way (``torch.topk`` and the
faiss heaps make no promise). A metric can only depend on that order when the
tied neighbours straddle a cut-off (the K-th neighbour for Recall@K, the
R_i-th for MAP@R and RP) *and* carry different labels; otherwise the result is
the same for every tie order. The two backends also round dot products
differently (about 1e-7), so near-ties can be broken differently too.

Example (the fifth point, of class 1, lies closest to class 0, so it misses
at ranks 1 and 2; every other query's nearest neighbour is of its class)::

    >>> import numpy as np
    >>> from proxygml_lite.evaluation import evaluate
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.6, 0.5]])
    >>> out = evaluate(x, [0, 0, 1, 1, 1], recall_ks=(1, 2), compute_map=True)
    >>> {k: round(v, 3) for k, v in out.items()}
    {'R@1': 0.8, 'R@2': 0.8, 'NMI': 0.433, 'MAP@R': 0.8, 'RP': 0.8}
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "DEFAULT_RECALL_KS",
    "BACKENDS",
    "NMI_BACKENDS",
    "NMI_PROTOCOLS",
    "KMEANS_PLUSPLUS_MAX_CLUSTERS",
    "official_nmi_protocol",
    "NeighbourStatistics",
    "neighbour_statistics",
    "recall_at_k",
    "map_at_r",
    "r_precision",
    "nmi",
    "evaluate",
]

#: Recall@K cut-offs reported by ProxyGML on CUB-200-2011 and Cars196.
DEFAULT_RECALL_KS = (1, 2, 4, 8)
#: Neighbour-search backends.
BACKENDS = ("auto", "torch", "faiss")
#: k-means backends for :func:`nmi` with ``protocol="fast"``.
NMI_BACKENDS = ("auto", "faiss", "sklearn")
#: k-means settings of :func:`nmi`:
#:
#: * ``"sklearn"``: the official ``evaluation.py`` (CUB-200-2011, Cars196, and
#:   every dataset but SOP): ``sklearn.cluster.KMeans(n_clusters=C)`` with the
#:   defaults of its time, ``init="k-means++", n_init=10, max_iter=300``; the
#:   official call is unseeded, here ``random_state=seed``;
#: * ``"faiss"``: the official ``auxiliaries.py`` (Stanford Online Products):
#:   ``faiss.Clustering`` with ``niter=20``, random initialisation (``C``
#:   samples drawn by faiss), ``min_points_per_centroid=1``,
#:   ``max_points_per_centroid=10**9``, seeded with ``seed``; without faiss
#:   installed, ``sklearn.cluster.KMeans(init="random", n_init=1, max_iter=20)``
#:   (the same algorithm with another random stream);
#: * ``"fast"``: one start and ``niter`` (20) Lloyd iterations, k-means++
#:   seeding up to :data:`KMEANS_PLUSPLUS_MAX_CLUSTERS` clusters (``init``,
#:   ``backend`` choose); not an official protocol.
NMI_PROTOCOLS = ("sklearn", "faiss", "fast")
#: With ``init="auto"``, k-means++ seeding is used up to this many clusters
#: (its cost grows like ``C log C`` passes over the data), random seeding above.
KMEANS_PLUSPLUS_MAX_CLUSTERS = 1000

# Default block sizes: about 2**26 similarities (256 MiB of float32) per torch
# block, and about 2**22 kept neighbours per faiss block (faiss computes its
# similarity tiles in its own bounded blocks).
_TORCH_BLOCK_ELEMENTS = 2**26
_FAISS_BLOCK_NEIGHBOURS = 2**22


# --------------------------------------------------------------------------- #
# Input checking
# --------------------------------------------------------------------------- #


def _faiss():
    """The faiss module, or ``None`` when it is not installed."""
    try:
        import faiss  # noqa: PLC0415
    except ImportError:
        return None
    return faiss


def _prepare_embeddings(embeddings) -> torch.Tensor:
    """Check ``embeddings`` and return them L2-normalised, float32, detached, on their device."""
    if isinstance(embeddings, torch.Tensor):
        x = embeddings.detach()
    else:
        try:
            x = torch.from_numpy(np.ascontiguousarray(np.asarray(embeddings)))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"embeddings must be a numpy array or torch tensor of shape (n_samples, dim); "
                f"could not convert a {type(embeddings).__name__} ({err}). "
                f"Pass np.asarray(embeddings, dtype=np.float32)."
            ) from None
    if x.ndim != 2:
        raise ValueError(
            f"embeddings must be 2-D (n_samples, dim); got shape {tuple(x.shape)}. "
            f"Reshape it, e.g. embeddings.reshape(len(embeddings), -1)."
        )
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"embeddings must hold real numbers; got dtype {x.dtype}. Cast them to float32.")
    if x.shape[0] < 2:
        raise ValueError(
            f"embeddings has {x.shape[0]} sample(s); retrieval needs at least 2 "
            f"(each query is compared with the others). Evaluate on a larger set."
        )
    if x.shape[1] < 1:
        raise ValueError("embeddings has dimension 0; pass embeddings of shape (n_samples, dim >= 1).")
    x = x.to(torch.float32)
    finite = torch.isfinite(x).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()[:5].tolist()
        raise ValueError(
            f"embeddings contain NaN or infinite values (rows {bad}...); "
            f"fix the model/outputs (e.g. check for a diverged loss) before evaluating."
        )
    norms = torch.linalg.vector_norm(x, dim=1)
    if not bool((norms > 0).all()):
        bad = torch.nonzero(norms == 0).flatten()[:5].tolist()
        raise ValueError(
            f"embeddings rows {bad}... are all zeros, so they have no direction and cannot be "
            f"L2-normalised for cosine similarity; remove them or fix the model output."
        )
    return x / norms.unsqueeze(1)


def _prepare_labels(labels, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``labels``; return (class codes 0..C-1 as int64 on ``device``, class sizes)."""
    if isinstance(labels, torch.Tensor):
        y = labels.detach().cpu()
        dtype = y.dtype
        is_int = not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)
    else:
        y = np.asarray(labels)
        dtype = y.dtype
        is_int = y.dtype.kind in "iu"
        if is_int:
            y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    if not is_int:
        raise ValueError(
            f"labels must be integer class ids; got dtype {dtype}. "
            f"Map them to ints first, e.g. np.unique(labels, return_inverse=True)[1]."
        )
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D (n_samples,); got shape {tuple(y.shape)}. Use labels.reshape(-1).")
    if y.shape[0] != n:
        raise ValueError(
            f"labels has {y.shape[0]} entries but embeddings has {n} rows; "
            f"pass one label per embedding row, in the same order."
        )
    _, codes, counts = torch.unique(y.to(torch.int64), return_inverse=True, return_counts=True)
    return codes.to(device), counts.to(device)


def _check_ks(ks, n: int, name: str) -> tuple[int, ...]:
    """Validate the Recall@K cut-offs; return them as a tuple of ints (order kept)."""
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    try:
        ks = tuple(ks)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of positive ints such as (1, 2, 4, 8); got {ks!r}.") from None
    out = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{name} must hold positive ints such as (1, 2, 4, 8); got {k!r}.")
        if k > n - 1:
            raise ValueError(
                f"{name} contains k={int(k)}, but with {n} samples each query has only {n - 1} "
                f"neighbours (itself excluded); use k <= {n - 1}."
            )
        out.append(int(k))
    return tuple(out)


def _resolve_backend(backend: str, x: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}.")
    if backend == "auto":
        if x.is_cuda:
            return "torch"
        return "faiss" if _faiss() is not None else "torch"
    if backend == "faiss" and _faiss() is None:
        raise ImportError("backend='faiss' needs faiss; install it (pip install faiss-cpu) or use backend='torch'.")
    return backend


def _check_chunk_size(chunk_size) -> None:
    if chunk_size is None:
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int (queries per block) or None; got {chunk_size!r}.")


# --------------------------------------------------------------------------- #
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


def official_nmi_protocol(dataset: str) -> str:
    """The NMI protocol of the official code for ``dataset``: ``"faiss"`` for SOP, else ``"sklearn"``.

    The official ``validate`` sends ``online_products`` to ``auxiliaries.py``
    (faiss) and every other dataset to ``evaluation.py`` (scikit-learn).
    """
    from .registry import DATASETS

    return "faiss" if dataset in DATASETS and DATASETS.canonical(dataset) == "online_products" else "sklearn"


def nmi(
    embeddings,
    labels,
    seed: int = 0,
    *,
    protocol: str = "sklearn",
    backend: str = "auto",
    init: str = "auto",
    niter: int = 20,
) -> float:
    """Normalised mutual information between k-means clusters and the labels.

    k-means runs on the L2-normalised embeddings with ``C`` clusters, ``C`` the
    number of distinct labels, with the settings of ``protocol``
    (:data:`NMI_PROTOCOLS`); NMI is
    ``sklearn.metrics.normalized_mutual_info_score(labels, clusters,
    average_method="arithmetic")``.

    Args:
        embeddings: ``(n, d)`` numpy array or torch tensor.
        labels: ``(n,)`` integer class ids.
        seed: seeds the k-means initialisation; the result is deterministic for
            a given seed, protocol, backend and thread count.
        protocol: ``"sklearn"`` (default; the official CUB-200-2011/Cars196
            protocol: ``KMeans`` k-means++, ``n_init=10``, ``max_iter=300``),
            ``"faiss"`` (the official SOP protocol: faiss k-means, 20
            iterations, random initialisation) or ``"fast"`` (one start,
            ``niter`` iterations; ``backend``/``init`` below). Use
            :func:`official_nmi_protocol` to pick the one of a dataset.
        backend: ``"fast"`` only. ``"faiss"``: ``faiss.Kmeans`` with
            ``min_points_per_centroid=1`` and no subsampling
            (``max_points_per_centroid=10**9``); ``"sklearn"``:
            ``sklearn.cluster.KMeans(n_init=1, max_iter=niter,
            algorithm="lloyd")``; ``"auto"``: faiss when installed, else sklearn.
        init: ``"fast"`` only. ``"k-means++"`` (sklearn's greedy k-means++
            seeding; it seeds faiss too), ``"random"`` (``C`` random samples),
            or ``"auto"``: k-means++ up to :data:`KMEANS_PLUSPLUS_MAX_CLUSTERS`
            clusters, random above (k-means++ costs about ``C log C`` passes
            over the data: hours for Stanford Online Products' 11,316 classes).
        niter: ``"fast"`` only: Lloyd iterations.
    """
    x = _prepare_embeddings(embeddings)
    return _nmi(x, labels, seed, backend, init, niter, protocol)


def _nmi(x: torch.Tensor, labels, seed, backend: str, init: str, niter, protocol: str = "fast") -> float:
    """:func:`nmi` on already normalised embeddings ``x``."""
    if protocol not in NMI_PROTOCOLS:
        raise ValueError(
            f"protocol must be one of {NMI_PROTOCOLS} for nmi (sklearn: official CUB/Cars, faiss: official SOP, "
            f"fast: one short k-means run); got {protocol!r}."
        )
    if backend not in NMI_BACKENDS:
        raise ValueError(f"backend must be one of {NMI_BACKENDS} for nmi; got {backend!r}.")
    if init not in ("auto", "k-means++", "random"):
        raise ValueError(f"init must be 'auto', 'k-means++' or 'random'; got {init!r}.")
    if isinstance(niter, bool) or not isinstance(niter, (int, np.integer)) or niter < 1:
        raise ValueError(f"niter must be a positive int (Lloyd iterations); got {niter!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**31:
        raise ValueError(f"seed must be an int in [0, 2**31); got {seed!r}.")
    if protocol != "fast" and (init != "auto" or niter != 20 or (protocol == "sklearn" and backend == "faiss")):
        raise ValueError(
            f"init, niter and backend='faiss' choose the k-means of protocol='fast' only; protocol={protocol!r} "
            "has fixed official settings. Pass protocol='fast' to set them."
        )
    codes, _ = _prepare_labels(labels, x.shape[0], torch.device("cpu"))
    y = codes.numpy()
    xs = x.cpu().numpy()
    num_clusters = int(y.max()) + 1
    if backend == "auto":
        backend = "faiss" if _faiss() is not None else "sklearn"
    elif backend == "faiss" and _faiss() is None:
        raise ImportError("backend='faiss' needs faiss; install it (pip install faiss-cpu) or use backend='sklearn'.")
    if init == "auto":
        init = "k-means++" if num_clusters <= KMEANS_PLUSPLUS_MAX_CLUSTERS else "random"

    from sklearn.metrics import normalized_mutual_info_score  # noqa: PLC0415

    if num_clusters == 1:
        clusters = np.zeros_like(y)
    elif protocol == "sklearn":
        clusters = _sklearn_kmeans(xs, num_clusters, seed, "k-means++", n_init=10, max_iter=300)
    elif protocol == "faiss" and backend == "faiss":
        clusters = _faiss_kmeans(xs, num_clusters, int(seed), "random", 20)
    elif protocol == "faiss":  # faiss not installed, or the caller asked for no faiss (backend="sklearn")
        clusters = _sklearn_kmeans(xs, num_clusters, seed, "random", n_init=1, max_iter=20)
    elif backend == "faiss":
        clusters = _faiss_kmeans(xs, num_clusters, int(seed), init, int(niter))
    else:
        clusters = _sklearn_kmeans(xs, num_clusters, seed, init, n_init=1, max_iter=int(niter))
    return float(normalized_mutual_info_score(y, clusters, average_method="arithmetic"))


def _sklearn_kmeans(x: np.ndarray, num_clusters: int, seed, init: str, *, n_init: int, max_iter: int) -> np.ndarray:
    from sklearn.cluster import KMeans  # noqa: PLC0415

    km = KMeans(
        n_clusters=num_clusters, init=init, n_init=n_init, max_iter=max_iter, random_state=int(seed), algorithm="lloyd"
    )
    return km.fit_predict(x)


def _faiss_kmeans(x: np.ndarray, num_clusters: int, seed: int, init: str, niter: int) -> np.ndarray:
    """Cluster ids from faiss k-means (the official SOP settings: no subsampling, given seed, init, niter)."""
    faiss = _faiss()
    km = faiss.Kmeans(
        x.shape[1],
        num_clusters,
        niter=niter,
        seed=seed,
        min_points_per_centroid=1,
        max_points_per_centroid=10**9,
        verbose=False,
    )
    init_centroids = None
    if init == "k-means++":
        from sklearn.cluster import kmeans_plusplus  # noqa: PLC0415

        init_centroids, _ = kmeans_plusplus(x, num_clusters, random_state=seed)
        init_centroids = np.ascontiguousarray(init_centroids, dtype=np.float32)
    km.train(x, init_centroids=init_centroids)
    _, assignment = km.index.search(x, 1)
    return assignment.ravel()


def evaluate(
    embeddings,
    labels,
    recall_ks: Iterable[int] = DEFAULT_RECALL_KS,
    compute_nmi: bool = True,
    compute_map: bool = False,
    seed: int = 0,
    *,
    backend: str = "auto",
    chunk_size: int | None = None,
    nmi_protocol: str = "sklearn",
) -> dict[str, float]:
    """All metrics from ONE neighbour search: ``{"R@1": ..., "NMI": ..., "MAP@R": ..., "RP": ...}``.

    Args:
        embeddings: ``(n, d)`` numpy array or torch tensor (L2-normalised here).
        labels: ``(n,)`` integer class ids.
        recall_ks: cut-offs K of the ``"R@K"`` keys (may be empty).
        compute_nmi: add ``"NMI"`` (:func:`nmi` with ``seed`` and ``nmi_protocol``).
        compute_map: add ``"MAP@R"`` and ``"RP"``.
        seed: k-means seed for NMI.
        backend: neighbour search, ``"auto"``/``"torch"``/``"faiss"``. With
            ``"torch"`` NMI uses no faiss either (the ``"faiss"`` protocol then
            runs its settings in scikit-learn).
        chunk_size: queries per block of the neighbour search.
        nmi_protocol: k-means settings of NMI (:data:`NMI_PROTOCOLS`):
            ``"sklearn"`` (default, the official CUB/Cars protocol), ``"faiss"``
            (official SOP) or ``"fast"``; :func:`official_nmi_protocol` gives a
            dataset's.

    Returns:
        Floats in ``[0, 1]`` (``MAP@R``/``RP`` are ``nan`` if no class has two samples).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}.")
    x = _prepare_embeddings(embeddings)
    ks = _check_ks(recall_ks, x.shape[0], "recall_ks")
    out: dict[str, float] = {}
    stats = None
    if ks or compute_map:
        stats = _neighbour_statistics(x, labels, max(ks, default=1), compute_map, backend, chunk_size)
        for k in ks:
            out[f"R@{k}"] = stats.recall(k)
    if compute_nmi:
        nmi_backend = {"auto": "auto", "torch": "sklearn", "faiss": "faiss"}[backend]
        if nmi_protocol != "fast" and nmi_backend == "faiss":
            nmi_backend = "auto"  # the official protocols fix their own k-means library
        out["NMI"] = _nmi(x, labels, seed, nmi_backend, "auto", 20, nmi_protocol)
    if stats is not None and compute_map:
        out["MAP@R"] = stats.map_at_r()
        out["RP"] = stats.mean_r_precision()
    return out
