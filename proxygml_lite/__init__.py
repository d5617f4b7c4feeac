"""proxygml_lite: teaching notebooks and a small, serious helper package for ProxyGML.

ProxyGML is the deep metric learning method of Zhu, Yang, Deng and Liu,
"Fewer is More: A Deep Graph Metric Learning Perspective Using Fewer Proxies",
NeurIPS 2020.

Extend it from your own code: :func:`register_loss`, :func:`register_dataset`
and :func:`register_backbone` add names that the trainer, the command line
(``--import yourmodule``) and the helpers accept (see :mod:`proxygml_lite.registry`).
"""

import importlib

from .registry import register_backbone, register_dataset, register_loss

__all__ = ["ProxyGMLLoss", "evaluation", "steps", "register_loss", "register_dataset", "register_backbone"]


def __getattr__(name: str):
    """Loaded on first use, so that a command line (``--help``) starts without torch.

    ``evaluation``, ``steps`` and ``ProxyGMLLoss`` import torch; ``__version__``
    reads the installed metadata.
    """
    if name in ("evaluation", "steps"):
        return importlib.import_module(f"{__name__}.{name}")
    if name == "ProxyGMLLoss":
        return importlib.import_module(f"{__name__}.loss").ProxyGMLLoss
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("proxygml_lite")
        except PackageNotFoundError:  # a source tree on the path without an installation
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
