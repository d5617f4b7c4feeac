"""The steps of ProxyGML, one function each, in the paper's notation.

`ProxyGMLLoss` (in :mod:`proxygml_lite.loss`) is nothing but the composition of
these functions, and the notebooks teach them one by one, so a reader who has
worked through the notebooks has read the training code.

Notation (Zhu et al., NeurIPS 2020):

* ``B`` samples with embeddings ``X`` (rows L2-normalised) and labels ``y^s``.
* ``C`` classes, ``N`` proxies per class, ``C*N`` proxies in total. Proxy ``j``
  belongs to class ``y^p_j = j // N``: rows ``c*N .. c*N+N-1`` of the proxy
  matrix belong to class ``c``. ``Y^p`` is the (never materialised) one-hot
  matrix of the proxy labels, shape ``(C*N, C)``.
* ``S = X P^T``: the similarity graph between samples and proxies, ``(B, C*N)``.
* ``S^pos``: the positive mask, ``S^pos_ij = 1`` iff ``y^s_i = y^p_j``.
* ``k = ceil(r * C * N)``: the size of each sample's subgraph.
* ``W``: ``S`` on the ``k`` largest entries of each row of ``S + 1000 S^pos``,
  zero elsewhere (the sparse neighbour matrix).
* ``Z = W Y^p``: reverse label propagation, ``(B, C)``.
* ``M = [Z != 0]``: the mask of classes that appear in the subgraph.
* ``P = M exp(Z) / (1e-8 + sum_j M exp(Z))``: mask softmax.
* ``L^s``: classification loss of the samples; ``L^p``: proxy regulariser;
  ``L = L^s + lambda L^p``.

The constants ``1000`` (positive-mask bias), ``1e-8`` (mask-softmax
denominator) and ``1e-20`` (inside the log) are those of the official code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "POSITIVE_BIAS",
    "SOFTMAX_EPS",
    "LOG_EPS",
    "proxy_labels",
    "normalize_proxies",
    "similarity_graph",
    "positive_mask",
    "subgraph_size",
    "Subgraph",
    "select_subgraph",
    "reverse_label_propagation",
    "class_mask",
    "mask_softmax",
    "mask_log_normalizer",
    "mask_softmax_log_prob",
    "classification_loss",
    "proxy_regulariser",
]

#: Added to S on the positive entries before the top-k ("1000*" in the official code).
POSITIVE_BIAS = 1000.0
#: Added to the mask-softmax denominator in the official code.
SOFTMAX_EPS = 1e-8
#: Added to P[y] inside the log in the official code.
LOG_EPS = 1e-20


def proxy_labels(num_classes: int, proxies_per_class: int, device=None) -> torch.Tensor:
    """Labels ``y^p`` of the ``C*N`` proxies: ``[0]*N + [1]*N + ... + [C-1]*N``.

    Proxy ``j`` belongs to class ``j // N``; this is the row of ``Y^p`` that is 1.
    """
    return torch.arange(num_classes, device=device).repeat_interleave(proxies_per_class)


def normalize_proxies(proxies: torch.Tensor) -> torch.Tensor:
    """L2-normalise each proxy (row) of the ``(C*N, d)`` proxy matrix.

    The official code normalises the learnable proxies on every forward pass,
    so ``S`` holds cosine similarities.
    """
    return F.normalize(proxies, p=2, dim=1)


class _CosineSimilarity(torch.autograd.Function):
    """``S = (X P^T) / ||p_j||`` with a hand-written backward.

    Backward, with ``G = dL/dS`` and ``G' = G / ||p_j||`` column-wise:
    ``dL/dX = G' P`` and ``dL/dp_j = (G'^T X)_j - p_j (sum_i G_ij S_ij) / ||p_j||^2``.
    Two matmuls and one fused pass over the ``(C*N, d)`` proxies, instead of
    the several elementwise passes autograd makes through ``F.normalize``.
    """

    @staticmethod
    def forward(ctx, embeddings, proxies):
        norms = proxies.norm(p=2, dim=1)
        inverse_norms = norms.clamp_min(1e-12).reciprocal()
        similarity = (embeddings @ proxies.t()).mul_(inverse_norms)
        ctx.save_for_backward(embeddings, proxies, inverse_norms, similarity, norms > 1e-12)
        return similarity

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_similarity):
        embeddings, proxies, inverse_norms, similarity, unclamped = ctx.saved_tensors
        scaled = grad_similarity * inverse_norms
        grad_embeddings = grad_proxies = None
        if ctx.needs_input_grad[0]:
            grad_embeddings = scaled @ proxies
        if ctx.needs_input_grad[1]:
            grad_proxies = scaled.t() @ embeddings
            # Norm term; F.normalize's clamp makes it vanish for (near-)zero proxies.
            radial = (grad_similarity * similarity).sum(dim=0) * inverse_norms.square() * unclamped
            grad_proxies.addcmul_(proxies, radial.unsqueeze(1), value=-1.0)
        return grad_embeddings, grad_proxies


def similarity_graph(embeddings: torch.Tensor, proxies: torch.Tensor) -> torch.Tensor:
    """The similarity graph ``S = X P^T`` between samples and proxies.

    Args:
        embeddings: ``X``, shape ``(B, d)``, rows already L2-normalised.
        proxies: the raw (unnormalised) proxy matrix, shape ``(C*N, d)``;
            each proxy is L2-normalised (as :func:`normalize_proxies` does).

    Returns:
        ``S``, shape ``(B, C*N)``: ``S_ij = x_i^T p_j / ||p_j||``, a cosine similarity.

    The normalisation is applied to the columns of ``X P_raw^T`` rather than
    to the ``(C*N, d)`` proxy matrix, with a hand-written backward: the same
    values and gradients up to float rounding, but the big proxy matrix is
    touched far fewer times (it matters at Stanford Online Products' 11,318
    proxies). It supports first-order gradients (not double backward).
    """
    return _CosineSimilarity.apply(embeddings, proxies)


def positive_mask(labels: torch.Tensor, num_classes: int, proxies_per_class: int) -> torch.Tensor:
    """The positive mask ``S^pos``: ``S^pos_ij = 1`` iff sample i and proxy j share a class.

    Returns a boolean tensor of shape ``(B, C*N)``; row ``i`` is true exactly on
    the ``N`` contiguous columns ``y_i*N .. y_i*N+N-1``.
    """
    return labels.view(-1, 1) == proxy_labels(num_classes, proxies_per_class, labels.device).view(1, -1)


def subgraph_size(r: float, num_classes: int, proxies_per_class: int) -> int:
    """``k = ceil(r * C * N)``, the number of proxies in each sample's subgraph.

    Evaluated as ``math.ceil(r * C * N)`` left to right, exactly like the
    official code, so floating-point rounding picks the same ``k``
    (``0.05 * 98 * 12`` is ``58.800000000000004``, hence ``k = 59``).
    """
    return math.ceil(r * num_classes * proxies_per_class)


@dataclass
class Subgraph:
    """The k-NN subgraph of every sample: the sparse neighbour matrix ``W``.

    Attributes:
        indices: ``(B, k)`` long, the proxies kept for each sample (the set ``I``).
        weights: ``(B, k)``, ``S`` at those proxies (differentiable).
        num_proxies: ``C*N``, the number of columns of the dense ``W``.
    """

    indices: torch.Tensor
    weights: torch.Tensor
    num_proxies: int

    def to_dense(self) -> torch.Tensor:
        """``W`` as a dense ``(B, C*N)`` matrix: ``S`` on the kept entries, 0 elsewhere."""
        dense = self.weights.new_zeros(self.weights.shape[0], self.num_proxies)
        return dense.scatter(1, self.indices, self.weights)


def select_subgraph(
    similarity: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    proxies_per_class: int,
    k: int,
    use_positive_mask: bool = True,
) -> Subgraph:
    """Relation-guided subgraph construction.

    Keeps, for each sample, the indices of the ``k`` largest entries of
    ``S + 1000 S^pos`` (or of ``S`` alone when ``use_positive_mask`` is false,
    row 1/3/4/5 of the paper's ablation). With the mask and ``k >= N`` all
    ``N`` own-class proxies are always kept, and the other ``k - N`` places go
    to the most similar proxies of other classes. ``W = S`` on the kept entries.

    The ranking is computed without gradient; the weights ``W`` are gathered
    from ``S`` and carry its gradient.
    """
    with torch.no_grad():
        ranking = similarity
        if use_positive_mask:
            s_pos = positive_mask(labels, num_classes, proxies_per_class)
            # Same float values as the official `S + 1000 * S_pos`.
            ranking = torch.where(s_pos, similarity + POSITIVE_BIAS, similarity)
        indices = ranking.topk(k, dim=1).indices
    return Subgraph(indices=indices, weights=similarity.gather(1, indices), num_proxies=similarity.shape[1])


def reverse_label_propagation(subgraph: Subgraph, num_classes: int, proxies_per_class: int) -> torch.Tensor:
    """Reverse label propagation ``Z = W Y^p``.

    ``Z_ic`` is the sum of the similarities of sample ``i`` to the proxies of
    class ``c`` that are in its subgraph: the proxies "vote" for their classes.
    It can be negative, and it is exactly 0 for classes absent from the subgraph.

    Computed as a scatter-add of the ``k`` kept weights into their classes
    (``class = proxy index // N``), never forming the ``(C*N, C)`` one-hot ``Y^p``.
    """
    classes = torch.div(subgraph.indices, proxies_per_class, rounding_mode="floor")
    z = subgraph.weights.new_zeros(subgraph.weights.shape[0], num_classes)
    return z.scatter_add(1, classes, subgraph.weights)


def class_mask(z: torch.Tensor) -> torch.Tensor:
    """``M = [Z != 0]``: the classes present in each sample's subgraph (boolean, ``(B, C)``)."""
    return z != 0


def mask_softmax(z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The mask softmax ``P = M exp(Z) / (1e-8 + sum_j M_j exp(Z_j))``, literally.

    This is the official formula, for reading and plotting. The loss uses
    :func:`mask_softmax_log_prob`, the same quantity computed stably in log space.
    """
    if mask is None:
        mask = class_mask(z)
    masked_exp = torch.exp(z) * mask.to(z.dtype)
    return masked_exp / (SOFTMAX_EPS + masked_exp.sum(dim=1, keepdim=True))


def mask_log_normalizer(z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``log(1e-8 + sum_j M_j exp(Z_j))`` per sample, shape ``(B, 1)``, by a masked log-sum-exp.

    Written as ``m + log(1e-8 exp(-m) + sum_j M_j exp(Z_j - m))`` with ``m`` the
    largest unmasked ``Z`` of the row (0 when no class is present), so it
    neither overflows for large ``Z`` nor changes the official value.
    """
    masked_z = z.masked_fill(~mask, torch.finfo(z.dtype).min)
    row_max = masked_z.amax(dim=1, keepdim=True).detach()
    row_max = torch.where(mask.any(dim=1, keepdim=True), row_max, torch.zeros_like(row_max))
    shifted_sum = torch.exp(masked_z - row_max).masked_fill(~mask, 0.0).sum(dim=1, keepdim=True)
    return row_max + torch.log(SOFTMAX_EPS * torch.exp(-row_max) + shifted_sum)


def _log_prob_plus_eps(z: torch.Tensor, mask: torch.Tensor, log_normalizer: torch.Tensor) -> torch.Tensor:
    """``log(P + 1e-20) = logaddexp(log P, log 1e-20)``, with ``log P = -inf`` where ``M = 0``."""
    log_p = torch.where(mask, z - log_normalizer, torch.full_like(z, -math.inf))
    return torch.logaddexp(log_p, torch.full_like(log_p, math.log(LOG_EPS)))


def mask_softmax_log_prob(z: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``log(P + 1e-20)`` for the mask softmax ``P``, computed stably.

    Exactly the official ``log(M exp(Z) / (1e-8 + sum M exp(Z)) + 1e-20)``, but
    with a masked log-sum-exp (:func:`mask_log_normalizer`), so it neither
    overflows for large ``Z`` nor turns into ``log(0)`` for excluded classes
    (those get ``log(1e-20)``, with zero gradient, as in the official code).

    Returns a ``(B, C)`` tensor.
    """
    if mask is None:
        mask = class_mask(z)
    return _log_prob_plus_eps(z, mask, mask_log_normalizer(z, mask))


def classification_loss(z: torch.Tensor, labels: torch.Tensor, use_mask_softmax: bool = True) -> torch.Tensor:
    """The sample loss ``L^s = -1/B sum_i log P(y_i | x_i)``.

    With ``use_mask_softmax`` (the paper), ``P`` is the mask softmax over the
    classes present in the subgraph and the official epsilons are kept:
    ``-log(P[y] + 1e-20)``. Without it (ablation rows 1, 2, 4 and 6), ``P`` is a
    plain softmax over all ``C`` classes of ``Z``: ``cross_entropy(Z, y)``.
    """
    if not use_mask_softmax:
        return F.cross_entropy(z, labels)
    mask = class_mask(z)
    index = labels.view(-1, 1)
    # Only the label's column of log(P + 1e-20) is needed: (B, 1) instead of (B, C).
    log_p_label = _log_prob_plus_eps(z.gather(1, index), mask.gather(1, index), mask_log_normalizer(z, mask))
    return -log_p_label.mean()


def proxy_regulariser(proxies: torch.Tensor, num_classes: int, proxies_per_class: int) -> torch.Tensor:
    """The proxy regulariser ``L^p``: classify every proxy by its class's proxies.

    ``L^p = cross_entropy((P P^T) Y^p, y^p)`` over all ``C*N`` proxies, with a
    plain softmax and the self-similarity included, as in the official code.
    ``(P P^T) Y^p`` is computed as ``P Q^T`` where ``Q_c = sum of the N
    normalised proxies of class c`` (``(C, d)``), so neither ``P P^T`` nor
    ``Y^p`` is formed.

    Args:
        proxies: the raw ``(C*N, d)`` proxy matrix (normalised here).
    """
    normalized = normalize_proxies(proxies)
    class_sums = normalized.view(num_classes, proxies_per_class, -1).sum(dim=1)
    logits = normalized @ class_sums.t()
    return F.cross_entropy(logits, proxy_labels(num_classes, proxies_per_class, proxies.device))
