"""Embedding networks for ProxyGML: BN-Inception (the paper's), ResNet-50 and a small CNN.

Every model maps images to L2-normalised embeddings ``X`` of shape ``(B, d)``
(``||x_i^s|| = 1``), the rows of which form the similarity graph ``S = X P^T``
with the proxies::

    from proxygml_lite.models import build_model, build_transforms
    model = build_model("bninception", embedding_dim=512, pretrained=True, freeze_bn=True)
    train_tf = build_transforms("bninception", train=True)
    print(model.load_report)          # which keys were loaded / skipped
    optimizer = torch.optim.Adam([
        {"params": model.backbone_parameters(), "lr": 1e-4},
        {"params": model.head_parameters(), "lr": 1e-4},
    ])
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping

from ..registry import BACKBONES, register_backbone
from . import bninception, resnet, smallcnn
from .bninception import BNInception, load_bninception_weights
from .common import (
    HashMismatchError,
    LoadReport,
    check_backbone,
    check_in_channels,
    load_backbone_weights,
)
from .embedding import EmbeddingNet
from .resnet import ResNet50Backbone, load_resnet50_weights
from .smallcnn import SmallCNN
from .transforms import bninception_transforms, build_transforms, imagenet_transforms, smallcnn_transforms

__all__ = [
    "BACKBONES",
    "build_model",
    "build_transforms",
    "register_backbone",
    "EmbeddingNet",
    "BNInception",
    "ResNet50Backbone",
    "SmallCNN",
    "LoadReport",
    "HashMismatchError",
]


# ------------------------------------------------------ the built-in backbones
def _bninception_size_problem(size: int) -> str | None:
    if bninception.valid_input_side(size):
        return None
    return (
        f"image_size={size} does not fit BN-Inception's reduction blocks "
        "(see proxygml_lite.models.bninception.valid_input_side). Fix: use a multiple of 32 such as 224."
    )


def _load_smallcnn_weights(backbone, source):
    return load_backbone_weights(backbone, source, expected_format="SmallCNN's state_dict")


register_backbone(
    "bninception",
    lambda in_channels=3: BNInception(),
    feature_dim=bninception.FEATURE_DIM,
    transforms=bninception_transforms,
    image_size=224,
    min_image_size=bninception.MIN_INPUT_SIZE,
    load_weights=load_bninception_weights,
    pretrained_by_default=True,
    check_image_size=_bninception_size_problem,
    description="BN-Inception (the paper's), ImageNet weights",
)
register_backbone(
    "resnet50",
    lambda in_channels=3: ResNet50Backbone(),
    feature_dim=resnet.FEATURE_DIM,
    transforms=imagenet_transforms,
    image_size=224,
    min_image_size=resnet.MIN_INPUT_SIZE,
    load_weights=load_resnet50_weights,
    pretrained_by_default=True,
    description="ResNet-50, torchvision's ImageNet weights",
)
register_backbone(
    "smallcnn",
    lambda in_channels=1: SmallCNN(in_channels=in_channels),
    feature_dim=smallcnn.FEATURE_DIM,
    transforms=smallcnn_transforms,
    image_size=32,
    min_image_size=smallcnn.MIN_INPUT_SIZE,
    channels=(1, 3),
    load_weights=_load_smallcnn_weights,
    description="a small CNN for 32x32 glyphs, trained from scratch",
)


def _check_pretrained(backbone: str, pretrained):
    if isinstance(pretrained, bool) or isinstance(pretrained, (str, os.PathLike, Mapping)):
        if pretrained is True and not BACKBONES.get(backbone).options["pretrained_by_default"]:
            raise ValueError(
                f"{backbone} has no published pretrained weights. Fix: pretrained=False (random initialisation) "
                "or a path to weights you trained."
            )
        if isinstance(pretrained, str) and not pretrained:
            raise ValueError("pretrained is an empty string. Fix: pass True, False or a path to a weights file.")
        return pretrained
    raise ValueError(
        f"pretrained must be True, False, a path or a state dict; got {pretrained!r}. "
        "Fix: pretrained=True for the published ImageNet weights, False for random initialisation."
    )


def build_model(
    backbone: str = "bninception",
    embedding_dim: int = 512,
    pretrained=False,
    freeze_bn: bool = False,
    in_channels: int | None = None,
) -> EmbeddingNet:
    """Build ``backbone -> global average pool -> Linear(F, d) -> L2 normalisation``.

    Args:
        backbone: ``"bninception"`` (``F = 1024``, the paper's), ``"resnet50"``
            (``F = 2048``), ``"smallcnn"`` (``F = 128``, for 32x32 glyphs), or
            one you registered (:func:`~proxygml_lite.registry.register_backbone`).
        embedding_dim: ``d >= 1`` (the paper: 512).
        pretrained: ``True``: the published ImageNet weights (BN-Inception:
            Cadene's ``bn_inception-52deb4733.pth`` from
            ``torch.hub.get_dir()/checkpoints``, downloaded there if absent;
            ResNet-50: torchvision's ``IMAGENET1K_V1``); a path: that file
            (SHA-256 checked when its name carries a ``-<hash>`` prefix); a
            ``{name: tensor}`` mapping; ``False``: random initialisation. Only
            the backbone is loaded; the embedding layer is always new.
        freeze_bn: keep the backbone's BatchNorm layers in eval mode under
            ``model.train()`` (statistics frozen, affine weights still
            trained), as the official ``--freeze_BN`` (used on CUB and Cars).
        in_channels: image channels; ``None`` means 3 for bninception and
            resnet50 (the only value they take) and 1 for smallcnn (1 or 3).

    Returns:
        an :class:`EmbeddingNet`; ``model.load_report`` tells which keys were
        loaded and skipped (``None`` without pretrained weights).
    """
    backbone = check_backbone(backbone)
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, numbers.Integral) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be an integer >= 1; got {embedding_dim!r}. Fix: e.g. embedding_dim=512.")
    pretrained = _check_pretrained(backbone, pretrained)
    if not isinstance(freeze_bn, bool):
        raise ValueError(f"freeze_bn must be True or False; got {freeze_bn!r}.")
    channels = check_in_channels(backbone, in_channels)

    options = BACKBONES.get(backbone).options
    net = BACKBONES.get(backbone).factory(in_channels=channels)
    report = None
    if pretrained is not False:
        if options["load_weights"] is None:
            raise ValueError(f"{backbone} was registered without load_weights. Fix: pretrained=False.")
        report = options["load_weights"](net, pretrained)
    model = EmbeddingNet(
        net,
        options["feature_dim"],
        int(embedding_dim),
        in_channels=channels,
        freeze_bn=freeze_bn,
        name=backbone,
        flexible_channels=len(options["channels"]) > 1,
    )
    model.load_report = report
    return model
