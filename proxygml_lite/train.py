"""``python -m proxygml_lite.train``: the command line of :mod:`proxygml_lite.training.cli` (and :func:`train`)."""

import sys

from .training.cli import main

__all__ = ["train", "main", "NonFiniteLossError"]  # noqa: F822 (train, NonFiniteLossError: loaded on use)


def __getattr__(name: str):
    """``train`` and ``NonFiniteLossError`` import torch: loaded on first use, so ``--help`` starts fast."""
    if name in ("train", "NonFiniteLossError"):
        from . import training

        return getattr(training, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
