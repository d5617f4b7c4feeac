"""Toy data and a tiny training loop for the teaching notebooks.

Everything here is small enough to run on a laptop CPU in seconds:

* :func:`multimodal_circle` / :func:`multimodal_sphere`: unit-norm 2-D / 3-D
  embeddings ``X`` whose classes are *multi-modal* (each class is several
  separated clusters), the situation in which one proxy per class is not
  enough and ProxyGML's ``N > 1`` proxies per class pay off.
* :func:`toy_proxies`: a ``(C*N, d)`` proxy matrix in the layout of
  :func:`proxygml_lite.steps.proxy_labels` (rows ``c*N .. c*N+N-1`` belong to
  class ``c``), either near the class modes or random (as at initialisation).
* :func:`multimodal_blobs`: a 2-D *input* space with multi-modal classes, the
  data of notebook 5, with :class:`TinyEmbedding` (a small MLP whose output is
  L2-normalised) and :func:`train_toy_embedding` (the training loop, returning a
  :class:`ToyHistory` with proxy snapshots).
* :func:`loss_gradients`: ``-dL/dX`` and ``-dL/dP`` of ``L = L^s + lambda L^p``
  through :class:`~proxygml_lite.loss.ProxyGMLLoss`, projected on the circle/sphere.
* :func:`label_propagation`: classic label propagation (Zhou et al., 2004), to
  contrast with ProxyGML's *reverse* label propagation ``Z = W Y^p``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import steps
from .loss import ProxyGMLLoss
from .registry import LOSSES

__all__ = [
    "mode_centres",
    "multimodal_circle",
    "multimodal_sphere",
    "toy_proxies",
    "multimodal_blobs",
    "train_test_split",
    "label_propagation",
    "ToyGradients",
    "loss_gradients",
    "TinyEmbedding",
    "Snapshot",
    "ToyHistory",
    "train_step",
    "train_toy_embedding",
]


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def _check_int(name: str, value, minimum: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} ({hint}); got {value!r}")
    return int(value)


def _check_float(name: str, value, minimum: float, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum} ({hint}); got {value!r}")
    return float(value)


def _check_dim(dim) -> int:
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 (unit circle) or 3 (unit sphere); got {dim!r}")
    return int(dim)


# --------------------------------------------------------------------------- #
# Unit circle / sphere data
# --------------------------------------------------------------------------- #


def _fibonacci_sphere(count: int) -> np.ndarray:
    """``count`` nearly evenly spread unit vectors in 3-D (a Fibonacci lattice)."""
    i = np.arange(count) + 0.5
    z = 1.0 - 2.0 * i / count
    radius = np.sqrt(1.0 - z**2)
    phi = math.pi * (3.0 - math.sqrt(5.0)) * i
    return np.stack([radius * np.cos(phi), radius * np.sin(phi), z], axis=1)


def mode_centres(num_classes: int, modes_per_class: int, dim: int = 2) -> torch.Tensor:
    """The unit-norm centres of the class modes, shape ``(C, K, dim)``.

    On the circle (``dim=2``) the ``C*K`` centres are evenly spaced and the
    classes are *interleaved*: mode ``m`` of class ``c`` sits at angle
    ``2 pi (m C + c) / (C K)``, so the neighbours of every cluster belong to
    other classes and the ``K`` clusters of one class are far apart (for
    ``K = 2`` they are opposite). On the sphere (``dim=3``) the centres are a
    Fibonacci lattice, centre ``i`` going to class ``i mod C``.
    """
    c = _check_int("num_classes", num_classes, 1, "C, the number of classes")
    k = _check_int("modes_per_class", modes_per_class, 1, "K, the clusters of each class")
    dim = _check_dim(dim)
    if dim == 2:
        index = np.arange(k)[None, :] * c + np.arange(c)[:, None]  # (C, K)
        angle = 2 * math.pi * index / (c * k)
        centres = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    else:
        lattice = _fibonacci_sphere(c * k)  # centre i -> class i % C, mode i // C
        centres = lattice.reshape(k, c, 3).transpose(1, 0, 2)
    return torch.as_tensor(centres, dtype=torch.float32)


def _sample_around(centres: torch.Tensor, samples_per_mode: int, noise: float, generator) -> torch.Tensor:
    """Unit vectors scattered around each centre: Gaussian noise of std ``noise`` in the tangent directions."""
    c, k, dim = centres.shape
    base = centres[:, :, None, :].expand(c, k, samples_per_mode, dim)
    if dim == 2:
        angle = torch.atan2(base[..., 1], base[..., 0])
        angle = angle + noise * torch.randn(angle.shape, generator=generator)
        points = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    else:
        offset = noise * torch.randn(base.shape, generator=generator)
        offset = offset - (offset * base).sum(-1, keepdim=True) * base  # tangent part only
        points = F.normalize(base + offset, dim=-1)
    return points


def _multimodal(num_classes, modes_per_class, samples_per_mode, noise, seed, dim, return_modes):
    _check_int("samples_per_mode", samples_per_mode, 1, "points drawn around each mode")
    noise = _check_float("noise", noise, 0.0, "the spread of each cluster, in radians")
    centres = mode_centres(num_classes, modes_per_class, dim)
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
    num_classes: int,
    proxies_per_class: int,
    dim: int = 2,
    modes_per_class: int | None = None,
    jitter: float = 0.2,
    seed: int = 0,
) -> torch.Tensor:
    """A unit-norm proxy matrix ``P`` of shape ``(C*N, dim)``, class-contiguous rows.

    Row ``j`` belongs to class ``j // N`` (:func:`~proxygml_lite.steps.proxy_labels`).

    * ``modes_per_class=K``: proxy ``n`` of class ``c`` sits near mode
      ``n mod K`` of that class (see :func:`mode_centres`), moved by Gaussian
      noise of std ``jitter`` (radians): roughly where training would put it.
    * ``modes_per_class=None``: uniformly random directions, like proxies at
      initialisation (then ``jitter`` is unused).
    """
    c = _check_int("num_classes", num_classes, 1, "C, the number of classes")
    n = _check_int("proxies_per_class", proxies_per_class, 1, "N, proxies per class")
    dim = _check_dim(dim)
    jitter = _check_float("jitter", jitter, 0.0, "the proxies' spread around the modes, in radians")
    generator = torch.Generator().manual_seed(int(seed))
    if modes_per_class is None:
        return F.normalize(torch.randn(c * n, dim, generator=generator), dim=1)
    centres = mode_centres(c, modes_per_class, dim)  # (C, K, dim)
    k = centres.shape[1]
    chosen = centres[:, torch.arange(n) % k, :]  # (C, N, dim)
    proxies = _sample_around(chosen.reshape(c * n, 1, dim), 1, jitter, generator)
    return proxies.reshape(c * n, dim).contiguous()


# --------------------------------------------------------------------------- #
# Input-space data for notebook 5
# --------------------------------------------------------------------------- #


def multimodal_blobs(
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
    c = _check_int("num_classes", num_classes, 2, "C, the number of classes")
    k = _check_int("modes_per_class", modes_per_class, 1, "K, the blobs of each class")
    n = _check_int("samples_per_mode", samples_per_mode, 1, "points drawn from each blob")
    spread = _check_float("spread", spread, 0.0, "the std of each blob")
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


def train_test_split(inputs: torch.Tensor, labels: torch.Tensor, test_fraction: float = 0.5, seed: int = 0):
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


# --------------------------------------------------------------------------- #
# Classic label propagation (for the contrast in notebook 3)
# --------------------------------------------------------------------------- #


def label_propagation(
    points: torch.Tensor,
    labels: torch.Tensor,
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
        ``F``, ``(n, num_classes)``: the propagated class scores (``argmax`` = prediction).
    """
    n = len(points)
    if labelled.dtype != torch.bool or labelled.shape != (n,):
        raise ValueError(f"labelled must be a boolean tensor of shape ({n},), true for the known labels")
    if not labelled.any():
        raise ValueError("labelled marks no point; label at least one point per class")
    k = _check_int("num_neighbours", num_neighbours, 1, "edges per point of the k-NN graph")
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
    for _ in range(_check_int("iterations", iterations, 1, "propagation steps")):
        scores = alpha * affinity @ scores + (1 - alpha) * known
    return scores


# --------------------------------------------------------------------------- #
# Gradients of the ProxyGML loss on a toy configuration (notebook 4)
# --------------------------------------------------------------------------- #


@dataclass
class ToyGradients:
    """Loss terms and their negative gradients (descent directions) on the circle/sphere.

    ``points_s = -dL^s/dX``, ``proxies_s = -dL^s/dP`` and
    ``proxies_p = -lambda dL^p/dP`` (``L^p`` does not depend on ``X``), each
    projected on the tangent space at its point, which is what the
    L2-normalisation of the embeddings and proxies lets through.
    """

    loss_s: float
    loss_p: float
    weight_lambda: float
    k: int
    points_s: torch.Tensor
    proxies_s: torch.Tensor
    proxies_p: torch.Tensor

    @property
    def loss(self) -> float:
        """``L = L^s + lambda L^p``."""
        return self.loss_s + self.weight_lambda * self.loss_p


def _tangent(vectors: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    unit = F.normalize(at, dim=1)
    return vectors - (vectors * unit).sum(1, keepdim=True) * unit


def loss_gradients(
    points: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    num_classes: int,
    proxies_per_class: int,
    r: float = 0.3,
    weight_lambda: float = 0.3,
    positive_mask: bool = True,
    mask_softmax: bool = True,
) -> ToyGradients:
    """``-dL^s/dX``, ``-dL^s/dP`` and ``-lambda dL^p/dP`` by autograd through ProxyGMLLoss.

    ``L^s`` is computed by :class:`~proxygml_lite.loss.ProxyGMLLoss` (with
    ``weight_lambda=0`` so that it returns ``L^s`` alone) whose proxies are set
    to ``proxies``; ``L^p`` by :func:`~proxygml_lite.steps.proxy_regulariser`,
    the very function ProxyGMLLoss calls. The k <= N warning of ProxyGMLLoss is
    silenced here; check ``.k`` against ``N`` instead.
    """
    points = points.detach().float()
    proxies = proxies.detach().float()
    loss_fn = ProxyGMLLoss(
        num_classes, proxies_per_class, points.shape[1], r=r, weight_lambda=0.0,
        positive_mask=positive_mask, mask_softmax=mask_softmax,
    )
    weight_lambda = _check_float("weight_lambda", weight_lambda, 0.0, "lambda, the weight of L^p")
    if proxies.shape != loss_fn.proxies.shape:
        raise ValueError(
            f"proxies must have shape (C*N, d) = {tuple(loss_fn.proxies.shape)} for C={num_classes}, "
            f"N={proxies_per_class}; got {tuple(proxies.shape)}"
        )
    with torch.no_grad():
        loss_fn.proxies.copy_(proxies)
    x = points.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        loss_s = loss_fn(x, labels)
    loss_s.backward()
    p = proxies.clone().requires_grad_(True)
    loss_p = steps.proxy_regulariser(p, num_classes, proxies_per_class)
    (weight_lambda * loss_p).backward()
    return ToyGradients(
        loss_s=float(loss_s.detach()),
        loss_p=float(loss_p.detach()),
        weight_lambda=weight_lambda,
        k=loss_fn.k,
        points_s=_tangent(-x.grad, points),
        proxies_s=_tangent(-loss_fn.proxies.grad, proxies),
        proxies_p=_tangent(-p.grad, proxies),
    )


# --------------------------------------------------------------------------- #
# Tiny embedding and training loop (notebook 5)
# --------------------------------------------------------------------------- #


class TinyEmbedding(nn.Module):
    """A small MLP ``R^in -> R^d`` whose outputs are L2-normalised (points on the circle/sphere).

    ``depth`` hidden layers of ``hidden`` ReLU units; the inputs are
    standardised with the ``mean``/``std`` given at construction (buffers).
    """

    def __init__(self, in_dim: int = 2, embedding_dim: int = 2, hidden: int = 32, depth: int = 2, mean=None, std=None):
        super().__init__()
        in_dim = _check_int("in_dim", in_dim, 1, "the input dimension")
        embedding_dim = _check_int("embedding_dim", embedding_dim, 1, "d, the embedding dimension")
        hidden = _check_int("hidden", hidden, 1, "units per hidden layer")
        depth = _check_int("depth", depth, 0, "hidden layers; 0 gives a linear map")
        layers, width = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, embedding_dim))
        self.net = nn.Sequential(*layers)
        self.register_buffer("mean", torch.zeros(in_dim) if mean is None else torch.as_tensor(mean).float())
        self.register_buffer("std", torch.ones(in_dim) if std is None else torch.as_tensor(std).float())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net((inputs - self.mean) / self.std), dim=1)


@dataclass
class Snapshot:
    """The state at one training step: ``embeddings`` of the snapshot inputs and normalised ``proxies``."""

    step: int
    embeddings: np.ndarray
    proxies: np.ndarray
    proxy_labels: np.ndarray


@dataclass
class ToyHistory:
    """What :func:`train_toy_embedding` records.

    Attributes:
        name: a label for plots (e.g. ``"ProxyGML N=3"``).
        loss_name, proxies_per_class, r, weight_lambda: the settings.
        steps, loss, loss_s, loss_p: per step (``loss_s``/``loss_p`` are ``nan``
            for the baselines, which have no such terms).
        eval_steps, recall_at_1: Recall@1 on the evaluation set, when given.
        snapshots: :class:`Snapshot` list, including step 0 and the last step.
        final_recall: ``{K: Recall@K}`` on the evaluation set after training.
        model, loss_fn: the trained modules.
    """

    name: str
    loss_name: str
    proxies_per_class: int
    r: float
    weight_lambda: float
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    loss_s: list[float] = field(default_factory=list)
    loss_p: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    recall_at_1: list[float] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    final_recall: dict[int, float] = field(default_factory=dict)
    model: nn.Module | None = None
    loss_fn: nn.Module | None = None


def _build_loss(loss, num_classes, proxies_per_class, embedding_dim, r, weight_lambda):
    if isinstance(loss, nn.Module):
        return loss
    if loss not in LOSSES:
        raise ValueError(
            f"loss must be one of {LOSSES.choices()} (a registered loss whose module holds .proxies) or an "
            f"nn.Module holding .proxies; got {loss!r}"
        )
    from .baselines import build_loss

    # the registry says which of these settings the loss takes (ProxyGML: N, r, lambda)
    settings = {"N": proxies_per_class, "r": r, "weight_lambda": weight_lambda}
    return build_loss(loss, num_classes, embedding_dim, settings=settings)


def _proxy_state(loss_fn: nn.Module, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    proxies = loss_fn.proxies.detach()
    per_class = proxies.shape[0] // num_classes
    labels = steps.proxy_labels(num_classes, per_class)
    return F.normalize(proxies, dim=1).cpu().numpy(), labels.numpy()


def _recall(model, inputs, labels, ks) -> dict[int, float]:
    from .evaluation import recall_at_k

    with torch.no_grad():
        embeddings = model(inputs)
    return recall_at_k(embeddings.cpu(), labels.cpu(), ks=ks, backend="torch")


def train_step(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               labels: torch.Tensor) -> torch.Tensor:
    """One training step: embed the batch, compute the loss, backpropagate, update. Returns the detached loss."""
    loss = loss_fn(model(inputs), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_toy_embedding(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    loss: str | nn.Module = "proxygml",
    proxies_per_class: int = 1,
    embedding_dim: int = 2,
    r: float = 0.4,
    weight_lambda: float = 0.3,
    hidden: int = 16,
    depth: int = 2,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    proxy_lr: float | None = None,
    num_snapshots: int = 6,
    eval_inputs: torch.Tensor | None = None,
    eval_labels: torch.Tensor | None = None,
    eval_every: int = 25,
    recall_ks=(1, 2),
    seed: int = 0,
    device: str | torch.device = "cpu",
    name: str | None = None,
    num_threads: int | None = 1,
) -> ToyHistory:
    """Train a :class:`TinyEmbedding` with a proxy loss by Adam on random mini-batches.

    The loss is ``"proxygml"`` (:class:`~proxygml_lite.loss.ProxyGMLLoss` with
    ``N = proxies_per_class``, ``r``, ``lambda = weight_lambda``), or one of the
    one-proxy-per-class baselines of pytorch-metric-learning with their default
    settings: ``"proxynca"`` (``ProxyNCALoss``) or ``"proxyanchor"``
    (``ProxyAnchorLoss``, margin 0.1, alpha 32); or any ``nn.Module`` with a
    ``.proxies`` parameter called as ``loss_fn(embeddings, labels)``. The model
    and the loss's proxies are trained by the same loop: Adam with ``lr`` for
    the model and ``proxy_lr`` (default ``lr``) for the proxies, ``steps``
    mini-batches of ``batch_size`` drawn without replacement within a batch.

    ``num_snapshots`` evenly spaced :class:`Snapshot` s (of the embeddings of
    ``inputs`` and of the proxies) are recorded, from step 0 to the last.
    With ``eval_inputs``/``eval_labels``, Recall@1 on them is logged every
    ``eval_every`` steps and ``final_recall`` holds Recall@K for ``recall_ks``.

    ``num_threads`` CPU threads are used while training (restored afterwards):
    the matrices are so small that one thread is fastest, several times faster
    than the default on a busy machine. ``None`` leaves PyTorch's setting alone.
    """
    if num_threads is None:
        return _train(**locals())
    previous = torch.get_num_threads()
    torch.set_num_threads(_check_int("num_threads", num_threads, 1, "CPU threads while training"))
    try:
        return _train(**locals())
    finally:
        torch.set_num_threads(previous)


def _train(inputs, labels, num_classes, loss, proxies_per_class, embedding_dim, r, weight_lambda, hidden, depth, steps,
           batch_size, lr, proxy_lr, num_snapshots, eval_inputs, eval_labels, eval_every, recall_ks, seed, device, name,
           **_unused) -> ToyHistory:
    num_classes = _check_int("num_classes", num_classes, 2, "C, the number of classes")
    steps_total = _check_int("steps", steps, 1, "training steps")
    batch_size = _check_int("batch_size", batch_size, 2, "samples per mini-batch")
    num_snapshots = _check_int("num_snapshots", num_snapshots, 1, "recorded states")
    eval_every = _check_int("eval_every", eval_every, 1, "steps between evaluations")
    lr = _check_float("lr", lr, 0.0, "the learning rate of the model")
    proxy_lr = lr if proxy_lr is None else _check_float("proxy_lr", proxy_lr, 0.0, "the learning rate of the proxies")
    if (eval_inputs is None) != (eval_labels is None):
        raise ValueError("give both eval_inputs and eval_labels, or neither")
    if len(inputs) != len(labels):
        raise ValueError(f"inputs has {len(inputs)} rows but labels has {len(labels)}; they must match")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); map the classes to 0..C-1")

    torch.manual_seed(seed)
    device = torch.device(device)
    inputs, labels = inputs.float().to(device), labels.long().to(device)
    model = TinyEmbedding(inputs.shape[1], embedding_dim, hidden, depth, inputs.mean(0), inputs.std(0)).to(device)
    loss_fn = _build_loss(loss, num_classes, proxies_per_class, embedding_dim, r, weight_lambda).to(device)
    if not isinstance(getattr(loss_fn, "proxies", None), torch.Tensor):
        raise ValueError("the loss module must hold its proxies in a .proxies parameter")
    optimizer = torch.optim.Adam(
        [{"params": model.parameters(), "lr": lr}, {"params": loss_fn.parameters(), "lr": proxy_lr}]
    )
    if eval_inputs is not None:
        eval_inputs, eval_labels = eval_inputs.float().to(device), eval_labels.long().to(device)
    loss_name = loss if isinstance(loss, str) else type(loss).__name__
    history = ToyHistory(
        name=name or (f"ProxyGML N={proxies_per_class}" if loss_name == "proxygml" else loss_name),
        loss_name=loss_name,
        proxies_per_class=proxies_per_class if loss_name == "proxygml" else 1,
        r=r,
        weight_lambda=weight_lambda,
        model=model,
        loss_fn=loss_fn,
    )
    snapshot_steps = set(np.linspace(0, steps_total, num_snapshots).round().astype(int).tolist())
    generator = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(inputs))

    def record(step: int) -> None:
        if step in snapshot_steps:
            with torch.no_grad():
                embeddings = model(inputs).cpu().numpy()
            proxies, proxy_labels = _proxy_state(loss_fn, num_classes)
            history.snapshots.append(Snapshot(step, embeddings, proxies, proxy_labels))
        if eval_inputs is not None and (step % eval_every == 0 or step == steps_total):
            history.eval_steps.append(step)
            history.recall_at_1.append(_recall(model, eval_inputs, eval_labels, (1,))[1])

    record(0)
    for step in range(1, steps_total + 1):
        batch = torch.randperm(len(inputs), generator=generator)[:batch_size].to(device)
        value = train_step(model, loss_fn, optimizer, inputs[batch], labels[batch])
        history.steps.append(step)
        history.loss.append(float(value))
        terms = loss_fn.terms() if callable(getattr(loss_fn, "terms", None)) else {}
        history.loss_s.append(float(terms["loss_s"]) if "loss_s" in terms else math.nan)
        history.loss_p.append(float(terms["loss_p"]) if "loss_p" in terms else math.nan)
        record(step)
    if eval_inputs is not None:
        history.final_recall = _recall(model, eval_inputs, eval_labels, tuple(recall_ks))
    return history
