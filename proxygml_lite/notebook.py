"""Kept for old imports: ``proxygml_lite.notebook`` is :mod:`proxygml_lite.teaching.notebook`."""

from .teaching.notebook import *  # noqa: F401,F403
from .teaching.notebook import __all__  # noqa: F401
