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

from collections.abc import Iterable

from ._common import (
    BACKENDS,
    DEFAULT_RECALL_KS,
    KMEANS_PLUSPLUS_MAX_CLUSTERS,
    NMI_BACKENDS,
    NMI_PROTOCOLS,
    _check_ks,
    _prepare_embeddings,
    load_faiss,  # what the metrics call (through _common._faiss); tests replace it
)
from .clustering import _nmi, chance_nmi, nmi, official_nmi_protocol
from .neighbours import (  # noqa: F401  (_knn_blocks: the neighbour search, tested directly)
    NeighbourStatistics,
    _knn_blocks,
    _neighbour_statistics,
    map_at_r,
    neighbour_statistics,
    r_precision,
    recall_at_k,
)

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
    "chance_nmi",
    "evaluate",
    "load_faiss",
]


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
