"""Notebook 4's checker: the mask softmax P = M exp(Z) / (1e-8 + sum M exp(Z)), M = [Z != 0]."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import steps
from ._comparing import _first_difference, _same
from ._hints import _Diagnosis
from ._inputs import _Case
from ._report import _check


def _softmax_cases(seed: int) -> list[_Case]:
    g = torch.Generator().manual_seed(seed)

    def random(batch, num_classes, absent=0.35, low=-2.0, high=3.0):
        z = torch.rand(batch, num_classes, generator=g) * (high - low) + low
        return torch.where(torch.rand(batch, num_classes, generator=g) < absent, torch.zeros_like(z), z)

    return [
        _Case("small example", {"z": torch.tensor([[1.0, 0.0, -1.0]])}),
        _Case("random, B = 5, C = 6, absent classes", {"z": random(5, 6)}),
        _Case("every class present", {"z": random(4, 5, absent=0.0)}),
        _Case("negative votes", {"z": random(4, 6, low=-3.0, high=-0.2)}),
        _Case("one class present", {"z": torch.tensor([[0.0, 0.0, 0.7, 0.0], [-0.4, 0.0, 0.0, 0.0]])}),
        _Case("B = 1", {"z": random(1, 7)}),
        _Case("an empty row (no class in the subgraph)", {"z": torch.tensor([[0.5, 0.0, -1.0], [0.0, 0.0, 0.0]])}),
    ]


def check_mask_softmax(fn: Callable[[torch.Tensor], torch.Tensor], seed: int = 0) -> bool:
    """Check ``fn(z) -> P`` (the mask softmax) against :func:`proxygml_lite.steps.mask_softmax`.

    ``z`` is ``Z``, shape ``(B, C)``. ``fn`` computes the mask ``M = [Z != 0]`` itself and returns
    ``P = M exp(Z) / (1e-8 + sum_j M_j exp(Z_j))``, shape ``(B, C)``: 0 for the classes absent from
    the subgraph, and a row of zeros (not nan) when no class is present.

    Returns True when ``fn`` agrees on every case; prints what differs otherwise.
    """

    def masked(z):
        return (z != 0).to(z.dtype)

    return _check(
        step="mask_softmax",
        fn=fn,
        cases=_softmax_cases(seed),
        reference=steps.mask_softmax,
        compare=lambda got, expected, case: _first_difference(got, expected, ("sample", "class")),
        diagnoses=[
            _Diagnosis(
                lambda z: torch.softmax(z, dim=1),
                "that is a softmax over ALL classes. Classes with Z = 0 are absent from the subgraph: "
                "M = [Z != 0] is 0 there, so their P must be 0 and they stay out of the denominator.",
            ),
            _Diagnosis(
                lambda z: torch.softmax(z, dim=0),
                "you normalised down each column (dim=0); each sample's probabilities (a row) sum to 1: dim=1.",
            ),
            _Diagnosis(
                lambda z: masked(z) * torch.exp(z) / (1e-8 + (masked(z) * torch.exp(z)).sum(0, keepdim=True)),
                "the denominator sums over the wrong axis: sum each row over its classes (dim=1).",
            ),
            _Diagnosis(
                lambda z: (z > 0) * torch.exp(z) / (1e-8 + ((z > 0) * torch.exp(z)).sum(dim=1, keepdim=True)),
                "Z can be negative (a proxy with negative similarity votes against its class); the mask is "
                "M = [Z != 0], not [Z > 0].",
            ),
            _Diagnosis(
                lambda z: masked(z) * torch.exp(z),
                "you forgot the normalisation: divide M exp(Z) by its row sum (plus 1e-8).",
            ),
            _Diagnosis(
                lambda z: masked(z) * torch.softmax(z, dim=1),
                "masking a plain softmax is not enough: after zeroing the absent classes, renormalise "
                "by the sum over the PRESENT classes only (M exp(Z) / sum M exp(Z)).",
            ),
            _Diagnosis(
                lambda z: torch.exp(z) / (1e-8 + (masked(z) * torch.exp(z)).sum(dim=1, keepdim=True)),
                "the numerator needs the mask too: P = M exp(Z) / ..., so absent classes get P = 0.",
            ),
            _Diagnosis(
                lambda z: masked(z) * torch.exp(z) / (masked(z) * torch.exp(z)).sum(dim=1, keepdim=True),
                "a sample with no class in its subgraph has M = 0 everywhere: without the official 1e-8 in "
                "the denominator you get 0 / 0 = nan. Add 1e-8: P = M exp(Z) / (1e-8 + sum M exp(Z)) "
                "(a softmax of Z with -inf at the absent classes needs such rows set to 0).",
            ),
        ],
        same=lambda got, mistaken, case: _same(got, mistaken),
        generic_hint="P = M exp(Z) / (1e-8 + sum_j M_j exp(Z_j)) row by row, with M = (z != 0).float().",
        what="P",
    )
