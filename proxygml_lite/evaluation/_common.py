"""Shared by the metrics: the settings, the faiss loader and the checks of embeddings, labels and cut-offs."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["DEFAULT_RECALL_KS", "BACKENDS", "NMI_BACKENDS", "NMI_PROTOCOLS", "KMEANS_PLUSPLUS_MAX_CLUSTERS"]

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


def load_faiss():
    """The faiss module, or ``None`` when it is not installed."""
    try:
        import faiss  # noqa: PLC0415
    except ImportError:
        return None
    return faiss


def _faiss():
    """:func:`load_faiss`, looked up on the package at each call, so that a test can replace ``evaluation.load_faiss``."""
    from .. import evaluation

    return evaluation.load_faiss()


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
