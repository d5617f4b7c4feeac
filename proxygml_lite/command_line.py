"""What the package's command-line tools share: one form for every refusal.

``python -m proxygml_lite.train``, ``python -m proxygml_lite.studies`` and
``python -m proxygml_lite.data`` refuse in one line on stderr, in argparse's own
form, whether the flag is mistyped or its value is wrong::

    python -m proxygml_lite.train: error: epochs must be an integer >= 1 (--epochs); got 0
    python -m proxygml_lite.train: error: argument --epochs: invalid int value: 'x'; see --help

that is ``<tool>: error: <what is wrong> (<flag, path or value>); <fix>``.
:class:`Parser` is argparse's parser with its usage block left out of a refusal
(``--help`` shows it); :func:`refuse` writes the tool's own refusals.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["Parser", "refuse", "refusal", "whole_number_arg", "seed_arg"]


def refusal(prog: str, problem: object) -> str:
    """The refusal line of tool ``prog``: ``<prog>: error: <problem>``."""
    return f"{prog}: error: {problem}"


def refuse(prog: str, problem: object) -> None:
    """Write :func:`refusal` to stderr in one call (under torchrun every rank may refuse at once: two calls from
    two ranks would interleave into one garbled line)."""
    sys.stderr.write(refusal(prog, problem) + "\n")
    sys.stderr.flush()


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose refusals are one line (:func:`refusal`) pointing to ``--help``.

    Sub-command parsers are made of the same class, so they refuse alike. Give ``prog`` (the tool's
    command) to a parser without ``--help`` of its own too: the refusal points to the tool's.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, refusal(self.prog, f"{message}; see --help") + "\n")


def whole_number_arg(text: str) -> int:
    """An argparse type: a whole number in the digits 0-9 (``int()`` would also take "0_0", "+1", "٠", "０")."""
    from .studies.row_checks import whole_number

    number = whole_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number written in the digits 0-9")
    return number


def seed_arg(text: str) -> int:
    """An argparse type: a seed, a whole number in [0, SEED_MAX] (torch overflows on a larger one)."""
    from .training.config import SEED_MAX

    number = whole_number_arg(text)
    if not 0 <= number <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is outside the seeds' range: pass seeds from 0 to {SEED_MAX}")
    return number
