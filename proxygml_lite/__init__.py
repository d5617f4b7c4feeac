"""proxygml_lite: teaching notebooks and a small, serious helper package for ProxyGML.

ProxyGML is the deep metric learning method of Zhu, Yang, Deng and Liu,
"Fewer is More: A Deep Graph Metric Learning Perspective Using Fewer Proxies",
NeurIPS 2020.

Extend it from your own code: :func:`register_loss`, :func:`register_dataset`
and :func:`register_backbone` add names that the trainer, the command line
(``--import yourmodule``) and the helpers accept (see :mod:`proxygml_lite.registry`).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from . import evaluation, steps
from .loss import ProxyGMLLoss
from .registry import register_backbone, register_dataset, register_loss

__all__ = ["ProxyGMLLoss", "evaluation", "steps", "register_loss", "register_dataset", "register_backbone"]

try:
    __version__ = _version("proxygml_lite")
except PackageNotFoundError:  # a source tree on the path without an installation
    __version__ = "0+unknown"
