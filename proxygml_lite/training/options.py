"""Dataclass fields that carry their own command-line flags and checks.

A setting is written once, as a field::

    epochs: int = setting(50, flag("--epochs", help="number of epochs", official=True), minimum=1)

and from that one line come its default, its flag in ``--help`` (type and
``nargs`` from the annotation), and its check in :func:`check_fields`
(``epochs must be an integer >= 1 (--epochs); got 0``). :func:`add_flags`
builds an ``argparse`` parser from the fields; every flag's default is
``SUPPRESS``, so the flags that were not given are absent from the result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..checks import check_choice, check_int, check_number

__all__ = [
    "Flag",
    "flag",
    "setting",
    "add_flags",
    "check_fields",
    "flag_hint",
    "json_object_arg",
    "pretrained_arg",
    "samples_arg",
]

_TAKES_VALUE = object()
#: argparse ``type`` / ``nargs`` of each annotation used by the settings.
_ANNOTATIONS: dict[str, tuple[Callable | None, str | None]] = {
    "int": (int, None),
    "int | None": (int, None),
    "float": (float, None),
    "str": (str, None),
    "str | None": (str, None),
    "tuple[int, ...]": (int, "+"),
    "tuple[int, ...] | None": (int, "+"),
}


@dataclass(frozen=True)
class Flag:
    """One command-line flag of a setting: ``names``, ``help``; ``store`` makes it a switch that stores that value."""

    names: tuple[str, ...]
    help: str
    official: bool = False
    store: Any = _TAKES_VALUE
    argparse: dict = field(default_factory=dict)


def flag(*names: str, help: str = "", official: bool = False, store: Any = _TAKES_VALUE, **argparse_options) -> Flag:
    """A flag of a setting: a switch that stores ``store``, or a flag that takes a value.

    ``official``: a flag of the official ``train.py`` (listed in its own group);
    other keywords go to ``add_argument`` (``type``, ``nargs``, ``const``, ...).
    """
    return Flag(tuple(names), help, official, store, dict(argparse_options))


def setting(
    default: Any = dataclasses.MISSING,
    *flags: Flag,
    default_factory: Callable[[], Any] | None = None,
    minimum: float | None = None,
    maximum: int | None = None,
    strict: bool = False,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
):
    """A dataclass field with its ``flags`` and its check.

    Args:
        default / default_factory: the default (held here only).
        minimum: integers (and each entry of an integer tuple) must be
            ``>= minimum``; floats must be finite and ``>= minimum`` (``>``
            with ``strict``). ``None`` values are accepted for optional fields.
        maximum: integers must also be ``<= maximum`` (needs ``minimum``).
        choices: allowed strings, or a callable returning them (a registry's
            ``choices``, read when the check or the parser runs).
    """
    metadata = {"flags": flags, "minimum": minimum, "maximum": maximum, "strict": strict, "choices": choices}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _choices(f: dataclasses.Field) -> tuple[str, ...] | None:
    choices = f.metadata.get("choices")
    return choices() if callable(choices) else choices


def flag_hint(f: dataclasses.Field) -> str:
    """How a message names the field's flag: ``-b/--batch-size``; the field name without a flag."""
    flags = f.metadata.get("flags") or ()
    return "/".join(flags[0].names) if flags else f.name


def check_fields(config: Any) -> None:
    """Check every field of ``config`` that declares ``minimum`` (and ``maximum``) or ``choices`` (ValueError naming
    the flag)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        hint = flag_hint(f)
        choices = _choices(f)
        if choices is not None:
            check_choice(f.name, value, choices, hint)
        minimum = f.metadata.get("minimum")
        if minimum is None:
            continue
        if f.type.startswith("tuple"):
            for entry in value:
                check_int(f"each entry of {f.name}", entry, minimum, hint, f.metadata.get("maximum"))
        elif f.type.startswith("int"):
            check_int(f.name, value, minimum, hint, f.metadata.get("maximum"))
        else:
            check_number(f.name, value, minimum, hint, strict=f.metadata.get("strict", False))


def _one_of(read_choices: Callable[[], tuple[str, ...]]) -> Callable[[str], str]:
    """argparse ``type`` accepting the names ``read_choices()`` returns, read on use.

    Unlike argparse ``choices`` (which ``--help`` lists, and so reads), the
    names are read only when a value is parsed: building the parser and
    ``--help`` import none of the registered modules (torch, torchvision).
    """

    def check(value: str) -> str:
        names = read_choices()
        if value not in names:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {value!r} (choose from {', '.join(repr(name) for name in names)})"
            )
        return value

    return check


def add_flags(parser: argparse.ArgumentParser, config_class: type, groups: dict[bool, Any]) -> None:
    """Add the flags of every field of ``config_class`` to ``groups[flag.official]`` (argument groups of ``parser``)."""
    for f in dataclasses.fields(config_class):
        for spec in f.metadata.get("flags", ()):
            options = {"dest": f.name, "help": spec.help, **spec.argparse}
            if spec.store is not _TAKES_VALUE:
                options.update(action="store_const", const=spec.store)
            else:
                kind, nargs = _ANNOTATIONS.get(f.type, (None, None))
                if kind is not None and "type" not in options and options.get("action") is None:
                    options["type"] = kind
                if nargs and "nargs" not in options:
                    options["nargs"] = nargs
                choices = f.metadata.get("choices")
                if callable(choices):  # a registry's names: read when a value is checked, not to build the parser
                    options["type"] = _one_of(choices)
                    options.setdefault("metavar", f.name.upper())
                elif choices is not None:
                    options["choices"] = choices
            groups[spec.official].add_argument(*spec.names, **options)


# ---------------------------------------------------------------- argparse types of some settings
def pretrained_arg(text: str) -> bool | str:
    """argparse type of ``--pretrained``: true/false words, else a path to weights."""
    lowered = text.lower()
    if lowered in ("true", "yes", "1", "imagenet"):
        return True
    if lowered in ("false", "no", "0", "none"):
        return False
    return text


def samples_arg(text: str) -> int | None:
    """argparse type of a sample count where 0 means every sample (``None``)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (0 = every sample)")
    return value or None


def json_object_arg(flag: str, example: str):
    """argparse type for a JSON object flag; its errors show ``example`` for that flag."""

    def parse(text: str) -> dict:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not valid JSON ({exc}); e.g. {flag} '{example}'") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"must be a JSON object, e.g. {flag} '{example}'")
        return value

    parse.__name__ = "JSON object"  # argparse names the type in its message
    return parse
