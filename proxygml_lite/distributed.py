"""Kept for older imports: :mod:`proxygml_lite.training.distributed`."""

from .training.distributed import *  # noqa: F401,F403
from .training.distributed import __all__  # noqa: F401
