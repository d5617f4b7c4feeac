"""BN-Inception (Ioffe & Szegedy, 2015), the backbone of the ProxyGML paper.

The layers, their names and hyper-parameters are those of the port in Cadene's
``pretrainedmodels`` (``pretrainedmodels/models/bninception.py``), so the
ImageNet weights published with it load key for key:

* every convolution has a bias and is followed by ``BatchNorm2d(eps=1e-5)``
  and a ReLU; attribute names such as ``conv1_7x7_s2``, ``conv1_7x7_s2_bn``,
  ``inception_3a_double_3x3_1_bn`` are the state-dict keys;
* max pools use ``ceil_mode=True``; the pooling branches of 3a-5a are
  ``AvgPool2d(3, 1, 1, ceil_mode=True, count_include_pad=True)``, the one of
  5b is a ``MaxPool2d(3, 1, 1)`` (as in the Caffe model the port comes from);
* the reduction blocks 3c and 4e have stride-2 3x3 convolutions and a
  stride-2 max-pool branch without projection.

Cadene's ``global_pool`` (``AvgPool2d(7)``) and ``last_linear`` (the 1000-way
classifier) are not part of :class:`BNInception`; the embedding network pools
globally (identical to ``AvgPool2d(7)`` at 224x224) and the loader skips
``last_linear.*``.

BatchNorm layers use PyTorch's default momentum 0.1, as in pretrainedmodels
0.7.4, the release that points to ``bn_inception-52deb4733.pth`` (an older
revision, paired with another weights file, used 0.9). Checked: with the same
weights, :class:`BNInception` returns exactly the output of that release's
``BNInception.features`` at 224x224, in eval and train mode.

Inputs follow the Caffe convention of the published weights: BGR channel order,
values in 0..255 minus the mean ``[104, 117, 128]``, std 1
(see :func:`proxygml_lite.models.build_transforms`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LoadReport, fetch_to_hub_cache, load_backbone_weights

__all__ = [
    "BNInception",
    "valid_input_side",
    "BNINCEPTION_URL",
    "BNINCEPTION_MEAN",
    "BNINCEPTION_STD",
    "load_bninception_weights",
]

#: The ImageNet weights published with Cadene's pretrainedmodels. Following
#: torch.hub, every hex digit after ``-`` in the name ("52deb4733") is a
#: prefix of the file's SHA-256 and is checked.
BNINCEPTION_URL = "http://data.lip6.fr/cadene/pretrainedmodels/bn_inception-52deb4733.pth"
#: Per-channel mean (B, G, R order, 0..255 scale) and std of the published model.
BNINCEPTION_MEAN = (104.0, 117.0, 128.0)
BNINCEPTION_STD = (1.0, 1.0, 1.0)
FEATURE_DIM = 1024
#: Smallest input side the network accepts.
MIN_INPUT_SIZE = 32

# One row per inception block:
# (name, in channels, 1x1, (3x3 reduce, 3x3), (double reduce, double 1, double 2), pool, pool projection).
# A 1x1 / projection of 0 means the branch does not exist; pool "max_s2" marks
# the reduction blocks (stride-2 3x3 convolutions, stride-2 max pool).
_BLOCKS = (
    ("3a", 192, 64, (64, 64), (64, 96, 96), "avg", 32),
    ("3b", 256, 64, (64, 96), (64, 96, 96), "avg", 64),
    ("3c", 320, 0, (128, 160), (64, 96, 96), "max_s2", 0),
    ("4a", 576, 224, (64, 96), (96, 128, 128), "avg", 128),
    ("4b", 576, 192, (96, 128), (96, 128, 128), "avg", 128),
    ("4c", 576, 160, (128, 160), (128, 160, 160), "avg", 128),
    ("4d", 608, 96, (128, 192), (160, 192, 192), "avg", 128),
    ("4e", 608, 0, (128, 192), (192, 256, 256), "max_s2", 0),
    ("5a", 1056, 352, (192, 320), (160, 224, 224), "avg", 128),
    ("5b", 1024, 352, (192, 320), (192, 224, 224), "max", 128),
)


def _stem_side(side: int) -> int:
    """Side of the stem's output (input of block 3a), or 0 when a pooling window no longer fits."""
    side = (side - 1) // 2 + 1  # conv1 7x7, stride 2, padding 3
    for _ in range(2):  # pool1 / pool2: 3x3, stride 2, ceil_mode
        if side < 3:
            return 0
        side = -(-(side - 3) // 2) + 1
    return side


def valid_input_side(side: int) -> bool:
    """Whether BN-Inception can process an input of this height/width.

    In the reduction blocks 3c and 4e the stride-2 convolutions (padding 1)
    round down and the stride-2 ``ceil_mode`` max pools round up, so their
    outputs only have the same size (and can be concatenated) when the block's
    input side is even: the stem output must be a multiple of 4. Every
    multiple of 32 (224, 256, ...) qualifies; e.g. 240 does not.
    """
    stem = _stem_side(int(side))
    return stem >= 4 and stem % 4 == 0


class BNInception(nn.Module):
    """BN-Inception feature extractor: ``(B, 3, H, W)`` BGR/Caffe-normalised -> ``(B, 1024, h, w)``.

    ``h = w = 7`` at 224x224. State-dict keys equal those of Cadene's
    ``BNInception`` without ``last_linear.*`` (see the module docstring).
    Input sides must satisfy :func:`valid_input_side` (any multiple of 32).
    """

    def __init__(self, bn_momentum: float = 0.1) -> None:
        super().__init__()
        self._bn_momentum = bn_momentum
        self._stem = ("conv1_7x7_s2", "conv2_3x3_reduce", "conv2_3x3")
        self._conv_bn("conv1_7x7_s2", 3, 64, 7, stride=2)
        self.pool1_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self._conv_bn("conv2_3x3_reduce", 64, 64, 1)
        self._conv_bn("conv2_3x3", 64, 192, 3)
        self.pool2_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # Per block: list of branches, each a list of conv names, or a pool
        # followed by its projection conv names (possibly none).
        self._branches: list[list[tuple[str, ...]]] = []
        for name, cin, c1, (r3, c3), (rd, d1, d2), pool, proj in _BLOCKS:
            p = f"inception_{name}_"
            stride = 2 if pool == "max_s2" else 1
            branches = []
            if c1:
                self._conv_bn(p + "1x1", cin, c1, 1)
                branches.append((p + "1x1",))
            self._conv_bn(p + "3x3_reduce", cin, r3, 1)
            self._conv_bn(p + "3x3", r3, c3, 3, stride=stride)
            branches.append((p + "3x3_reduce", p + "3x3"))
            self._conv_bn(p + "double_3x3_reduce", cin, rd, 1)
            self._conv_bn(p + "double_3x3_1", rd, d1, 3)
            self._conv_bn(p + "double_3x3_2", d1, d2, 3, stride=stride)
            branches.append((p + "double_3x3_reduce", p + "double_3x3_1", p + "double_3x3_2"))
            if pool == "avg":
                layer = nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
            elif pool == "max":
                layer = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
            else:
                layer = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            setattr(self, p + "pool", layer)
            if proj:
                self._conv_bn(p + "pool_proj", cin, proj, 1)
                branches.append((p + "pool", p + "pool_proj"))
            else:
                branches.append((p + "pool",))
            self._branches.append(branches)

    def _conv_bn(self, name: str, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        setattr(self, name, nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2))
        setattr(self, name + "_bn", nn.BatchNorm2d(cout, eps=1e-5, momentum=self._bn_momentum))

    def _run(self, names: tuple[str, ...], x: torch.Tensor) -> torch.Tensor:
        for name in names:
            layer = getattr(self, name)
            if isinstance(layer, nn.Conv2d):
                x = F.relu(getattr(self, name + "_bn")(layer(x)), inplace=True)
            else:
                x = layer(x)
        return x

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` for sizes the reduction blocks cannot concatenate (see :func:`valid_input_side`)."""
        bad = [side for side in (height, width) if not valid_input_side(side)]
        if bad:
            raise ValueError(
                f"bninception cannot process {height}x{width} images: with its ceil-mode pools a side of "
                f"{bad[0]} gives branches of different sizes in the reduction blocks. Fix: use a multiple of "
                "32 such as 224 (build_transforms('bninception', ...) crops to 224)."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1_3x3_s2(self._run(self._stem[:1], x))
        x = self.pool2_3x3_s2(self._run(self._stem[1:], x))
        for branches in self._branches:
            x = torch.cat([self._run(branch, x) for branch in branches], dim=1)
        return x


def load_bninception_weights(backbone: BNInception, source=True) -> LoadReport:
    """Load the published ImageNet weights (``source=True``), a file, or a state dict into ``backbone``.

    ``True`` looks for ``bn_inception-52deb4733.pth`` in
    ``torch.hub.get_dir()/checkpoints`` and downloads it there if absent. Files
    whose name carries a hash prefix are SHA-256 checked; BatchNorm tensors
    stored as ``[1, C]`` are squeezed; ``last_linear.*`` is skipped; any other
    key difference is an error.
    """
    if source is True:
        source = fetch_to_hub_cache(BNINCEPTION_URL)
    return load_backbone_weights(
        backbone,
        source,
        skip_prefixes=("last_linear.",),
        url=BNINCEPTION_URL,
        expected_format="the format of Cadene's pretrainedmodels bn_inception-52deb4733.pth",
    )
