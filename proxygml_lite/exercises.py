"""Checkers for the implement-it-yourself exercises of notebooks 01-04.

Each checker takes the student's function, runs it on a fixed series of
inputs (a small example to check by hand, random inputs of several shapes,
and the edge cases: ties, ``k = N``, ``k = C*N``, a class with no kept proxy,
``B = 1``, ...) and compares it with the package's step in
:mod:`proxygml_lite.steps`. It prints one success line, or the first case
that differs, the entry that differs and a hint, and returns ``True`` or
``False``. It never raises because of the student's function: an exception
inside it is caught and reported with the line that raised it.

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

    exercises.check_mask_softmax(my_mask_softmax)   # prints "not implemented yet", returns False
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import steps

__all__ = [
    "check_similarity_graph",
    "check_select_subgraph",
    "check_reverse_label_propagation",
    "check_mask_softmax",
]

# float32 inputs: agreement to 1e-5 is "the same" (the official 1e-8 in the
# mask softmax is far below it, so a student may leave it out except on an empty row).
_ATOL = 1e-5
_RTOL = 1e-4


@dataclass
class _Case:
    """One input to the student's function: a name saying what it tests, and the positional arguments."""

    name: str
    args: dict[str, Any]

    def copies(self) -> list[Any]:
        return [value.clone() if torch.is_tensor(value) else value for value in self.args.values()]

    def describe(self) -> str:
        parts = []
        for name, value in self.args.items():
            parts.append(f"{name}: shape {tuple(value.shape)}" if torch.is_tensor(value) else f"{name} = {value}")
        return ", ".join(parts)

    def show_small_inputs(self) -> str:
        """The tensors of the case written out, when they are small enough to read."""
        lines = []
        for name, value in self.args.items():
            if torch.is_tensor(value) and value.numel() <= 40:
                lines.append(f"  {name} = {_format(value)}")
        return "\n".join(lines)


@dataclass
class _Diagnosis:
    """A typical mistake, written as code, and the hint to print when the student's output equals its output."""

    mistake: Callable[..., Any]
    hint: str


def _format(value: torch.Tensor) -> str:
    if value.dtype in (torch.bool, torch.int64, torch.int32):
        return str(value.tolist())
    rows = value.detach().double().reshape(-1, value.shape[-1]) if value.dim() else value.reshape(1, 1)
    text = ", ".join("[" + ", ".join(f"{x:.3f}" for x in row.tolist()) + "]" for row in rows)
    return f"[{text}]" if value.dim() > 1 else text


def _print(lines: list[str]) -> None:
    print("\n".join(line for line in lines if line))


def _student_line(error: BaseException) -> str:
    """The innermost line of the traceback outside this module and torch: the student's line that raised."""
    library = (str(Path(__file__).resolve()), str(Path(torch.__file__).resolve().parent))
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if not os.path.realpath(frame.filename).startswith(library):
            return f"  at line {frame.lineno} of {frame.name}(): {frame.line}"
    return ""


def _as_tensor(result: Any, what: str) -> tuple[torch.Tensor | None, str]:
    """The student's return value as a tensor, or None and the reason it is not one."""
    if result is None:
        return None, f"your function returned None: did you forget `return {what}`?"
    if hasattr(result, "indices") and not torch.is_tensor(result):  # a steps.Subgraph or a torch.topk result
        result = result.indices
    if not torch.is_tensor(result):
        try:
            result = torch.as_tensor(result)
        except Exception:
            return None, f"your function returned a {type(result).__name__}; return a torch tensor ({what})."
    if result.is_complex():
        return None, f"your function returned a complex tensor ({result.dtype}); return a real one ({what})."
    try:
        return result.detach().cpu(), ""
    except Exception:
        return None, f"your function returned a tensor on device {result.device}; return it on the CPU."


def _first_difference(got: torch.Tensor, expected: torch.Tensor, axes: tuple[str, str]) -> str:
    """A sentence naming the shape mismatch, or the first entry where got and expected differ; '' if none."""
    if tuple(got.shape) != tuple(expected.shape):
        return f"your output has shape {tuple(got.shape)}, expected {tuple(expected.shape)} ({axes[0]} x {axes[1]})."
    got64, expected64 = got.double(), expected.double()
    close = torch.isclose(got64, expected64, rtol=_RTOL, atol=_ATOL, equal_nan=False)
    if bool(close.all()):
        return ""
    wrong = (~close).nonzero()
    i, j = (int(v) for v in wrong[0])
    return (
        f"entry [{i}, {j}] ({axes[0]} {i}, {axes[1]} {j}) is {float(got64[i, j]):.6g}, "
        f"expected {float(expected64[i, j]):.6g}"
        f" ({len(wrong)} of {got.numel()} entries differ)."
    )


def _same(a: Any, b: Any) -> bool:
    """Whether two outputs are equal (NaN equal to NaN), for matching a mistake."""
    if a is None or b is None or tuple(a.shape) != tuple(b.shape):
        return False
    return bool(torch.isclose(a.double(), b.double(), rtol=_RTOL, atol=_ATOL, equal_nan=True).all())


def _check(
    step: str,
    fn: Callable[..., Any],
    cases: list[_Case],
    reference: Callable[..., torch.Tensor],
    compare: Callable[[torch.Tensor, torch.Tensor, _Case], str],
    diagnoses: list[_Diagnosis],
    same: Callable[[Any, Any, _Case], bool],
    generic_hint: str,
    what: str,
) -> bool:
    """Run ``fn`` on every case, stop at the first one that differs from ``reference``, print, return the verdict."""
    title = f"check_{step}"
    if not callable(fn):
        print(f"✗ {title}: expected a function, got a {type(fn).__name__}. Pass the function itself, without ().")
        return False
    for case in cases:
        inputs = case.copies()
        try:
            result = fn(*inputs)
        except NotImplementedError:
            print(
                f"✗ {title}: not implemented yet (your function raised NotImplementedError). "
                "Write its body, then run this cell again."
            )
            return False
        except Exception as error:  # the student's bug, reported, never raised
            _print(
                [
                    f"✗ {title}, case '{case.name}' ({case.describe()}):",
                    f"  your function raised {type(error).__name__}: {error}",
                    _student_line(error),
                    case.show_small_inputs(),
                ]
            )
            return False
        changed = [
            name
            for name, before, after in zip(case.args, case.args.values(), inputs)
            if torch.is_tensor(before) and not torch.equal(before, after)
        ]
        if changed:
            _print(
                [
                    f"✗ {title}, case '{case.name}': your function changed its input {', '.join(changed)} in place.",
                    "  Hint: a step must leave its inputs alone (the next step still needs them); write "
                    "`x = x + ...` instead of `x += ...` or `x[...] = ...`, or work on `x.clone()`.",
                ]
            )
            return False
        got, problem = _as_tensor(result, what)
        if got is None:
            print(f"✗ {title}, case '{case.name}': {problem}")
            return False
        expected = reference(*case.copies())
        try:
            difference = compare(got, expected, case)
        except Exception as error:  # an output too odd to compare is still the student's, never a crash
            difference = f"your output (shape {tuple(got.shape)}, {got.dtype}) cannot be compared: {error}"
        if difference:
            hint = _diagnose(fn, case, cases, diagnoses, same, what) or generic_hint
            _print(
                [
                    f"✗ {title}, case '{case.name}' ({case.describe()}):",
                    f"  {difference}",
                    case.show_small_inputs(),
                    f"  Hint: {hint}",
                ]
            )
            return False
    names = "; ".join(case.name for case in cases)
    print(
        f"✓ {title}: your function agrees with proxygml_lite.steps.{step} on all {len(cases)} cases "
        f"({names}). Well done!"
    )
    return True


def _run_quietly(function: Callable[..., Any], case: _Case, what: str) -> torch.Tensor | None:
    """``function`` on a fresh copy of the case, its prints and exceptions swallowed (None on an exception)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _as_tensor(function(*case.copies()), what)[0]
    except Exception:
        return None


def _diagnose(fn, failing: _Case, cases: list[_Case], diagnoses: list[_Diagnosis], same, what: str) -> str:
    """The hint of the typical mistake that reproduces the student's output.

    A mistake must reproduce it on the failing case; when several do (a small example cannot tell
    every mistake apart), the one that reproduces it on the most cases wins.
    """
    student = [_run_quietly(fn, case, what) for case in cases]
    failing_index = cases.index(failing)
    best, best_score = "", 0

    def matches(a, b, case) -> bool:
        try:
            return bool(same(a, b, case))
        except Exception:
            return False

    for diagnosis in diagnoses:
        mistaken = [_run_quietly(diagnosis.mistake, case, what) for case in cases]
        if not matches(student[failing_index], mistaken[failing_index], failing):
            continue
        score = sum(matches(a, b, case) for a, b, case in zip(student, mistaken, cases))
        if score > best_score:
            best, best_score = diagnosis.hint, score
    return best


def _unit_rows(generator: torch.Generator, rows: int, dim: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=generator), dim=1)


def _random_labels(generator: torch.Generator, batch: int, num_classes: int) -> torch.Tensor:
    return torch.randint(num_classes, (batch,), generator=generator)


def _random_similarity(generator: torch.Generator, batch: int, num_proxies: int, dim: int = 8) -> torch.Tensor:
    """A realistic S: cosines between random unit vectors (distinct values, no ties)."""
    return _unit_rows(generator, batch, dim) @ _unit_rows(generator, num_proxies, dim).t()


# --------------------------------------------------------------------------------------------
# Notebook 1: the similarity graph S = X P^T
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Notebook 2: the subgraph, top-k of S + 1000 S^pos
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Notebook 3: reverse label propagation Z = W Y^p
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Notebook 4: the mask softmax
# --------------------------------------------------------------------------------------------


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
