"""Kept for older imports: the paper's own tables, :mod:`proxygml_lite.studies.paper`."""

from .studies.paper import *  # noqa: F401,F403
from .studies.paper import __all__  # noqa: F401
