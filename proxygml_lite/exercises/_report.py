"""One checker's run: every case through the student's function, the verdict printed, the hint of a mistake.

:func:`_check` runs the student's function on each case (:mod:`._running`: catching its exceptions,
a time limit, capped prints), notices inputs changed in place, compares the output with the
reference (:mod:`._comparing`) and prints the verdict, with the hint of the typical mistake that
reproduces a wrong output (:mod:`._hints`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._comparing import _as_tensor
from ._hints import _diagnose, _Diagnosis, _dtype_hint, _nan_hint
from ._inputs import _Case
from ._running import _call_student, _first_line, _has_empty_body, _student_line, _took_too_long

_WRITE_IT = "Write its body, then run this cell again."


def _print(lines: list[str]) -> None:
    print("\n".join(line for line in lines if line))


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
    if _has_empty_body(fn):
        print(f"✗ {title}: not implemented yet (your function's body is only `...` or `pass`). {_WRITE_IT}")
        return False
    for case in cases:
        inputs = case.copies()
        call = _call_student(fn, inputs)
        print(call.printed, end="")
        result, error = call.result, call.error
        if call.timed_out:
            print(_took_too_long(title, case))
            return False
        if isinstance(error, NotImplementedError):
            print(f"✗ {title}: not implemented yet (your function raised NotImplementedError). {_WRITE_IT}")
            return False
        if isinstance(error, SystemExit):
            print(
                f"✗ {title}, case '{case.name}': your function called exit() / sys.exit() ({error.code!r}). "
                f"A step returns its result ({what}); remove the exit() call."
            )
            return False
        if error is not None:  # the student's bug, reported, never raised
            _print(
                [
                    f"✗ {title}, case '{case.name}' ({case.describe()}):",
                    f"  your function raised {type(error).__name__}: {_first_line(error)}",
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
            hint = (
                _diagnose(fn, case, cases, diagnoses, same, what)
                or _dtype_hint(got, expected, what)
                or _nan_hint(got, expected, what)
                or generic_hint
            )
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
