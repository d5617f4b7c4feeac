"""`ProxyGMLLoss`: the ProxyGML objective ``L = L^s + lambda L^p`` as an ``nn.Module``."""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from . import steps
from .checks import check_in_range, check_int, check_number
from .registry import register_loss

__all__ = ["PROXY_INITS", "ProxyGMLLoss"]

#: ``ProxyGMLLoss(proxy_init=...)``: the official initialisation, or the same draw with every proxy at norm 1.
PROXY_INITS = ("official", "unit")


class ProxyGMLLoss(nn.Module):
    """Proxy-based deep Graph Metric Learning loss (Zhu et al., NeurIPS 2020).

    Holds ``C*N`` learnable proxies (``N`` per class) and, for a batch of
    L2-normalised embeddings ``X`` with labels ``y``, computes

    1. ``S = X P^T`` (:func:`~proxygml_lite.steps.similarity_graph`),
    2. the subgraph ``W``: top-``k`` of ``S + 1000 S^pos`` per sample,
       ``k = ceil(r C N)`` (:func:`~proxygml_lite.steps.select_subgraph`),
    3. ``Z = W Y^p`` (:func:`~proxygml_lite.steps.reverse_label_propagation`),
    4. ``L^s`` with the mask softmax (:func:`~proxygml_lite.steps.classification_loss`),
    5. ``L^p`` on the proxies (:func:`~proxygml_lite.steps.proxy_regulariser`),

    and returns ``L^s + lambda L^p``. The values and gradients match the
    official implementation (github.com/YuehuaZhu/ProxyGML, ``loss/ProxyGML.py``)
    to float32 rounding; it is computed without dense one-hot products and
    with a masked log-sum-exp, always in float32 (also under autocast).

    Args:
        num_classes: ``C``, the number of training classes (>= 2).
        proxies_per_class: ``N`` (>= 1). The paper uses 12 for CUB-200 and
            Cars196, 1 for Stanford Online Products.
        embedding_dim: ``d``, the embedding dimension.
        r: the subgraph scale, ``r in (0, 1]``; ``k = ceil(r C N)`` proxies are
            kept per sample. Needs ``k > N`` (``r > 1/C``) with the positive
            mask, or the subgraph holds only own-class proxies and ``L^s`` is 0.
        weight_lambda: ``lambda >= 0``, the weight of ``L^p``; 0 skips it.
        positive_mask: use ``S^pos`` when selecting the subgraph (on, as in
            the paper and the official code). Off: ``W`` keeps the top-``k``
            of ``S`` itself, without the ``+1000 S^pos`` bias, so a sample's
            own-class proxies enter its subgraph only if they are among its
            ``k`` most similar.
        mask_softmax: use the mask softmax ``M`` (on, as in the paper and the
            official code). Off: ``L^s`` is a plain softmax cross-entropy over
            all ``C`` classes of ``Z`` (``F.cross_entropy(Z, y)``), so classes
            outside the subgraph (``Z = 0``) are not masked out.
        scale: temperature multiplying ``Z`` before the (mask) softmax of
            ``L^s``; ``None`` (default) = 1, the official behaviour. The
            official code carries the line ``scale = 1.0 if dataset !=
            "online_products" else 20.0`` commented out in its
            ``scale_mask_softmax``, i.e. it was tried for SOP but not used;
            ``scale=20.0`` reproduces that variant. The mask ``M`` is taken
            from ``Z`` before scaling, as there. ``L^p`` is not scaled.
        validate: check the input values on every call (labels in
            ``0..C-1``, no NaN/Inf in the embeddings or the proxies). Each of
            these checks waits for the device (a device-to-host
            synchronisation), so the trainer turns it off (it checks the
            labels once, before training); shapes and dtypes are always
            checked, which costs nothing.
        proxy_init: ``"official"`` (default): ``kaiming_uniform_(a=sqrt(5))``
            on a ``(d, C*N)`` tensor, transposed, as the official code (each
            proxy's norm is then about ``sqrt(d / (3 C N))``, 0.13 for
            ``d = 64``, ``C N = 1200``). ``"unit"``: the same draw, each proxy
            then rescaled to norm 1 (same directions, so ``S`` and ``L^p`` at
            the first step are unchanged, as both use the normalised proxies;
            only the optimiser's steps are smaller relative to the proxies).
            THIS PACKAGE'S option, for the probe of why a class's proxies merge
            (notebook 9; the study ``probes``); the official code has no such switch.

    The switches ``positive_mask`` and ``mask_softmax`` are THIS PACKAGE'S
    reading of the paper's ablation (Table 4: rows with and without ``S^pos``
    and ``M``). The official code has neither switch: there ``S^pos`` and
    ``M`` are always on and ``lambda`` (``--weight_lambda``) is its only
    switch. How each "off" is implemented above is this package's choice.

    Attributes:
        proxies: ``nn.Parameter`` of shape ``(C*N, d)``; rows ``c*N .. c*N+N-1``
            belong to class ``c``. Initialised like the official code:
            ``kaiming_uniform_(a=sqrt(5))`` on a ``(d, C*N)`` tensor, transposed.
        loss_s, loss_p: the detached terms ``L^s`` and ``L^p`` of the last call
            (``L^p`` is 0 when ``lambda = 0``), for logging; :meth:`terms`
            returns both by name.
        k: the subgraph size ``ceil(r C N)``.

    Example:
        >>> loss_fn = ProxyGMLLoss(num_classes=100, proxies_per_class=12, embedding_dim=512)
        >>> loss = loss_fn(torch.nn.functional.normalize(torch.randn(32, 512), dim=1),
        ...                torch.randint(0, 100, (32,)))
    """

    def __init__(
        self,
        num_classes: int,
        proxies_per_class: int,
        embedding_dim: int,
        r: float = 0.05,
        weight_lambda: float = 0.3,
        positive_mask: bool = True,
        mask_softmax: bool = True,
        scale: float | None = None,
        validate: bool = True,
        proxy_init: str = "official",
    ) -> None:
        super().__init__()
        self.num_classes = check_int("num_classes", num_classes, 2, "C, the number of training classes")
        self.proxies_per_class = check_int("proxies_per_class", proxies_per_class, 1, "N, proxies per class")
        self.embedding_dim = check_int("embedding_dim", embedding_dim, 1, "d, the embedding size")
        self.r = check_in_range("r", r, 0, 1, "the subgraph scale; the paper uses 0.05")
        self.weight_lambda = check_number("weight_lambda", weight_lambda, 0, "lambda, the weight of L^p; 0 disables it")
        self.positive_mask = bool(positive_mask)
        self.mask_softmax = bool(mask_softmax)
        self.scale = (
            None
            if scale is None
            else check_number(
                "scale",
                scale,
                0,
                "temperature of the softmax of L^s; None = 1 (official), 20.0 = the official "
                "code's commented-out SOP value",
                strict=True,
            )
        )
        self.validate = bool(validate)
        if proxy_init not in PROXY_INITS:
            raise ValueError(
                f"proxy_init must be one of {', '.join(PROXY_INITS)} (official = the official kaiming_uniform draw, "
                f"unit = the same draw rescaled to norm 1 per proxy); got {proxy_init!r}"
            )
        self.proxy_init = proxy_init
        self.k = steps.subgraph_size(self.r, self.num_classes, self.proxies_per_class)

        num_proxies = self.num_classes * self.proxies_per_class
        initial = torch.empty(self.embedding_dim, num_proxies)
        nn.init.kaiming_uniform_(initial, a=math.sqrt(5))
        if proxy_init == "unit":  # the same random draw (same directions), each proxy (a column here) at norm 1
            initial = initial / initial.norm(dim=0, keepdim=True)
        self.proxies = nn.Parameter(initial.t().contiguous())
        self.register_buffer("loss_s", torch.zeros(()), persistent=False)
        self.register_buffer("loss_p", torch.zeros(()), persistent=False)
        self._warned_small_k = False

    @property
    def num_proxies(self) -> int:
        """``C*N``."""
        return self.num_classes * self.proxies_per_class

    def extra_repr(self) -> str:
        return (
            f"C={self.num_classes}, N={self.proxies_per_class}, d={self.embedding_dim}, r={self.r}, "
            f"k={self.k}, weight_lambda={self.weight_lambda}, positive_mask={self.positive_mask}, "
            f"mask_softmax={self.mask_softmax}"
            + (f", scale={self.scale}" if self.scale is not None else "")
            + (f", proxy_init={self.proxy_init!r}" if self.proxy_init != "official" else "")
        )

    def terms(self) -> dict[str, torch.Tensor]:
        """The detached terms of the last call: ``{"loss_s": L^s, "loss_p": L^p}`` (logged as columns)."""
        return {"loss_s": self.loss_s, "loss_p": self.loss_p}

    def _warn_if_trivial(self) -> None:
        if self._warned_small_k or not self.positive_mask or self.k > self.proxies_per_class:
            return
        self._warned_small_k = True
        c, n = self.num_classes, self.proxies_per_class
        suggestion = (n + 1) / (c * n)
        warnings.warn(
            f"k = ceil(r*C*N) = {self.k} <= N = {n}: each subgraph holds only own-class proxies, so L^s and "
            f"its gradient vanish up to rounding and the samples learn nothing from it (an adaptive optimiser "
            f"such as Adam can still amplify the rounding-level gradients). Use r > 1/C = {1 / c:.4g} for C={c}, N={n} "
            f"(for example r={suggestion:.4g} keeps N+1 proxies).",
            RuntimeWarning,
            stacklevel=3,
        )

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``L = L^s + lambda L^p`` for L2-normalised ``embeddings`` ``(B, d)`` and integer ``labels`` ``(B,)``.

        Labels of any integer dtype are accepted (uint8, int32, ...) and used as int64.
        """
        check_inputs(self, embeddings, labels)
        self._warn_if_trivial()
        if labels.dtype != torch.long:
            labels = labels.long()
        c, n = self.num_classes, self.proxies_per_class
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = embeddings.float() if embeddings.dtype in (torch.float16, torch.bfloat16) else embeddings
            proxies = self.proxies.to(x.dtype)
            similarity = steps.similarity_graph(x, proxies)
            subgraph = steps.select_subgraph(similarity, labels, c, n, self.k, self.positive_mask)
            z = steps.reverse_label_propagation(subgraph, c, n)
            if self.scale is not None:
                z = z * self.scale  # the official scale_mask_softmax: exp(Z * scale), M from Z
            loss_s = steps.classification_loss(z, labels, self.mask_softmax)
            if self.weight_lambda > 0:
                loss_p = steps.proxy_regulariser(proxies, c, n)
                total = loss_s + self.weight_lambda * loss_p
            else:
                loss_p = loss_s.new_zeros(())
                total = loss_s
        self.loss_s = loss_s.detach()
        self.loss_p = loss_p.detach()
        return total


def check_inputs(loss: ProxyGMLLoss, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    """Shapes and dtypes (free); with ``loss.validate`` also the values (each check waits for the device)."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise ValueError(f"embeddings must be a 2-D tensor of shape (B, {loss.embedding_dim}); got {shape}")
    if embeddings.shape[1] != loss.embedding_dim:
        raise ValueError(
            f"embeddings must have embedding_dim={loss.embedding_dim} columns; got shape {tuple(embeddings.shape)}"
        )
    if embeddings.shape[0] == 0:
        raise ValueError("embeddings is empty: the batch needs at least one sample")
    if not embeddings.is_floating_point():
        raise ValueError(f"embeddings must be a floating-point tensor; got dtype {embeddings.dtype}")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a 1-D integer tensor of shape (B,); got {shape}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor (int64 class indices); got dtype {labels.dtype}")
    if labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels has {labels.shape[0]} entries but embeddings has {embeddings.shape[0]} rows; they must match"
        )
    if not loss.validate:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= loss.num_classes:
        raise ValueError(
            f"labels must lie in [0, num_classes) = [0, {loss.num_classes}); got values in [{low}, {high}]. "
            "Map the training classes to 0..C-1 (and check num_classes)."
        )
    if not torch.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or Inf; check the model's outputs and the learning rate")
    if not torch.isfinite(loss.proxies).all():
        raise ValueError(
            "the proxies contain NaN or Inf (an earlier update diverged, or they were loaded from a bad "
            "checkpoint); lower the proxy learning rate (--centerlr) or re-initialise the loss"
        )


def _build_proxygml(num_classes: int, embedding_dim: int, proxies_per_class: int = 12, **options) -> ProxyGMLLoss:
    return ProxyGMLLoss(
        num_classes=num_classes, proxies_per_class=proxies_per_class, embedding_dim=embedding_dim, **options
    )


register_loss(
    "proxygml",
    _build_proxygml,
    description="ProxyGML (Zhu et al., NeurIPS 2020): L^s + lambda L^p over a subgraph of k = ceil(r C N) proxies",
)
