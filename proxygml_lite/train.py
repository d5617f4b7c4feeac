"""One command for the paper's recipe: ``python -m proxygml_lite.train`` (or :func:`train` from Python).

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
  run facts;
* ``checkpoint.pt``: model, loss (proxies), optimiser, schedule, AMP scaler,
  RNG states and data position, rewritten atomically after every epoch and on
  Ctrl-C;
* ``proxies/epoch_<e>.pt`` with ``--save-proxies``: the loss's proxies after
  ``e`` finished epochs (0 = before training).
* ``embeddings/epoch_<e>.pt`` with ``--save-embeddings``: embeddings of a
  fixed seeded subset (``--embedding-samples``, default 1000) of the training
  and of the test samples, with their labels, after ``e`` finished epochs
  (read them with :func:`proxygml_lite.study_plots.read_embedding_snapshots`).

``--config PATH`` starts from a saved configuration instead of the preset: a
run folder (its ``config.json``), a ``results.json``, or a JSON file holding a
study row's ``config`` column; flags given explicitly override it. With the
same ``--threads`` (recorded in the configuration) a CPU run repeats exactly.

Ctrl-C saves a checkpoint and prints the command that resumes the run; a NaN or
infinite loss stops the run with a message naming the epoch and step.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from .config import TrainConfig, parse_args
from .distributed import cleanup_distributed, init_distributed
from .engine import NonFiniteLossError, Trainer, resolve_device

__all__ = ["train", "main", "NonFiniteLossError"]


def train(config: TrainConfig, callback: Callable[[str, dict], None] | None = None) -> dict[str, float]:
    """Train (or resume) one run; returns the final metrics, e.g. ``{"R@1": 0.61, ..., "NMI": 0.66}``.

    Args:
        config: the run's settings (:func:`~proxygml_lite.config.config_from_preset`).
        callback: optional ``callback(event, info)`` called with ``"step_end"``
            (``epoch``, ``step``, ``steps``, ``loss``) and ``"epoch_end"``
            (``epoch``, ``row``), plus ``trainer`` (the :class:`~proxygml_lite.engine.Trainer`:
            ``trainer.model``, ``trainer.loss_fn``, ...); raising
            ``KeyboardInterrupt`` in it behaves like Ctrl-C.

    Raises:
        KeyboardInterrupt: after saving a checkpoint (resume with ``resume=True``).
        NonFiniteLossError: the loss became NaN/Inf.
        ValueError / FileNotFoundError: bad settings or data.

    Under ``torchrun`` every process calls this; all of them return the metrics,
    only rank 0 writes files.
    """
    config.validate()
    device = resolve_device(config) if config.device != "auto" or config.gpu else None
    use_cuda = device.type == "cuda" if device is not None else __import__("torch").cuda.is_available()
    ctx = init_distributed(use_cuda)
    try:
        return Trainer(config, ctx=ctx, callback=callback).run()
    finally:
        cleanup_distributed(ctx)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (130 after Ctrl-C, 1 after a non-finite loss)."""
    try:
        config = parse_args(argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        metrics = train(config)
    except KeyboardInterrupt:
        if not (config.out and (Path(config.out) / "checkpoint.pt").exists()):
            print("\nInterrupted before the first checkpoint: nothing to resume, run the command again.",
                  file=sys.stderr)
        return 130
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not config.quiet:
        print("final: " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        print(f"run folder: {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
