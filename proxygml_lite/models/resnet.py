"""ResNet-50 (He et al., 2016) from torchvision as an embedding backbone.

The backbone keeps torchvision's module names (``conv1``, ``bn1``,
``layer1`` .. ``layer4``), so torchvision's ImageNet state dicts load key for
key; its ``avgpool`` and ``fc`` are dropped (the embedding network pools
globally, the loader skips ``fc.*``). ``pretrained=True`` uses
``ResNet50_Weights.IMAGENET1K_V1`` (``resnet50-0676ba61.pth``, the classic
76.1 % top-1 weights that deep-metric-learning papers start from), fetched by
torchvision with its hash check into ``torch.hub.get_dir()/checkpoints``.

Inputs: RGB, ``ToTensor`` scale 0..1, ImageNet mean/std
(see :func:`proxygml_lite.models.build_transforms`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

from .common import LoadReport, check_min_size, hash_prefix_from_filename, load_backbone_weights

__all__ = ["ResNet50Backbone", "RESNET50_WEIGHTS", "IMAGENET_MEAN", "IMAGENET_STD", "load_resnet50_weights"]

RESNET50_WEIGHTS = ResNet50_Weights.IMAGENET1K_V1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_DIM = 2048
MIN_INPUT_SIZE = 32


class ResNet50Backbone(nn.Module):
    """torchvision ResNet-50 without ``avgpool``/``fc``: ``(B, 3, H, W)`` -> ``(B, 2048, H/32, W/32)``."""

    def __init__(self) -> None:
        super().__init__()
        net = resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def check_input_size(self, height: int, width: int) -> None:
        """Any size of at least 32x32 works (smaller ones end in a 1x1 map long before layer4)."""
        check_min_size("resnet50", height, width, MIN_INPUT_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def load_resnet50_weights(backbone: ResNet50Backbone, source=True) -> LoadReport:
    """Load torchvision's ImageNet weights (``source=True``), a file, or a state dict; ``fc.*`` is skipped."""
    published = source is True
    if published:
        try:
            source = RESNET50_WEIGHTS.get_state_dict(progress=True, check_hash=True)
        except Exception as exc:  # network errors come in many types; all get the same fix
            raise RuntimeError(
                f"could not get the torchvision ResNet-50 weights from {RESNET50_WEIGHTS.url} "
                f"({type(exc).__name__}: {exc}). Fix: download that file by hand into "
                f"{torch.hub.get_dir()}/checkpoints/, or pass pretrained='/path/to/resnet50-0676ba61.pth', "
                "or pretrained=False."
            ) from exc
    report = load_backbone_weights(
        backbone,
        source,
        skip_prefixes=("fc.",),
        url=RESNET50_WEIGHTS.url,
        expected_format="torchvision's ResNet-50 format (e.g. resnet50-0676ba61.pth)",
    )
    if published:  # torchvision checked the file's hash prefix while reading it
        report = replace(
            report, source=RESNET50_WEIGHTS.url, hash_prefix=hash_prefix_from_filename(RESNET50_WEIGHTS.url)
        )
    return report
