"""Plotting functions of the teaching notebooks (and of their widgets), by topic.

* :mod:`.similarity` -- notebook 1: toy embeddings, three ways of comparing, ``S`` as a bipartite graph;
* :mod:`.subgraph` -- notebook 2: ``S^pos``, the set ``I``, ``W``, own-class coverage;
* :mod:`.votes` -- notebook 3: the votes ``Z = W Y^p``, classic label propagation;
* :mod:`.gradients` -- notebook 4: mask softmax, descent directions of ``L^s`` and ``lambda L^p``;
* :mod:`.training` -- notebook 5: snapshots, proxy paths, proxy merging, losses, Recall@1;
* :mod:`.matrices` -- heat maps and annotated matrix products used throughout.

Every function returns the :class:`matplotlib.figure.Figure` it drew on (the
figure of ``ax`` when an axes is passed), computes what it shows with
:mod:`proxygml_lite.steps` (the code of :class:`~proxygml_lite.loss.ProxyGMLLoss`),
and can be called without a browser, which is how the tests check them. The data
(points, labels, a matrix) come first; every other argument is keyword-only.
Colours follow the conventions of :mod:`._base`: class colours only for classes,
red/blue only for ``S``, black and greys for everything else.
"""

from ._base import FONT_SIZE, SIMILARITY_CMAP, add_class_legend, class_colors
from .gradients import *  # noqa: F403
from .gradients import __all__ as _gradients
from .matrices import *  # noqa: F403
from .matrices import __all__ as _matrices
from .similarity import *  # noqa: F403
from .similarity import __all__ as _similarity
from .subgraph import *  # noqa: F403
from .subgraph import __all__ as _subgraph
from .training import *  # noqa: F403
from .training import __all__ as _training
from .votes import *  # noqa: F403
from .votes import __all__ as _votes

__all__ = [
    "FONT_SIZE",
    "SIMILARITY_CMAP",
    "class_colors",
    "add_class_legend",
    *_matrices,
    *_similarity,
    *_subgraph,
    *_votes,
    *_gradients,
    *_training,
]
