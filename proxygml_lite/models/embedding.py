"""The embedding network: backbone -> global average pool -> ``Linear(F, d)`` -> L2 normalisation.

It maps an image batch to the L2-normalised embeddings ``X`` (one row
``x_i^s`` per sample) on which ProxyGML builds the similarity graph
``S = X P^T``::

    backbone feature map (B, F, h, w) -> global average pool (B, F)
    -> Linear(F, d) -> L2 normalisation -> X (B, d), ||x_i^s|| = 1
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .common import LoadReport

__all__ = ["EmbeddingNet"]

_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)


class EmbeddingNet(nn.Module):
    """``X = normalize(W_e GAP(backbone(images)) + b_e)``: L2-normalised embeddings ``(B, d)``.

    Args:
        backbone: module mapping ``(B, in_channels, H, W)`` to a feature map
            ``(B, feature_dim, h, w)``, optionally with a method
            ``check_input_size(H, W)`` that raises ``ValueError`` for sizes it
            cannot process.
        feature_dim: ``F``, the channels of that map (1024 for BN-Inception,
            2048 for ResNet-50).
        embedding_dim: ``d``, the embedding size (the paper: 512).
        in_channels: the image channels ``forward`` accepts.
        freeze_bn: keep every BatchNorm layer of the backbone in eval mode,
            even after ``model.train()``: running mean/variance are used and
            not updated. Their affine weight and bias stay trainable, exactly
            as the official ``train.py --freeze_BN`` (it calls ``.eval()`` on
            every ``nn.BatchNorm2d`` after ``model.train()`` and still hands
            all ``model.parameters()`` to Adam). Can be changed later by
            assigning ``model.freeze_bn``.
        name: the backbone's name, for messages.
        flexible_channels: the backbone accepts several ``in_channels`` (for messages).

    The head is ``self.embedding`` (``nn.Linear(F, d)``, PyTorch's default
    initialisation), the name the official warm-up uses for the new layer.
    Pooling is a mean over the spatial axes and flattening uses ``reshape``
    semantics, so ``channels_last`` inputs and models work.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        embedding_dim: int,
        *,
        in_channels: int,
        freeze_bn: bool = False,
        name: str = "backbone",
        flexible_channels: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.embedding = nn.Linear(feature_dim, embedding_dim)
        self.feature_dim = int(feature_dim)
        self.embedding_dim = int(embedding_dim)
        self.in_channels = int(in_channels)
        self.backbone_name = name
        self.flexible_channels = bool(flexible_channels)  # the backbone takes several in_channels (messages)
        self.load_report: LoadReport | None = None
        self._freeze_bn = bool(freeze_bn)
        self.train(self.training)

    # -- freeze_bn ----------------------------------------------------------
    @property
    def freeze_bn(self) -> bool:
        """Whether BatchNorm layers stay in eval mode under ``train()``."""
        return self._freeze_bn

    @freeze_bn.setter
    def freeze_bn(self, value: bool) -> None:
        self._freeze_bn = bool(value)
        self.train(self.training)

    def train(self, mode: bool = True) -> EmbeddingNet:
        super().train(mode)
        if mode and self._freeze_bn:
            for module in self.backbone.modules():
                if isinstance(module, _BATCH_NORMS):
                    module.eval()
        return self

    # -- parameter groups ---------------------------------------------------
    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the (pretrained) backbone; with :meth:`head_parameters` a partition of ``parameters()``."""
        return self.backbone.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the embedding layer ``Linear(F, d)`` (weight and bias)."""
        return self.embedding.parameters()

    # -- forward ------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{self.backbone_name} expects images of shape (B, {self.in_channels}, H, W); got {shape}. "
                f"Fix: transform images with build_transforms({self.backbone_name!r}, ...) and batch them"
                + (", or build the model with the in_channels of your images." if self.flexible_channels else ".")
            )
        check_input_size = getattr(self.backbone, "check_input_size", None)
        if check_input_size is not None:
            check_input_size(int(x.shape[-2]), int(x.shape[-1]))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled backbone features ``(B, F)`` (before the embedding layer)."""
        self._check_input(x)
        return self.backbone(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings ``X`` of shape ``(B, d)``."""
        return F.normalize(self.embedding(self.features(x)), p=2.0, dim=1)

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, d={self.embedding_dim}, freeze_bn={self._freeze_bn}"
