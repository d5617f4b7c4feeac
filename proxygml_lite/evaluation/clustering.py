"""NMI: k-means on the embeddings with the official settings of each dataset, then normalised mutual information."""

from __future__ import annotations

import numpy as np
import torch

from ._common import (
    KMEANS_PLUSPLUS_MAX_CLUSTERS,
    NMI_BACKENDS,
    NMI_PROTOCOLS,
    _faiss,
    _prepare_embeddings,
    _prepare_labels,
)

__all__ = ["official_nmi_protocol", "nmi", "chance_nmi"]


def official_nmi_protocol(dataset: str) -> str:
    """The NMI protocol of the official code for ``dataset``: ``"faiss"`` for SOP, else ``"sklearn"``.

    The official ``validate`` sends ``online_products`` to ``auxiliaries.py``
    (faiss) and every other dataset to ``evaluation.py`` (scikit-learn).
    """
    from ..registry import DATASETS

    return "faiss" if dataset in DATASETS and DATASETS.canonical(dataset) == "online_products" else "sklearn"


def chance_nmi(labels, seed: int = 0, repeats: int = 5) -> float:
    """NMI's floor: the mean NMI of ``repeats`` random clusterings that ignore the data (the labels shuffled).

    Each clustering has exactly the classes' sizes, so it is what k-means with
    ``C`` clusters could return for embeddings that carry no information about
    the classes. NMI is not adjusted for chance: with many small classes this
    floor is far above 0 (199 classes of 12 images: 0.54), which is why an
    untrained network's NMI looks high beside its Recall@1.
    """
    from sklearn.metrics import normalized_mutual_info_score

    codes, _ = _prepare_labels(labels, len(labels), torch.device("cpu"))
    labels = codes.numpy()
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    rng = np.random.default_rng(seed)
    scores = [
        normalized_mutual_info_score(labels, rng.permutation(labels), average_method="arithmetic")
        for _ in range(repeats)
    ]
    return float(np.mean(scores))


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
