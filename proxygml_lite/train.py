"""One command for the paper's recipe: ``python -m proxygml_lite.train`` (or :func:`~proxygml_lite.training.trainer.train` from Python).

Examples (the official README commands paste unchanged)::

    python -m proxygml_lite.train --dataset glyphs                     # CPU, minutes
    python -m proxygml_lite.train -b 32 --gpu 2 --dataset cub200 --freeze_BN --epochs 50 --dim 512 \\
        --r 0.05 -C 100 --N 12 --weight_lambda 0.3 --centerlr 0.03 --rate 0.1 --new_epoch_to_decay 20 40
    python -m proxygml_lite.train --resume --out runs/my-run            # continue an interrupted run
    python -m proxygml_lite.train --config runs/my-run --out runs/again  # re-run a saved configuration
    python -m proxygml_lite.train --dataset glyphs_hard                # CPU benchmark with headroom (~1.5 min)
    torchrun --nproc_per_node 2 -m proxygml_lite.train -- --dataset cub200 ...   # data-parallel (note the --)

``--gpu 2`` means ``--device cuda:2``; an explicit ``--device`` wins (e.g.
``--device cpu``). Each run writes to ``--out`` (default
``runs/<dataset>-<loss>-<time>``):

* ``config.json``: the resolved configuration;
* ``metrics.csv``: one row per epoch (``epoch`` counts finished epochs; row 0
  is the untrained model): ``L^s``, ``L^p``, total loss, learning rates, times
  and the evaluation metrics (Recall@K, NMI) where evaluated;
* ``results.json``: final metrics (``metrics``), the untrained model's, and
  run facts, among them ``machine``: the processor and software fingerprint
  (:mod:`.training.fingerprint`) that an exact rerun needs;
* ``checkpoint.pt``: model, loss (proxies), optimiser, schedule, AMP scaler,
  RNG states and data position, rewritten atomically after every epoch and on
  Ctrl-C;
* ``proxies/epoch_<e>.pt`` with ``--save-proxies``: the loss's proxies after
  ``e`` finished epochs (0 = before training).
* ``embeddings/epoch_<e>.pt`` with ``--save-embeddings``: embeddings of a
  fixed seeded subset (``--embedding-samples``, default 1000) of the training
  and of the test samples, with their labels, after ``e`` finished epochs
  (read them with :func:`proxygml_lite.studies.plots.read_embedding_snapshots`).

``--config PATH`` starts from a saved configuration instead of the preset: a
run folder (its ``config.json``), a ``results.json``, or a JSON file holding a
study row's ``config`` column; flags given explicitly override it. With the
same ``--threads`` (recorded in the configuration) a CPU run repeats exactly.

Ctrl-C (SIGINT) or SIGTERM lets the step in progress finish, saves a checkpoint
and prints the command that resumes the run (exit status 130 / 143); a NaN or
infinite loss stops the run with a message naming the epoch and step. One
process writes a run folder: a second training into the same ``--out`` stops
with one line naming the holder (pid, host, start time); the lock of a process
that died is taken over. Bad input (settings, a folder in use, a full disk, a
read-only ``--out`` or ``--data``, a failing ``--import``, a loss that breaks
the loss contract) gives one line, no traceback: ``python -m proxygml_lite.train:
error: <what is wrong>; <fix>`` (:mod:`proxygml_lite.command_line`), a mistyped flag too.

The flags are generated from the fields of
:class:`~proxygml_lite.training.config.TrainConfig` (see
:mod:`proxygml_lite.training.options`); ``--import MODULE`` imports your module first,
so the losses, datasets and backbones it registers are valid choices. The
module is recorded in ``config.json``; ``--config`` and ``--resume`` import it
again after a line saying so (``--no-imports`` refuses), while merely reading
a run folder (:mod:`proxygml_lite.lab.run_views`) never imports anything.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path

from .atomic_writers import WriteError
from .command_line import Parser, refuse
from .fileio import FolderLockedError
from .registry import import_modules
from .training.config import TrainConfig, canonical_dataset
from .training.config_io import config_from_dict, read_config_json
from .training.options import add_flags
from .training.presets import preset
from .training.rerun import preset_filled, read_config_values

__all__ = ["build_parser", "parse_args", "import_recorded_modules", "main"]

#: The command, as refusals and ``--help`` name it.
PROG = "python -m proxygml_lite.train"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Every default is SUPPRESS: absent flags keep the preset's value."""
    p = Parser(
        prog=PROG,
        description=(
            "Train a deep metric learning model with ProxyGML (Zhu et al., NeurIPS 2020) or a baseline loss. "
            "Accepts the official repository's flags; the --dataset preset is applied first, explicit flags "
            "override it."
        ),
        argument_default=argparse.SUPPRESS,
    )
    groups = {
        True: p.add_argument_group("official flags (github.com/YuehuaZhu/ProxyGML train.py)"),
        False: p.add_argument_group("proxygml_lite flags"),
    }
    add_flags(p, TrainConfig, groups)  # every flag comes from a TrainConfig field (its metadata)
    groups[False].add_argument(  # not a setting: whether a saved configuration's modules may be imported
        "--no-imports",
        action="store_true",
        help=(
            "never import the modules a saved configuration records (--config, --resume): stop with an error "
            "instead (by default each is imported after a line saying so)"
        ),
    )
    groups[False].add_argument(  # not a setting: where the settings come from
        "--config",
        help=(
            "re-run a saved configuration exactly: a run folder (or its config.json / results.json), or a JSON file "
            "holding one study row's `config`; flags given explicitly override it; without --out the run goes to a "
            "new folder"
        ),
    )
    return p


def _import_given_modules(argv: list[str] | None) -> None:
    """Import the ``--import`` modules before the parser is built, so their registrations are choices."""
    pre = Parser(prog=PROG, add_help=False)
    pre.add_argument("--import", dest="imports", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    import_modules(known.imports)


_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def import_recorded_modules(values: dict, source, allowed: bool = True) -> None:
    """Import the modules a saved configuration records in ``imports`` (not imported yet), after saying so.

    Reading a configuration never imports them; re-running it (``--config``,
    ``--resume``) does, announced in one line on stderr. ``allowed=False``
    (``--no-imports``) refuses with a ``ValueError`` instead.
    """
    modules = values.get("imports") or ()
    modules = [modules] if isinstance(modules, str) else modules
    if not isinstance(modules, (list, tuple)) or not all(
        isinstance(m, str) and _MODULE_NAME.fullmatch(m) for m in modules
    ):
        raise ValueError(f"{source}: 'imports' must be a list of module names (e.g. [\"mylosses\"]); got {modules!r}")
    missing = [module for module in modules if module not in sys.modules]
    if not missing:
        return
    flags = " ".join(f"--import {module}" for module in missing)
    if not allowed:
        raise ValueError(
            f"{source} records {flags}; --no-imports refuses to import it. Read the module first; if you trust it, "
            f"run without --no-imports (or pass {flags} yourself)"
        )
    print(f"importing {', '.join(missing)}, recorded in {source} (--no-imports refuses)", file=sys.stderr, flush=True)
    import_modules(missing)


def _resolved_values(argv: list[str] | None, base: TrainConfig | None) -> dict:
    """The settings of the command line as a dict, names resolved: preset (or base) first, explicit flags on top."""
    _import_given_modules(argv)
    given = vars(build_parser().parse_args(argv))
    config_path = given.pop("config", None)
    imports_allowed = not given.pop("no_imports", False)
    values = base.to_dict() if base is not None else None
    if config_path is not None:
        values = read_config_values(config_path)
        import_recorded_modules(values, config_path, imports_allowed)
        values = preset_filled(values)  # a partial configuration: the rest from its dataset's preset
    elif values is None and given.get("resume") and given.get("out"):
        saved = os.path.join(given["out"], "config.json")
        if os.path.exists(saved):
            values = read_config_json(saved)
            import_recorded_modules(values, saved, imports_allowed)
    if values is None or ("dataset" in given and canonical_dataset(given["dataset"]) != values["dataset"]):
        dataset = canonical_dataset(given.get("dataset", "glyphs"))
        values = {"dataset": dataset, **preset(dataset)}
    values.update(given)
    values["dataset"] = canonical_dataset(values["dataset"])  # names are resolved before the config is made
    return values


def parse_args(argv: list[str] | None = None, base: TrainConfig | None = None) -> TrainConfig:
    """Resolve the command line: preset of ``--dataset`` (or ``base``) first, explicit flags on top.

    With ``--config PATH`` the saved configuration (:func:`~.training.rerun.load_config`) is the
    base instead of the preset. With ``--resume`` and an existing
    ``<out>/config.json`` (and no ``base``), the saved configuration is the
    base, so ``--resume --out DIR`` alone continues a run. A ``--dataset``
    other than the base's starts from that dataset's preset. The modules a
    saved configuration records in ``imports`` are imported after a line
    saying so (:func:`import_recorded_modules`); ``--no-imports`` refuses.
    """
    return config_from_dict(_resolved_values(argv, base))


def _say_error(exc: BaseException) -> None:
    """The refusal line ``python -m proxygml_lite.train: error: ...`` (:func:`~.command_line.refuse`)."""
    refuse(PROG, exc)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (130 after Ctrl-C, 143 after SIGTERM, 1 after a
    non-finite loss or a failed write, 2 for bad settings or a run folder in use).

    The one place where the known errors become one line on stderr, without a traceback.
    """
    try:
        values = _resolved_values(argv, None)
    except (ValueError, FileNotFoundError) as exc:
        _say_error(exc)
        return 2
    # torch: imported once the command line is parsed, so that --help starts fast
    from .training.run_folder import new_run_dir
    from .training.step import NonFiniteLossError
    from .training.trainer import train

    try:
        # name the run folder before the config is made, so it can be printed: the config is checked once
        values["out"] = values.get("out") or str(new_run_dir(values["dataset"], values.get("loss", "proxygml")))
        config = config_from_dict(values)
    except ValueError as exc:
        _say_error(exc)
        return 2
    try:
        metrics = train(config)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM (StopRequested), or raised by code
        if not (config.out and (Path(config.out) / "checkpoint.pt").exists()):
            print(
                "\nInterrupted before the first checkpoint: nothing to resume, run the command again.", file=sys.stderr
            )
        return 128 + getattr(exc, "signum", signal.SIGINT)
    except NonFiniteLossError as exc:
        _say_error(exc)
        return 1
    except (ValueError, FileNotFoundError, FolderLockedError) as exc:
        _say_error(exc)
        return 2
    except WriteError as exc:  # full disk, read-only --out or --data: the atomic writer left nothing half-written
        _say_error(exc)
        return 1
    if not config.quiet:
        print("final: " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        print(f"run folder: {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
