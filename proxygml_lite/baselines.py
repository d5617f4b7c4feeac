"""Loss factory: ProxyGML and the proxy-based baselines, behind one interface.

:func:`build_loss` returns an ``nn.Module`` ``loss_fn(embeddings, labels) ->
scalar`` whose parameters (proxies / class weights) the trainer puts into the
proxy learning-rate group (``--centerlr``), exactly like ProxyGML's proxies. So
a comparison run differs from a ProxyGML run only in the loss.

Baselines come from pytorch-metric-learning (``pytorch_metric_learning.losses``),
with the library's defaults, which are those of the methods' papers:

=============  ==========================================  =============================================
name           pml class                                   defaults (``loss_kwargs`` overrides them)
=============  ==========================================  =============================================
proxynca       ``ProxyNCALoss`` (Movshovitz-Attias et al.,  1 proxy per class, ``softmax_scale=1``,
               ICCV 2017)                                  Euclidean distance of normalised vectors
proxyanchor    ``ProxyAnchorLoss`` (Kim et al., CVPR 2020) 1 proxy per class, ``margin=0.1``, ``alpha=32``
softtriple     ``SoftTripleLoss`` (Qian et al., ICCV 2019) ``centers_per_class=10``, ``la=20``,
                                                           ``gamma=0.1``, ``margin=0.01``
normsoftmax    ``NormalizedSoftmaxLoss`` (Zhai & Wu,       ``temperature=0.05``
               BMVC 2019)
=============  ==========================================  =============================================

All of them are computed in float32 (also under autocast), like ProxyGML.
Note that the original papers tune their proxy learning rates differently
(e.g. Proxy-Anchor uses 100x the model lr for the proxies); here every loss
shares ``--centerlr`` unless you pass a different one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import loss as _proxygml_loss  # noqa: F401  ProxyGML registers first, whichever module is imported first
from .checks import check_int
from .registry import LOSS_CONTRACT, LOSSES, LossContractError, register_loss

__all__ = ["BASELINE_DEFAULTS", "MetricLossAdapter", "build_loss"]

#: pytorch-metric-learning class and default keyword arguments of each baseline (registered below).
BASELINE_DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "proxynca": ("ProxyNCALoss", {"softmax_scale": 1}),
    "proxyanchor": ("ProxyAnchorLoss", {"margin": 0.1, "alpha": 32}),
    "softtriple": ("SoftTripleLoss", {"centers_per_class": 10, "la": 20, "gamma": 0.1, "margin": 0.01}),
    "normsoftmax": ("NormalizedSoftmaxLoss", {"temperature": 0.05}),
}


class MetricLossAdapter(nn.Module):
    """Wraps a pytorch-metric-learning loss as ``loss_fn(embeddings, labels)`` (the loss contract).

    It has no :meth:`terms` (the baselines have no ``L^s``/``L^p``).
    ``proxies`` is the wrapped loss's proxy matrix
    ``(C, d)`` where it has one (ProxyNCA, Proxy-Anchor). ``validate``: check
    the label range on every call (a device-to-host synchronisation; the
    trainer turns it off).
    """

    def __init__(self, name: str, loss: nn.Module, num_classes: int, embedding_dim: int) -> None:
        super().__init__()
        self.name = name
        self.loss = loss
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.validate = True

    @property
    def proxies(self) -> torch.Tensor | None:
        return getattr(self.loss, "proxies", None)

    def extra_repr(self) -> str:
        return f"name={self.name}, C={self.num_classes}, d={self.embedding_dim}"

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have shape (B, {self.embedding_dim}); got {tuple(embeddings.shape)}")
        if self.validate and labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}); got [{int(labels.min())}, {int(labels.max())}]. "
                "Map the training classes to 0..C-1 (and check num_classes)."
            )
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            value = self.loss(embeddings.float(), labels)
        return value


def _pml_factory(name: str):
    class_name, defaults = BASELINE_DEFAULTS[name]

    def build(num_classes: int, embedding_dim: int, **kwargs: Any) -> MetricLossAdapter:
        check_int("num_classes", num_classes, 2, "C, the number of training classes")
        check_int("embedding_dim", embedding_dim, 1, "d")
        from pytorch_metric_learning import losses as pml_losses

        options = {**defaults, **kwargs}
        try:
            loss = getattr(pml_losses, class_name)(num_classes=num_classes, embedding_size=embedding_dim, **options)
        except TypeError as exc:
            raise ValueError(
                f"bad keyword arguments for {name} ({class_name}): {exc}; valid ones are those of "
                f"pytorch_metric_learning.losses.{class_name} (defaults here: {defaults})"
            ) from None
        return MetricLossAdapter(name, loss, num_classes, embedding_dim)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = (
        f"pytorch_metric_learning.losses.{class_name} with defaults {defaults}, as ``loss(embeddings, labels)``."
    )
    return build


for _name, (_class_name, _defaults) in BASELINE_DEFAULTS.items():
    register_loss(_name, _pml_factory(_name), description=f"pytorch-metric-learning {_class_name}")


def build_loss(name: str, num_classes: int, embedding_dim: int, **kwargs: Any) -> nn.Module:
    """The registered loss ``name`` for ``C = num_classes`` classes and ``d = embedding_dim``.

    Args:
        name: a name of :data:`proxygml_lite.registry.LOSSES`: ``"proxygml"``,
            the baselines ``"proxynca"``, ``"proxyanchor"``, ``"softtriple"``,
            ``"normsoftmax"``, or one you registered with
            :func:`~proxygml_lite.registry.register_loss`.
        num_classes: ``C``, the number of training classes.
        embedding_dim: ``d``.
        **kwargs: keyword arguments of the loss: for
            ``proxygml``: ``proxies_per_class`` (``N``, default 12), ``r``
            (0.05), ``weight_lambda`` (``lambda``, 0.3), ``positive_mask``,
            ``mask_softmax``, ``scale``; for a baseline: keyword arguments of
            its pytorch-metric-learning class (see :data:`BASELINE_DEFAULTS`).

    Returns:
        ``nn.Module`` called as ``loss_fn(embeddings, labels)`` (see the loss
        contract in :mod:`proxygml_lite.registry`).
    """
    entry = LOSSES.get(name)
    try:
        loss_fn = entry.factory(num_classes=num_classes, embedding_dim=embedding_dim, **kwargs)
    except (ValueError, TypeError) as exc:  # bad settings: the factory's own message, with the loss's name
        raise LossContractError(f"loss {entry.name!r}: {exc}") from None
    except Exception as exc:
        raise LossContractError(
            f"loss {entry.name!r}: its factory raised {type(exc).__name__}: {exc}; the loss contract: {LOSS_CONTRACT}"
        ) from None
    if not isinstance(loss_fn, nn.Module):
        raise LossContractError(
            f"loss {entry.name!r}: its factory returned a {type(loss_fn).__name__}, not an nn.Module; "
            f"the loss contract: {LOSS_CONTRACT}"
        )
    return loss_fn
