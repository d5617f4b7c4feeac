"""Gradients of the ProxyGML loss on a toy configuration (notebook 4)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import steps
from ..checks import check_number
from ..loss import ProxyGMLLoss

__all__ = ["ToyGradients", "loss_gradients"]


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
    *,
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
        num_classes,
        proxies_per_class,
        points.shape[1],
        r=r,
        weight_lambda=0.0,
        positive_mask=positive_mask,
        mask_softmax=mask_softmax,
    )
    weight_lambda = check_number("weight_lambda", weight_lambda, 0.0, "lambda, the weight of L^p")
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
