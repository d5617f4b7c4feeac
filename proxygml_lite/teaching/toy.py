"""Toy data, toy gradients and toy training of the teaching notebooks, in one namespace.

The notebooks write ``toy.multimodal_circle(...)``, ``toy.loss_gradients(...)``
and ``toy.train_toy_embedding(...)``; the code lives in three small modules:
:mod:`~proxygml_lite.teaching.toy_data` (data on the circle/sphere and in the
plane, classic label propagation), :mod:`~proxygml_lite.teaching.gradients`
(descent directions of ``L = L^s + lambda L^p``) and
:mod:`~proxygml_lite.teaching.training` (a tiny embedding and its training loop).
"""

from .gradients import *  # noqa: F403
from .gradients import __all__ as _gradients
from .toy_data import *  # noqa: F403
from .toy_data import __all__ as _data
from .training import *  # noqa: F403
from .training import __all__ as _training

__all__ = [*_data, *_gradients, *_training]
