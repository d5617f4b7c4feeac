"""Kept for older imports: :mod:`proxygml_lite.training.checkpoint`."""

from .training.checkpoint import *  # noqa: F401,F403
from .training.checkpoint import __all__  # noqa: F401
