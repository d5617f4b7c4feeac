"""Toy data of the teaching notebooks: multi-modal classes on the unit circle/sphere and in the plane.

* :func:`multimodal_circle` / :func:`multimodal_sphere`: unit-norm 2-D / 3-D
  embeddings ``X`` whose classes are *multi-modal* (each class is several
  separated clusters), notebooks 1-4.
* :func:`toy_proxies`: a ``(C*N, d)`` proxy matrix in the layout of
  :func:`proxygml_lite.steps.proxy_labels`, hand-placed at the class modes or random.
* :func:`multimodal_blobs` and :func:`train_test_split`: a 2-D *input* space
  with multi-modal classes, the data of notebook 5.
* :func:`label_propagation`: classic label propagation (Zhou et al., 2004), to
  contrast with ProxyGML's *reverse* label propagation ``Z = W Y^p`` (notebook 3).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_int, check_number


def check_dim(dim) -> int:
    """2 (unit circle) or 3 (unit sphere)."""
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 (unit circle) or 3 (unit sphere); got {dim!r}")
    return int(dim)


__all__ = [
    "mode_centres",
    "multimodal_circle",
    "multimodal_sphere",
    "toy_proxies",
    "multimodal_blobs",
    "train_test_split",
    "label_propagation",
]


def _fibonacci_sphere(count: int) -> np.ndarray:
    """``count`` nearly evenly spread unit vectors in 3-D (a Fibonacci lattice)."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    radius = np.sqrt(1.0 - z**2)
    phi = math.pi * (3.0 - math.sqrt(5.0)) * i
    return np.stack([radius * np.cos(phi), radius * np.sin(phi), z], axis=1)


def mode_centres(*, num_classes: int, modes_per_class: int, dim: int = 2) -> torch.Tensor:
    """The unit-norm centres of the class modes, shape ``(C, K, dim)``.

    On the circle (``dim=2``) the ``C*K`` centres are evenly spaced and the
    classes are *interleaved*: mode ``m`` of class ``c`` sits at angle
    ``2 pi (m C + c) / (C K)``, so the neighbours of every cluster belong to
    other classes and the ``K`` clusters of one class are far apart (for
    ``K = 2`` they are opposite). On the sphere (``dim=3``) the centres are a
    Fibonacci lattice, centre ``i`` going to class ``i mod C``.
    """
    c = check_int("num_classes", num_classes, 1, "C, the number of classes")
    k = check_int("modes_per_class", modes_per_class, 1, "K, the clusters of each class")
    dim = check_dim(dim)
    if dim == 2:
        index = np.arange(k)[None, :] * c + np.arange(c)[:, None]  # (C, K)
        angle = 2 * math.pi * index / (c * k)
        centres = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    else:
        lattice = _fibonacci_sphere(c * k)  # centre i -> class i % C, mode i // C
        centres = lattice.reshape(k, c, 3).transpose(1, 0, 2)
    return torch.as_tensor(centres, dtype=torch.float32)


def _sample_around(
    centres: torch.Tensor, samples_per_mode: int, noise: float, generator: torch.Generator
) -> torch.Tensor:
    """Unit vectors scattered around each centre: Gaussian noise of std ``noise`` in the tangent directions."""
    c, k, dim = centres.shape
    base = centres[:, :, None, :].expand(c, k, samples_per_mode, dim)
    if dim == 2:
        angle = torch.atan2(base[..., 1], base[..., 0])
        angle = angle + noise * torch.randn(angle.shape, generator=generator)
        return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    offset = noise * torch.randn(base.shape, generator=generator)
    offset = offset - (offset * base).sum(-1, keepdim=True) * base  # tangent part only
    return F.normalize(base + offset, dim=-1)


def _multimodal(
    num_classes: int, modes_per_class: int, samples_per_mode: int, noise: float, seed: int, dim: int, return_modes: bool
):
    check_int("samples_per_mode", samples_per_mode, 1, "points drawn around each mode")
    noise = check_number("noise", noise, 0.0, "the spread of each cluster, in radians")
    centres = mode_centres(num_classes=num_classes, modes_per_class=modes_per_class, dim=dim)
    generator = torch.Generator().manual_seed(int(seed))
    points = _sample_around(centres, samples_per_mode, noise, generator)  # (C, K, n, dim)
    c, k = centres.shape[:2]
    labels = torch.arange(c).view(c, 1, 1).expand(c, k, samples_per_mode)
    modes = torch.arange(k).view(1, k, 1).expand(c, k, samples_per_mode)
    points, labels, modes = points.reshape(-1, dim), labels.reshape(-1), modes.reshape(-1)
    if return_modes:
        return points.contiguous(), labels.contiguous(), modes.contiguous()
    return points.contiguous(), labels.contiguous()


def multimodal_circle(
    *,
    num_classes: int = 3,
    modes_per_class: int = 2,
    samples_per_mode: int = 10,
    noise: float = 0.15,
    seed: int = 0,
    return_modes: bool = False,
):
    """Unit-norm 2-D toy embeddings ``X`` with multi-modal classes.

    Each of the ``C = num_classes`` classes is ``K = modes_per_class`` clusters
    on the unit circle (centres from :func:`mode_centres`, interleaved with the
    other classes), each with ``samples_per_mode`` points whose angle is the
    centre's plus Gaussian noise of std ``noise`` radians.

    Returns:
        ``(X, y)``: float32 ``(C*K*n, 2)`` unit rows and int64 labels ``y^s``,
        sorted by class, then mode. With ``return_modes=True`` also the mode
        index (``0..K-1``) of every point.
    """
    return _multimodal(num_classes, modes_per_class, samples_per_mode, noise, seed, 2, return_modes)


def multimodal_sphere(
    *,
    num_classes: int = 3,
    modes_per_class: int = 2,
    samples_per_mode: int = 10,
    noise: float = 0.15,
    seed: int = 0,
    return_modes: bool = False,
):
    """Like :func:`multimodal_circle` on the unit sphere in 3-D (centres on a Fibonacci lattice)."""
    return _multimodal(num_classes, modes_per_class, samples_per_mode, noise, seed, 3, return_modes)


def toy_proxies(
    *,
    num_classes: int,
    proxies_per_class: int,
    dim: int = 2,
    modes_per_class: int | None = None,
    jitter: float = 0.2,
    seed: int = 0,
) -> torch.Tensor:
    """A unit-norm proxy matrix ``P`` of shape ``(C*N, dim)``, class-contiguous rows.

    Row ``j`` belongs to class ``j // N`` (:func:`~proxygml_lite.steps.proxy_labels`).

    * ``modes_per_class=K``: proxy ``n`` of class ``c`` is *placed by hand*
      near mode ``n mod K`` of that class (see :func:`mode_centres`), moved by
      Gaussian noise of std ``jitter`` (radians). This layout shows the
      geometry of one proxy per cluster (notebooks 1-4); it is **not** where
      training leaves the proxies. Training moves the embeddings too: the
      network pulls a class's clusters together and the ``N`` proxies of a
      class merge (within-class cosine near 1 in notebook 5).
      ``modes_per_class=1`` puts all ``N`` proxies of a class together, near
      its single mode, which is closer to the end of training.
    * ``modes_per_class=None``: uniformly random directions, like proxies at
      initialisation (then ``jitter`` is unused).
    """
    c = check_int("num_classes", num_classes, 1, "C, the number of classes")
    n = check_int("proxies_per_class", proxies_per_class, 1, "N, proxies per class")
    dim = check_dim(dim)
    jitter = check_number("jitter", jitter, 0.0, "the proxies' spread around the modes, in radians")
    generator = torch.Generator().manual_seed(int(seed))
    if modes_per_class is None:
        return F.normalize(torch.randn(c * n, dim, generator=generator), dim=1)
    centres = mode_centres(num_classes=c, modes_per_class=modes_per_class, dim=dim)  # (C, K, dim)
    k = centres.shape[1]
    chosen = centres[:, torch.arange(n) % k, :]  # (C, N, dim)
    proxies = _sample_around(chosen.reshape(c * n, 1, dim), 1, jitter, generator)
    return proxies.reshape(c * n, dim).contiguous()


def multimodal_blobs(
    *,
    num_classes: int = 4,
    modes_per_class: int = 3,
    samples_per_mode: int = 40,
    spread: float = 0.3,
    seed: int = 0,
    return_modes: bool = False,
):
    """2-D *input* points (not normalised) whose classes are several Gaussian blobs.

    The ``C*K`` blob centres are the cells of a square grid with spacing 2
    (centred on the origin); the cells are dealt to the classes in a random
    order drawn from ``seed``, so the blobs of one class are scattered across
    the plane. Each blob has ``samples_per_mode`` points with std ``spread``.

    Returns:
        ``(inputs, y)``: float32 ``(C*K*n, 2)`` and int64 labels (or
        ``(inputs, y, modes)`` with ``return_modes=True``).
    """
    c = check_int("num_classes", num_classes, 2, "C, the number of classes")
    k = check_int("modes_per_class", modes_per_class, 1, "K, the blobs of each class")
    n = check_int("samples_per_mode", samples_per_mode, 1, "points drawn from each blob")
    spread = check_number("spread", spread, 0.0, "the std of each blob")
    side = math.ceil(math.sqrt(c * k))
    grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="xy"), -1).reshape(-1, 2)
    grid = 2.0 * (grid.float() - (side - 1) / 2.0)
    generator = torch.Generator().manual_seed(int(seed))
    cells = torch.randperm(side * side, generator=generator)[: c * k]
    centres = grid[cells].view(c, k, 2)  # the first K cells of the permutation go to class 0, ...
    inputs = centres[:, :, None, :] + spread * torch.randn(c, k, n, 2, generator=generator)
    labels = torch.arange(c).view(c, 1, 1).expand(c, k, n).reshape(-1)
    modes = torch.arange(k).view(1, k, 1).expand(c, k, n).reshape(-1)
    inputs = inputs.reshape(-1, 2).contiguous()
    if return_modes:
        return inputs, labels.contiguous(), modes.contiguous()
    return inputs, labels.contiguous()


def train_test_split(inputs: torch.Tensor, labels: torch.Tensor, *, test_fraction: float = 0.5, seed: int = 0):
    """Stratified random split: ``(train_inputs, train_labels, test_inputs, test_labels)``.

    Every class keeps ``round(test_fraction * size)`` of its points for the test set.
    Note that the toy test set holds *new points of the training classes*, unlike
    the benchmarks' protocol of unseen test classes.
    """
    if len(inputs) != len(labels):
        raise ValueError(f"inputs has {len(inputs)} rows but labels has {len(labels)}; they must match")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), e.g. 0.5; got {test_fraction!r}")
    generator = torch.Generator().manual_seed(int(seed))
    test = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique():
        members = (labels == c).nonzero().view(-1)
        members = members[torch.randperm(len(members), generator=generator)]
        test[members[: round(test_fraction * len(members))]] = True
    return inputs[~test], labels[~test], inputs[test], labels[test]


def label_propagation(
    points: torch.Tensor,
    labels: torch.Tensor,
    *,
    labelled: torch.Tensor,
    num_classes: int,
    num_neighbours: int = 4,
    alpha: float = 0.9,
    iterations: int = 50,
) -> torch.Tensor:
    """Classic label propagation (Zhou et al., NeurIPS 2004) over a k-NN graph of the samples.

    Known labels flow to the unlabelled points along the edges of a *fixed*
    graph: ``F <- alpha A F + (1 - alpha) Y``, with ``A = D^-1/2 G D^-1/2`` for
    the symmetric k-NN graph ``G`` (weights ``max(x_i^T x_j, 0)``) and ``Y`` the
    one-hot labels of the labelled points (zero rows for the others).
    ProxyGML reverses the roles: all labels are known and the *graph* is adjusted.

    Args:
        points: unit-norm ``(n, d)``.
        labels: ``(n,)``; only the entries where ``labelled`` is true are read.
        labelled: boolean ``(n,)``, the points whose label is known.

    Returns:
        ``F``, ``(n, num_classes)``: the propagated class scores (``argmax`` =
        prediction). A row of zeros means that no label reached the point.
    """
    n = len(points)
    if labelled.dtype != torch.bool or labelled.shape != (n,):
        raise ValueError(f"labelled must be a boolean tensor of shape ({n},), true for the known labels")
    if not labelled.any():
        raise ValueError("labelled marks no point; label at least one point per class")
    k = check_int("num_neighbours", num_neighbours, 1, "edges per point of the k-NN graph")
    if k >= n:
        raise ValueError(f"num_neighbours={k} must be smaller than the number of points ({n})")
    similarity = points @ points.t()
    similarity.fill_diagonal_(-math.inf)
    neighbours = similarity.topk(k, dim=1).indices
    graph = torch.zeros(n, n).scatter(1, neighbours, similarity.gather(1, neighbours).clamp_min(0))
    graph = torch.maximum(graph, graph.t())
    degree = graph.sum(1).clamp_min(1e-12).rsqrt()
    affinity = degree[:, None] * graph * degree[None, :]
    known = torch.zeros(n, num_classes)
    known[labelled] = F.one_hot(labels[labelled], num_classes).float()
    scores = known.clone()
    for _ in range(check_int("iterations", iterations, 1, "propagation steps")):
        scores = alpha * affinity @ scores + (1 - alpha) * known
    return scores
