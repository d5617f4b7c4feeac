"""Kept for old imports: ``proxygml_lite.toy`` is :mod:`proxygml_lite.teaching.toy`."""

from .teaching.toy import *  # noqa: F401,F403
from .teaching.toy import __all__  # noqa: F401
