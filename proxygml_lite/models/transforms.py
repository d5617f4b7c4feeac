"""Input transforms matching each backbone's pretraining (PIL image of any mode -> tensor).

* ``bninception``: BGR channel order, 0..255 scale, minus ``[104, 117, 128]``,
  std 1 (the Caffe convention of the published weights, and the official
  ``train.py``: ``RGB2BGR`` -> ``ToTensor`` -> ``x * 255`` -> ``Normalize``).
* ``resnet50``: RGB, 0..1 scale, ImageNet mean/std.
* Both: train ``RandomResizedCrop(s)`` + ``RandomHorizontalFlip``; test
  ``Resize(round(s * 256 / 224))`` + ``CenterCrop(s)``, ``s = 224`` by default.
* ``smallcnn``: grayscale (or RGB with ``in_channels=3``), ``Resize(s)`` +
  ``CenterCrop(s)`` with ``s = 32``; for training a small random affine
  (rotation <= 8 deg, shift <= 8 %, scale 0.9..1.1, shear <= 5 deg) filled with
  the image's own border colour, and no flip (glyphs are not mirror-symmetric);
  then ``ToTensor`` and ``Normalize(0.5, 0.5)`` to ``[-1, 1]``.

All callables here are classes (no lambdas), so the transforms pickle into
``DataLoader`` worker processes.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from ..registry import BACKBONES
from .bninception import BNINCEPTION_MEAN, BNINCEPTION_STD
from .common import check_backbone, check_in_channels
from .resnet import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "build_transforms",
    "imagenet_transforms",
    "bninception_transforms",
    "smallcnn_transforms",
    "ConvertMode",
    "RGBToBGR255",
    "BorderFillAffine",
]


class ConvertMode:
    """Convert a PIL image to ``mode`` ("RGB" or "L"), whatever its mode (``"P"``, ``"RGBA"``, ``"I;16"``...).

    Transparent pixels become white; 16/32-bit grayscale is rescaled to 0..255.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image: Image.Image) -> Image.Image:
        if not isinstance(image, Image.Image):
            raise ValueError(
                f"expected a PIL image, got {type(image).__name__}. Fix: apply the transform to the "
                "dataset's PIL images (load_dataset(..., transform=build_transforms(...)))."
            )
        if image.mode == self.mode:
            return image
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit grayscale: rescale to 8 bits
            array = np.asarray(image, dtype=np.float64)
            span = array.max() - array.min()
            array = (array - array.min()) / span * 255 if span > 0 else np.zeros_like(array)
            image = Image.fromarray(array.astype(np.uint8), "L")
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image.convert("RGBA"))
        return image.convert(self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.mode!r})"


class RGBToBGR255:
    """``(3, H, W)`` RGB tensor in 0..1 -> BGR tensor in 0..255 (the Caffe input convention)."""

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.flip(0).mul(255.0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BorderFillAffine(T.RandomAffine):
    """``RandomAffine`` whose uncovered corners take the median colour of the image border.

    Works for dark-on-light and light-on-dark glyphs alike (a fixed fill of 0
    would draw black corners on a white background).
    """

    def forward(self, image):
        array = np.asarray(image)
        border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]], axis=0)
        fill = np.median(border, axis=0)
        fill = [float(v) for v in np.atleast_1d(fill)]
        width, height = TF.get_image_size(image)
        params = self.get_params(self.degrees, self.translate, self.scale, self.shear, [width, height])
        return TF.affine(image, *params, interpolation=self.interpolation, fill=fill, center=self.center)


def _check_size(backbone: str, image_size) -> int:
    options = BACKBONES.get(backbone).options
    if image_size is None:
        return options["image_size"]
    minimum = options["min_image_size"]
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or image_size < minimum:
        raise ValueError(
            f"image_size must be an integer >= {minimum} for {backbone}; got {image_size!r}. "
            f"Fix: pass None for the default ({options['image_size']})."
        )
    problem = options["check_image_size"](int(image_size)) if options["check_image_size"] else None
    if problem:
        raise ValueError(problem)
    return int(image_size)


def build_transforms(backbone: str, train: bool, image_size: int | None = None, *, in_channels: int | None = None):
    """The torchvision transform for ``backbone``: PIL image (any mode) -> normalised tensor.

    Args:
        backbone: a name of :data:`~proxygml_lite.registry.BACKBONES`:
            ``"bninception"``, ``"resnet50"``, ``"smallcnn"`` or yours.
        train: random augmentation (``True``) or the deterministic test
            transform (``False``).
        image_size: output side ``s``; default 224 (bninception, resnet50) or
            32 (smallcnn).
        in_channels: only for smallcnn: 1 (default, grayscale) or 3 (RGB);
            must match ``build_model(..., in_channels=...)``.

    Returns:
        a ``torchvision.transforms.Compose`` giving ``(C, s, s)`` float tensors.
    """
    backbone = check_backbone(backbone)
    if not isinstance(train, bool):
        raise ValueError(
            f"train must be True or False; got {train!r}. Fix: build_transforms({backbone!r}, train=True)."
        )
    size = _check_size(backbone, image_size)
    channels = check_in_channels(backbone, in_channels)
    return BACKBONES.get(backbone).options["transforms"](train, size, channels)


def smallcnn_transforms(train: bool, size: int, channels: int) -> T.Compose:
    """Grayscale (or RGB), resize + centre crop to ``size``, a small border-filled affine when training, to [-1, 1]."""
    steps = [ConvertMode("L" if channels == 1 else "RGB"), T.Resize(size), T.CenterCrop(size)]
    if train:
        steps.append(BorderFillAffine(degrees=8, translate=(0.08, 0.08), scale=(0.9, 1.1), shear=5))
    steps += [T.ToTensor(), T.Normalize([0.5] * channels, [0.5] * channels)]
    return T.Compose(steps)


def _imagenet_steps(train: bool, size: int) -> list:
    steps = [ConvertMode("RGB")]
    if train:
        steps += [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        steps += [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]
    steps.append(T.ToTensor())
    return steps


def imagenet_transforms(train: bool, size: int, channels: int = 3) -> T.Compose:
    """RGB, random resized crop + flip (train) or resize + centre crop (test), ImageNet mean/std (ResNet-50)."""
    return T.Compose(_imagenet_steps(train, size) + [T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def bninception_transforms(train: bool, size: int, channels: int = 3) -> T.Compose:
    """As :func:`imagenet_transforms`, then BGR on the 0..255 scale minus the Caffe means (BN-Inception)."""
    return T.Compose(_imagenet_steps(train, size) + [RGBToBGR255(), T.Normalize(BNINCEPTION_MEAN, BNINCEPTION_STD)])
