"""Notebook 1's checker: the similarity graph S = X P^T (cosines to the raw proxies)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import steps
from ._comparing import _first_difference, _same
from ._hints import _Diagnosis
from ._inputs import _Case, _unit_rows
from ._report import _check


def _similarity_cases(seed: int) -> list[_Case]:
    g = torch.Generator().manual_seed(seed)
    cases = [
        _Case(
            "small example",
            {
                "embeddings": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                "proxies": torch.tensor([[2.0, 0.0], [0.0, -3.0], [1.0, 1.0]]),
            },
        )
    ]
    for name, batch, num_proxies, dim in [
        ("random, B = 8, C*N = 12, d = 16", 8, 12, 16),
        ("B = 1", 1, 6, 5),
        ("one proxy (C = N = 1)", 4, 1, 3),
        ("more proxies than samples, B = 3, C*N = 20", 3, 20, 7),
    ]:
        # Proxies of very different lengths: the learned proxies are not unit vectors.
        lengths = torch.rand(num_proxies, 1, generator=g) * 5 + 0.2
        cases.append(
            _Case(
                name,
                {
                    "embeddings": _unit_rows(g, batch, dim),
                    "proxies": torch.randn(num_proxies, dim, generator=g) * lengths,
                },
            )
        )
    return cases


def check_similarity_graph(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], seed: int = 0) -> bool:
    """Check ``fn(embeddings, proxies) -> S`` against :func:`proxygml_lite.steps.similarity_graph`.

    ``embeddings`` is ``X``, shape ``(B, d)``, with unit-length rows; ``proxies`` is the raw proxy
    matrix ``P``, shape ``(C*N, d)``, whose rows are NOT unit length. ``fn`` returns ``S``, shape
    ``(B, C*N)``, with ``S_ij = x_i^T p_j / ||p_j||`` (a cosine similarity).

    Returns True when ``fn`` agrees on every case; prints what differs otherwise.
    """
    return _check(
        step="similarity_graph",
        fn=fn,
        cases=_similarity_cases(seed),
        reference=steps.similarity_graph,
        compare=lambda got, expected, case: _first_difference(got, expected, ("sample", "proxy")),
        diagnoses=[
            _Diagnosis(
                lambda x, p: x @ p.t(),
                "S holds cosine similarities, but the proxies are not unit vectors: normalise each proxy "
                "first, p_j / ||p_j|| (e.g. F.normalize(proxies, dim=1)), then take X P^T.",
            ),
            _Diagnosis(
                lambda x, p: x @ F.normalize(p, dim=0).t(),
                "you normalised along the wrong axis: each proxy is a ROW of P, so its length is the norm "
                "over dim=1 (F.normalize(proxies, dim=1), or proxies.norm(dim=1, keepdim=True)).",
            ),
            _Diagnosis(
                lambda x, p: F.normalize(p, dim=1) @ x.t(),
                "rows are samples and columns are proxies: S = X P^T has shape (B, C*N), not P X^T.",
            ),
            _Diagnosis(
                lambda x, p: x @ (p / p.norm(dim=1, keepdim=True).square()).t(),
                "divide by the length ||p_j||, not by its square.",
            ),
            _Diagnosis(
                lambda x, p: -torch.cdist(x, F.normalize(p, dim=1)),
                "S is the dot product of unit vectors (cosine similarity), not a distance.",
            ),
        ],
        same=lambda got, mistaken, case: _same(got, mistaken),
        generic_hint="S_ij = x_i . p_j / ||p_j||: normalise the rows of P, then S = embeddings @ normalised.T.",
        what="S",
    )
