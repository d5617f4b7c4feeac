"""Notebook 3's checker: reverse label propagation Z = W Y^p, with W the dense (B, C*N) neighbour matrix."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import steps
from ._comparing import _first_difference, _same
from ._hints import _Diagnosis
from ._inputs import _Case, _random_labels, _random_similarity
from ._report import _check


def _propagation_cases(seed: int) -> list[_Case]:
    g = torch.Generator().manual_seed(seed)

    def case(name, weights, num_classes, proxies_per_class):
        return _Case(name, {"W": weights, "num_classes": num_classes, "proxies_per_class": proxies_per_class})

    def random(name, batch, num_classes, proxies_per_class, k):
        similarity = _random_similarity(g, batch, num_classes * proxies_per_class)
        labels = _random_labels(g, batch, num_classes)
        sub = steps.select_subgraph(similarity, labels, num_classes, proxies_per_class, k)
        return case(name, sub.to_dense(), num_classes, proxies_per_class)

    return [
        # Proxies 0, 1 (class 0) vote 0.5 and -0.2; proxy 4 (class 2) votes 0.3; class 1 has no kept proxy.
        case("small example", torch.tensor([[0.5, -0.2, 0.0, 0.0, 0.3, 0.0]]), 3, 2),
        random("random, B = 6, C = 5, N = 3, k = 7", 6, 5, 3, 7),
        random("k = N: classes with no kept proxy", 5, 4, 3, 3),
        random("k = C*N: every class present", 4, 3, 2, 6),
        random("N = 1", 5, 7, 1, 3),
        random("B = 1", 1, 4, 3, 5),
        random("C = 1", 3, 1, 4, 4),
    ]


def _reference_propagation(weights, num_classes, proxies_per_class):
    # The package's step takes the sparse subgraph; pass every column of the dense W (the zeros add nothing).
    every_column = steps.Subgraph(
        indices=torch.arange(weights.shape[1]).expand_as(weights), weights=weights, num_proxies=weights.shape[1]
    )
    return steps.reverse_label_propagation(every_column, num_classes, proxies_per_class)


def check_reverse_label_propagation(fn: Callable[[torch.Tensor, int, int], torch.Tensor], seed: int = 0) -> bool:
    """Check ``fn(W, num_classes, proxies_per_class) -> Z`` (reverse label propagation ``Z = W Y^p``).

    ``W`` is the dense neighbour matrix, shape ``(B, C*N)``: ``S`` on each sample's kept proxies, 0
    elsewhere (``steps.select_subgraph(...).to_dense()``). Proxy ``j`` belongs to class ``j // N``.
    ``fn`` returns ``Z``, shape ``(B, C)``: ``Z_ic`` is the sum of row ``i`` of ``W`` over class ``c``'s
    proxies. Reference: :func:`proxygml_lite.steps.reverse_label_propagation` (which takes the sparse
    :class:`~proxygml_lite.steps.Subgraph` instead of the dense ``W``).

    Returns True when ``fn`` agrees on every case; prints what differs otherwise.
    """
    return _check(
        step="reverse_label_propagation",
        fn=fn,
        cases=_propagation_cases(seed),
        reference=_reference_propagation,
        compare=lambda got, expected, case: _first_difference(got, expected, ("sample", "class")),
        diagnoses=[
            _Diagnosis(
                lambda w, c, n: w.view(w.shape[0], n, c).sum(dim=1),
                "the proxies are grouped into the wrong classes: proxy j belongs to class j // N "
                "(columns c*N .. c*N+N-1), so reshape W to (B, C, N) and sum over the last axis; "
                "(B, N, C) puts proxy j in class j % C.",
            ),
            _Diagnosis(
                lambda w, c, n: w.ne(0).view(w.shape[0], c, n).sum(dim=2).float(),
                "Z sums the similarities of the kept proxies (their votes), it does not count them.",
            ),
            _Diagnosis(
                lambda w, c, n: w.view(w.shape[0], c, n).mean(dim=2),
                "Z is a sum over the class's proxies, not a mean (no division by N).",
            ),
            _Diagnosis(
                lambda w, c, n: w.view(w.shape[0], c, n).amax(dim=2),
                "Z sums the votes of a class's proxies; it does not take the largest one.",
            ),
            _Diagnosis(
                lambda w, c, n: w.view(w.shape[0], c, n).sum(dim=2).t(),
                "rows are samples and columns are classes: Z = W Y^p has shape (B, C).",
            ),
        ],
        same=lambda got, mistaken, case: _same(got, mistaken),
        generic_hint="Z = W @ Y_p with Y_p = F.one_hot(steps.proxy_labels(C, N), C).float(), or "
        "W.view(B, C, N).sum(dim=2). A class with no kept proxy gets exactly 0.",
        what="Z",
    )
