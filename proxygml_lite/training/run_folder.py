"""The run folder: ``config.json``, ``metrics.csv``, ``results.json``, ``checkpoint.pt``, ``proxies/``.

:class:`RunFolder` is the only part of the trainer that writes files, all of
them atomically and only on the main process (rank 0). Everything in it can
be read back with the standard library, pandas or ``torch.load``.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import nn

from ..atomic_writers import atomic_torch_save, atomic_write_csv, atomic_write_json
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .config_io import REPLACED_BUILTINS, config_with_defaults
from .fingerprint import machine_fingerprint

__all__ = [
    "RunFolder",
    "default_run_dir",
    "new_run_dir",
    "metrics_csv_columns",
    "results_record",
    "read_results_file",
    "RESULTS_KEYS",
    "print_resume_hint",
    "RESUMABLE_CHANGES",
    "CHECKPOINT",
    "PROXY_DIR",
]

#: Settings that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "data",
        "device",
        "gpu",
        "workers",
        "quiet",
        "resume",
        "out",
        "amp",
        "channels_last",
        "eval_batch_size",
        "epoch_to_test",
        "save_proxies",
        "save_embeddings",
        "embedding_samples",
        "nmi_protocol",
        "log_every",
        "imports",
        "check_images",
    }
)
CHECKPOINT = "checkpoint.pt"
PROXY_DIR = "proxies"
#: What every ``results.json`` holds (:func:`results_record`), with the JSON type each reader relies on.
RESULTS_KEYS = {"metrics": dict, "epochs": int, "config": dict}


def read_results_file(path: str | Path) -> dict[str, Any]:
    """The ``results.json`` at ``path`` as a dict, checked: a JSON object with :data:`RESULTS_KEYS` of their types.

    Every reader of a ``results.json`` goes through here, so a damaged one (not JSON, cut short, a JSON list, a
    missing or mistyped key) is one ``ValueError`` naming the file and the fix, never a traceback: the trainer
    writes it from the checkpoint's history, so deleting it and resuming the run writes it again.
    """
    path = Path(path)
    fix = (
        f"delete it and resume the run (python -m proxygml_lite.train --resume --out {shlex.quote(str(path.parent))}) "
        "to write it again, or restore it"
    )
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} is not valid JSON ({detail}): it is damaged or cut short; {fix}") from None
    if not isinstance(results, dict):
        raise ValueError(f"{path} holds a JSON {type(results).__name__}, not a run's results (an object); {fix}")
    for key, kind in RESULTS_KEYS.items():
        value = results.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            found = "missing" if key not in results else f"a JSON {type(value).__name__}"
            raise ValueError(f"{path}: its {key!r} is {found}, not a JSON {_JSON_NAMES[kind]}; {fix}")
    return results


_JSON_NAMES = {dict: "object", int: "integer", list: "list", str: "string"}


def new_run_dir(dataset: str, loss: str) -> Path:
    """A new run folder's name: ``runs/<dataset>-<loss>-<time>``.

    Registered names may hold any character: in the folder's name everything
    but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``, so the folder
    is always one entry inside ``runs/`` (``weird/../../name`` cannot leave it).
    """
    name = f"{dataset}-{loss}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]", "_", name)


def default_run_dir(config: TrainConfig) -> Path:
    """``config.out``, or :func:`new_run_dir` when it is not set."""
    return Path(config.out) if config.out else new_run_dir(config.dataset, config.loss)


class RunFolder:
    """The files of one run under ``path``; ``writer``: whether this process writes them (rank 0)."""

    def __init__(self, path: str | Path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer

    def __str__(self) -> str:
        return str(self.path)

    # ---------------------------------------------------------------- reading
    def existing_checkpoint(self, resume: bool) -> dict | None:
        """The checkpoint to resume from (``None``: start fresh); an error for a used folder without ``resume``."""
        ckpt_path = self.path / CHECKPOINT
        if resume:
            return load_checkpoint(ckpt_path, map_location="cpu") if ckpt_path.exists() else None
        if (self.path / "results.json").exists() or ckpt_path.exists():
            raise ValueError(f"{self.path} already holds a run; pass --resume to continue it, or choose another --out")
        return None

    def check_resume_config(self, saved: dict[str, Any], config: TrainConfig) -> None:
        """``ValueError`` listing the settings that differ from the saved run (beyond :data:`RESUMABLE_CHANGES`)."""
        current = config.to_dict()
        saved = config_with_defaults(saved)  # settings added since the run was saved keep their defaults
        differing = [
            f"{k}: saved {saved.get(k)!r} vs now {current.get(k)!r}"
            for k in sorted(set(saved) | set(current))
            if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k)
        ]
        if differing:
            raise ValueError(
                f"--resume: the settings differ from the run saved in {self.path} ({'; '.join(differing)}). "
                "Resume with the saved settings (`--resume --out DIR` alone reuses them) or start a new run "
                "in another --out"
            )

    def finished_metrics(self, ckpt: dict[str, Any], epochs: int) -> dict[str, float] | None:
        """The final metrics of a run whose checkpoint ``ckpt`` finished ``epochs`` epochs, else ``None``."""
        path = self.path / "results.json"
        if ckpt["epoch"] < epochs or not path.exists():
            return None
        results = read_results_file(path)  # a damaged file: one line naming it
        return results["metrics"] if results["epochs"] == epochs else None

    # ---------------------------------------------------------------- writing
    def write_config(self, config: TrainConfig) -> None:
        """``config.json``: the config, and ``replaced_builtins`` when a package name was redefined (a record only)."""
        if self.writer:
            from ..registry import replaced_builtins

            values = config.to_dict()
            if replaced := replaced_builtins():
                values[REPLACED_BUILTINS] = replaced
            atomic_write_json(self.path / "config.json", values)

    def write_metrics(self, history: list[dict[str, Any]], columns: list[str]) -> None:
        if self.writer:
            atomic_write_csv(self.path / "metrics.csv", history, columns)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        if self.writer:
            atomic_torch_save(state, self.path / CHECKPOINT)

    def save_proxies(self, epoch: int, loss_name: str, num_classes: int, loss_fn: nn.Module) -> None:
        """``proxies/epoch_<epoch>.pt``: every loss parameter (ProxyGML: ``proxies``, ``(C*N, d)``), on the CPU.

        ``epoch`` counts finished epochs (0 = before training), like ``metrics.csv``.
        """
        if not self.writer:
            return
        snapshot = {
            "epoch": epoch,
            "loss": loss_name,
            "num_classes": num_classes,
            "parameters": {name: p.detach().float().cpu().clone() for name, p in loss_fn.named_parameters()},
        }
        atomic_torch_save(snapshot, self.path / PROXY_DIR / f"epoch_{epoch:03d}.pt")

    def write_results(self, results: dict[str, Any]) -> None:
        if self.writer:
            atomic_write_json(self.path / "results.json", results)


def metrics_csv_columns(term_names, metric_columns: list[str]) -> list[str]:
    """Columns of ``metrics.csv``: epoch, the loss terms (``loss_s``, ``loss_p``, a loss's own), times, metrics."""
    from .step import RUN_COLUMNS, TERM_COLUMNS

    epoch, *rest = RUN_COLUMNS
    return [epoch, *(term_names or TERM_COLUMNS), *rest, *metric_columns]


def results_record(
    config: TrainConfig,
    metrics: dict,
    history: list[dict],
    columns: list[str],
    data,
    elapsed_s: float,
    device,
    world_size: int,
) -> dict[str, Any]:
    """What ``results.json`` holds: the final and the untrained model's metrics, and the run's facts."""
    untrained = next((row for row in history if row.get("epoch") == 0), None)
    return {
        "metrics": metrics,
        "untrained_metrics": {k: untrained[k] for k in columns if k in untrained} if untrained else None,
        "epochs": config.epochs,
        "num_classes": data.num_classes,
        "train_samples": len(data.train_set),
        "test_samples": len(data.test_set),
        "elapsed_s": round(elapsed_s, 3),
        "device": str(device),
        "machine": machine_fingerprint(device),  # exact reruns need the same one (training/fingerprint.py)
        "world_size": world_size,
        "skipped_images": data.skipped_images,
        "config": config.to_dict(),
    }


def print_resume_hint(out, epoch: int, epochs: int, step: int, steps: int) -> None:
    """After Ctrl-C: where the run stopped (1-based epoch, like the log's "epoch 3/10") and how to resume it."""
    print(
        f"\nInterrupted in epoch {epoch + 1}/{epochs} after step {step} of {steps}: checkpoint saved in {out}. "
        f"Resume with\n  python -m proxygml_lite.train --resume --out {shlex.quote(str(out))}",
        file=sys.stderr,
        flush=True,
    )
