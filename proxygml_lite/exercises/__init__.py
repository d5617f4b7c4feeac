"""Checkers for the implement-it-yourself exercises of notebooks 01-04.

Each checker takes the student's function, runs it on a fixed series of
inputs (a small example to check by hand, random inputs of several shapes,
and the edge cases: ties, ``k = N``, ``k = C*N``, a class with no kept proxy,
``B = 1``, ...) and compares it with the package's step in
:mod:`proxygml_lite.steps`. It prints one success line, or the first case
that differs, the entry that differs and a hint, and returns ``True`` or
``False``. It never raises because of the student's function: an exception
inside it is caught and reported with the line that raised it.

One module per checker (:mod:`.similarity_graph`, :mod:`.select_subgraph`,
:mod:`.reverse_label_propagation`, :mod:`.mask_softmax`); what they share: the cases
and random inputs (:mod:`._inputs`), calling the student's function safely
(:mod:`._running`), comparing outputs (:mod:`._comparing`), the hints of typical
mistakes (:mod:`._hints`) and the run of one checker that prints the verdict (:mod:`._report`).

The student's functions (plain tensors in, a tensor out; inputs are float32):

==========================================  =============================================================
checker                                     the student's function
==========================================  =============================================================
:func:`check_similarity_graph`              ``fn(embeddings, proxies) -> S``: ``X`` (B, d) with unit rows,
                                            raw proxies ``P`` (C*N, d); ``S`` (B, C*N) cosine similarities
:func:`check_select_subgraph`               ``fn(similarity, labels, num_classes, proxies_per_class, k)
                                            -> indices`` (B, k): the top-k of ``S + 1000 S^pos`` per row
:func:`check_reverse_label_propagation`     ``fn(W, num_classes, proxies_per_class) -> Z`` (B, C), with
                                            ``W`` the dense (B, C*N) neighbour matrix
:func:`check_mask_softmax`                  ``fn(z) -> P`` (B, C): ``M = [Z != 0]``,
                                            ``P = M exp(Z) / (1e-8 + sum_j M_j exp(Z_j))``
==========================================  =============================================================

Example::

    from proxygml_lite import exercises

    def my_mask_softmax(z):
        raise NotImplementedError  # your code here

    passed = exercises.check_mask_softmax(my_mask_softmax)   # prints "not implemented yet"; passed is False
"""

from .mask_softmax import check_mask_softmax
from .reverse_label_propagation import _propagation_cases as _propagation_cases
from .reverse_label_propagation import check_reverse_label_propagation
from .select_subgraph import _subgraph_cases as _subgraph_cases
from .select_subgraph import check_select_subgraph
from .similarity_graph import check_similarity_graph

__all__ = [
    "check_similarity_graph",
    "check_select_subgraph",
    "check_reverse_label_propagation",
    "check_mask_softmax",
]
