"""``python -m proxygml_lite.train``: the command line of :mod:`proxygml_lite.training.cli` (and :func:`train`)."""

import sys

from .training.cli import main
from .training.step import NonFiniteLossError
from .training.trainer import train

__all__ = ["train", "main", "NonFiniteLossError"]

if __name__ == "__main__":
    sys.exit(main())
