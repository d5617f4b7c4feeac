"""Kept for older imports: the plots of runs and studies, :mod:`proxygml_lite.studies.plots`."""

from .studies.plots import *  # noqa: F401,F403
from .studies.plots import __all__  # noqa: F401
