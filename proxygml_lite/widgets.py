"""Kept for old imports: ``proxygml_lite.widgets`` is :mod:`proxygml_lite.teaching.widgets`."""

from .teaching.widgets import *  # noqa: F401,F403
from .teaching.widgets import __all__  # noqa: F401
