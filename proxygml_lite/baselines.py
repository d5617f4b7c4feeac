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

from .loss import ProxyGMLLoss

__all__ = ["LOSS_NAMES", "BASELINE_DEFAULTS", "MetricLossAdapter", "build_loss"]

LOSS_NAMES = ("proxygml", "proxynca", "proxyanchor", "softtriple", "normsoftmax")

#: pytorch-metric-learning class and default keyword arguments of each baseline.
BASELINE_DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "proxynca": ("ProxyNCALoss", {"softmax_scale": 1}),
    "proxyanchor": ("ProxyAnchorLoss", {"margin": 0.1, "alpha": 32}),
    "softtriple": ("SoftTripleLoss", {"centers_per_class": 10, "la": 20, "gamma": 0.1, "margin": 0.01}),
    "normsoftmax": ("NormalizedSoftmaxLoss", {"temperature": 0.05}),
}


class MetricLossAdapter(nn.Module):
    """Wraps a pytorch-metric-learning loss as ``loss_fn(embeddings, labels)``.

    Exposes ``loss_s`` (the loss value, detached) and ``loss_p`` (``nan``: the
    baselines have no proxy regulariser ``L^p``) like :class:`ProxyGMLLoss`,
    so the trainer logs every loss the same way.
    """

    def __init__(self, name: str, loss: nn.Module, num_classes: int, embedding_dim: int) -> None:
        super().__init__()
        self.name = name
        self.loss = loss
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.loss_s = torch.zeros(())
        self.loss_p = torch.full((), float("nan"))

    def extra_repr(self) -> str:
        return f"name={self.name}, C={self.num_classes}, d={self.embedding_dim}"

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"embeddings must have shape (B, {self.embedding_dim}); got {tuple(embeddings.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}); got [{int(labels.min())}, {int(labels.max())}]. "
                "Map the training classes to 0..C-1 (and check num_classes)."
            )
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            value = self.loss(embeddings.float(), labels)
        self.loss_s = value.detach()
        return value


def build_loss(name: str, num_classes: int, embedding_dim: int, **kwargs: Any) -> nn.Module:
    """The loss ``name`` for ``C = num_classes`` classes and ``d = embedding_dim``.

    Args:
        name: ``"proxygml"`` or one of the baselines ``"proxynca"``,
            ``"proxyanchor"``, ``"softtriple"``, ``"normsoftmax"``.
        num_classes: ``C``, the number of training classes.
        embedding_dim: ``d``.
        **kwargs: for ``proxygml``: ``proxies_per_class`` (``N``, default 12),
            ``r`` (0.05), ``weight_lambda`` (``lambda``, 0.3), ``positive_mask``,
            ``mask_softmax``; for a baseline: keyword arguments of its
            pytorch-metric-learning class (see :data:`BASELINE_DEFAULTS`).

    Returns:
        ``nn.Module`` called as ``loss_fn(embeddings, labels)``, with detached
        ``loss_s``/``loss_p`` attributes after each call.
    """
    if name == "proxygml":
        options = {"proxies_per_class": 12, "r": 0.05, "weight_lambda": 0.3, **kwargs}
        return ProxyGMLLoss(num_classes=num_classes, embedding_dim=embedding_dim, **options)
    if name not in BASELINE_DEFAULTS:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2 (C, the number of training classes); got {num_classes!r}")
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be an integer >= 1 (d); got {embedding_dim!r}")
    from pytorch_metric_learning import losses as pml_losses

    class_name, defaults = BASELINE_DEFAULTS[name]
    options = {**defaults, **kwargs}
    try:
        loss = getattr(pml_losses, class_name)(num_classes=num_classes, embedding_size=embedding_dim, **options)
    except TypeError as exc:
        raise ValueError(
            f"bad keyword arguments for {name} ({class_name}): {exc}; valid ones are those of "
            f"pytorch_metric_learning.losses.{class_name} (defaults here: {defaults})"
        ) from None
    return MetricLossAdapter(name, loss, num_classes, embedding_dim)
