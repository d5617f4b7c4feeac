"""Notebook 2's checker: the subgraph, top-k of S + 1000 S^pos in each row (any valid pick among ties)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .. import steps
from ._comparing import _ATOL
from ._hints import _Diagnosis
from ._inputs import _Case, _random_labels, _random_similarity
from ._report import _check


def _subgraph_cases(seed: int) -> list[_Case]:
    g = torch.Generator().manual_seed(seed)

    def case(name, similarity, labels, num_classes, proxies_per_class, k):
        return _Case(
            name,
            {
                "similarity": similarity,
                "labels": labels,
                "num_classes": num_classes,
                "proxies_per_class": proxies_per_class,
                "k": k,
            },
        )

    def random(name, batch, num_classes, proxies_per_class, k):
        return case(
            name,
            _random_similarity(g, batch, num_classes * proxies_per_class),
            _random_labels(g, batch, num_classes),
            num_classes,
            proxies_per_class,
            k,
        )

    # Ties: S on a coarse grid, so several proxies share the value at the k-th place.
    ties = (torch.randint(-2, 3, (4, 8), generator=g) / 2).float()
    return [
        # The sample of class 0 is far from its own proxies: only the positive mask keeps them.
        case("small example", torch.tensor([[-0.9, -0.8, 0.7, 0.1, 0.5, 0.6]]), torch.tensor([0]), 3, 2, 3),
        random("random, B = 6, C = 5, N = 3, k = 7", 6, 5, 3, 7),
        random("k = N (only the own class)", 5, 4, 3, 3),
        random("k < N (the most similar own-class proxies)", 5, 3, 4, 2),
        random("k = C*N (every proxy)", 3, 3, 2, 6),
        random("k = 1", 4, 5, 2, 1),
        case("ties in S", ties, torch.tensor([0, 1, 2, 3]), 4, 2, 5),
        random("B = 1", 1, 6, 2, 5),
        random("N = 1", 5, 7, 1, 3),
    ]


def _ranking(similarity, labels, num_classes, proxies_per_class):
    return torch.where(
        steps.positive_mask(labels, num_classes, proxies_per_class), similarity + steps.POSITIVE_BIAS, similarity
    )


def _compare_subgraph(got: torch.Tensor, expected: torch.Tensor, case: _Case) -> str:
    """'' when ``got`` is a valid top-k of S + 1000 S^pos in every row (ties broken any way), else the first problem."""
    similarity, labels = case.args["similarity"], case.args["labels"]
    num_classes, per_class, k = case.args["num_classes"], case.args["proxies_per_class"], case.args["k"]
    batch, num_proxies = similarity.shape
    if got.dim() == 2 and tuple(got.shape) == (k, num_proxies) and k != batch:
        return (
            f"your output has shape {tuple(got.shape)} = (k, C*N): you took the top-k down each column "
            f"(dim=0). Expected ({batch}, {k}): the k proxies of each sample, along dim=1."
        )
    if got.dim() == 2 and tuple(got.shape) == (batch, num_proxies) and k != num_proxies:
        return (
            f"your output has shape {tuple(got.shape)} = (B, C*N); return the INDICES of the kept proxies, "
            f"shape (B, k) = ({batch}, {k}), e.g. `ranking.topk(k, dim=1).indices`."
        )
    if got.dim() != 2 or got.shape[0] != batch:
        return f"your output has shape {tuple(got.shape)}, expected (B, k) = ({batch}, {k})."
    if got.shape[1] != k:
        off = " (off by one?)" if abs(got.shape[1] - k) == 1 else ""
        return f"each row should hold k = {k} proxy indices, yours holds {got.shape[1]}{off}."
    if got.dtype.is_floating_point or got.dtype == torch.bool:
        return f"your output has dtype {got.dtype}; the indices of proxies are integers (torch.long)."
    got = got.long()
    if bool((got < 0).any() or (got >= num_proxies).any()):
        return (
            f"your indices must lie in 0 .. C*N - 1 = {num_proxies - 1}; "
            f"found {got.min().item()} .. {got.max().item()}."
        )
    positive = steps.positive_mask(labels, num_classes, per_class)
    for i in range(batch):
        kept = sorted(got[i].tolist())
        first_own = int(labels[i]) * per_class
        row = f"row {i} (label {int(labels[i])}, own-class proxies {first_own}..{first_own + per_class - 1})"
        mismatch = f"{row}: you kept {kept}, expected {sorted(expected[i].tolist())}"
        if len(set(kept)) != k:
            return f"{row}: your indices {kept} repeat a proxy; the k kept proxies are all different."
        kept_mask = torch.zeros(num_proxies, dtype=torch.bool)
        kept_mask[got[i]] = True
        s, pos = similarity[i], positive[i]
        # A valid pick: the own-class proxies first (largest S first), then the other classes' by S;
        # among tied S either pick is right.
        if bool((~kept_mask & pos).any()) and bool((kept_mask & ~pos).any()):
            j = int((~kept_mask & pos).nonzero()[0])
            return (
                f"{mismatch}: own-class proxy {j} (S = {float(s[j]):.3f}) is left out "
                "while proxies of other classes are kept."
            )
        for group, name in [(pos, "own-class"), (~pos, "other-class")]:
            group_kept, group_left = kept_mask & group, ~kept_mask & group
            if not (group_kept.any() and group_left.any()):
                continue
            j_left = int(torch.where(group_left, s, torch.tensor(-math.inf)).argmax())
            j_kept = int(torch.where(group_kept, s, torch.tensor(math.inf)).argmin())
            if float(s[j_left]) > float(s[j_kept]) + _ATOL:
                return (
                    f"{mismatch}: {name} proxy {j_left} (S = {float(s[j_left]):.3f}) is left out, "
                    f"but {name} proxy {j_kept} (S = {float(s[j_kept]):.3f}) is kept."
                )
    return ""


def _same_subgraph(got: torch.Tensor, mistaken: Any, case: _Case) -> bool:
    if got is None or mistaken is None:
        return False
    if got.dim() != 2 or tuple(got.shape) != tuple(mistaken.shape) or got.dtype.is_floating_point:
        return False
    return got.sort(dim=1).values.tolist() == mistaken.sort(dim=1).values.tolist()


def check_select_subgraph(
    fn: Callable[[torch.Tensor, torch.Tensor, int, int, int], torch.Tensor], seed: int = 0
) -> bool:
    """Check ``fn(similarity, labels, num_classes, proxies_per_class, k) -> indices`` (the positive-mask top-k).

    ``similarity`` is ``S``, shape ``(B, C*N)``; ``labels`` the ``(B,)`` sample labels; proxy ``j``
    belongs to class ``j // N``. ``fn`` returns the ``(B, k)`` integer indices of the proxies kept for
    each sample: the ``k`` largest entries of ``S + 1000 S^pos`` in each row (their order in a row does
    not matter, and among tied values any pick is accepted). A :class:`~proxygml_lite.steps.Subgraph`
    or the result of ``torch.topk`` may be returned as well. Reference:
    :func:`proxygml_lite.steps.select_subgraph`.

    Returns True when ``fn`` agrees on every case; prints what differs otherwise.
    """

    def reference(similarity, labels, num_classes, proxies_per_class, k):
        return steps.select_subgraph(similarity, labels, num_classes, proxies_per_class, k).indices

    def without_mask(similarity, labels, num_classes, proxies_per_class, k):
        return similarity.topk(k, dim=1).indices

    def smallest(similarity, labels, num_classes, proxies_per_class, k):
        return _ranking(similarity, labels, num_classes, proxies_per_class).topk(k, dim=1, largest=False).indices

    def classes_interleaved(similarity, labels, num_classes, proxies_per_class, k):
        proxy_class = torch.arange(num_classes * proxies_per_class) % num_classes
        positive = labels.view(-1, 1) == proxy_class.view(1, -1)
        return (similarity + 1000 * positive).topk(k, dim=1).indices

    def small_bias(similarity, labels, num_classes, proxies_per_class, k):
        positive = steps.positive_mask(labels, num_classes, proxies_per_class)
        return (similarity + positive.float()).topk(k, dim=1).indices

    return _check(
        step="select_subgraph",
        fn=fn,
        cases=_subgraph_cases(seed),
        reference=reference,
        compare=_compare_subgraph,
        diagnoses=[
            _Diagnosis(
                without_mask,
                "you ranked S alone and forgot the positive mask: add 1000 on the sample's own-class "
                "proxies (S + 1000 S^pos) before the top-k, so all its N own-class proxies are kept.",
            ),
            _Diagnosis(
                smallest,
                "you kept the k SMALLEST entries; the subgraph keeps the largest (topk's default, largest=True).",
            ),
            _Diagnosis(
                classes_interleaved,
                "the own-class proxies are in the wrong columns: proxy j belongs to class j // N "
                "(columns c*N .. c*N+N-1 are class c's), not j % C: torch.arange(C).repeat_interleave(N), "
                "not .repeat(N) (steps.proxy_labels(C, N) gives them).",
            ),
            _Diagnosis(
                small_bias,
                "the bias on the own-class proxies must beat any difference of S, which lies in [-1, 1]: "
                "add 1000 (as the official code does), not 1.",
            ),
        ],
        same=_same_subgraph,
        generic_hint="rank each row by S + 1000 S^pos (S^pos_ij = 1 iff labels[i] == j // N) and keep "
        "`ranking.topk(k, dim=1).indices`.",
        what="indices",
    )
