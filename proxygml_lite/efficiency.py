"""Kept for older imports: the loss-layer cost, :mod:`proxygml_lite.studies.efficiency`."""

from .studies.efficiency import *  # noqa: F401,F403
from .studies.efficiency import __all__  # noqa: F401
