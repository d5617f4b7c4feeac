"""A small CNN for 32x32 images (the grayscale glyphs) that trains on a laptop CPU in minutes.

Five 3x3 conv-BN-ReLU layers in three stages (32, 64, 128 channels; 2x2 max
pool between stages): 32x32 -> 16x16 -> 8x8 feature map with 128 channels,
about 0.28 M parameters (0.34 M with a 512-d head) and 30 M multiply-adds per
32x32 image. It is fully convolutional, so larger inputs work too (the
embedding network pools globally); inputs must be at least 8x8.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import check_min_size

__all__ = ["SmallCNN"]

FEATURE_DIM = 128
MIN_INPUT_SIZE = 8
#: (channels of each conv, then a 2x2 max pool unless it is the last stage)
_STAGES = ((32,), (64, 64), (128, 128))


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """``(B, in_channels, H, W)`` -> ``(B, 128, H/4, W/4)``; ``in_channels`` is 1 (grayscale) or 3."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for i, stage in enumerate(_STAGES):
            for cout in stage:
                layers += _conv_bn_relu(cin, cout)
                cin = cout
            if i < len(_STAGES) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def check_input_size(self, height: int, width: int) -> None:
        """Any size of at least 8x8 works (the net is fully convolutional; designed for 32x32)."""
        check_min_size("smallcnn", height, width, MIN_INPUT_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
