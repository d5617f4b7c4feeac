"""Kept for old imports: ``proxygml_lite.plots`` is :mod:`proxygml_lite.teaching.plots`."""

from .teaching.plots import *  # noqa: F401,F403
from .teaching.plots import __all__  # noqa: F401
