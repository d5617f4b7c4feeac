"""The schedule of a run: the official learning-rate decay, the warm-up rule, and stopping (SIGINT, SIGTERM) between steps.

Warm-up (``--warm``, ``--warmup-mode``). ``head-first`` (default) trains only
the embedding head and the proxies during the first ``warm`` epochs (0-based
epochs ``0 .. warm-1``). The official script trains everything in epoch 0,
freezes the backbone after epoch 0 and unfreezes it after epoch ``warm``, so
its backbone is frozen during epochs ``1 .. warm``; ``--warmup-mode
official`` reproduces that, including a side effect of the official
``optimizer.zero_grad()`` (PyTorch 1.2 zeroes gradients in place): Adam still
steps the "frozen" backbone with zero gradients, so momentum and weight decay
keep moving it. The default mode freezes it truly.

``--start-epoch E`` has the official meaning: a fresh run starts at the
0-based epoch ``E`` (use ``--resume`` to continue a run); the lr decays of the
skipped epochs are not applied, and the official warm-up never happens.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["OfficialStepDecay", "backbone_frozen", "apply_warmup", "StopRequested", "StopSignals"]


class OfficialStepDecay:
    """The official learning-rate schedule, resumable.

    At the start of 0-based epoch ``e`` (:meth:`begin_epoch`), if ``e + 1`` is
    in ``milestones``, every parameter group's lr is multiplied by ``rate``.
    ``last_epoch`` remembers the last epoch begun, so calling
    :meth:`begin_epoch` again for that epoch (after a mid-epoch resume) does
    not decay twice.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, milestones, rate: float) -> None:
        self.optimizer = optimizer
        self.milestones = tuple(int(m) for m in milestones)
        self.rate = float(rate)
        self.last_epoch = -1

    def begin_epoch(self, epoch: int) -> bool:
        """Apply the decays due up to ``epoch``; True if the lrs changed."""
        changed = False
        for e in range(self.last_epoch + 1, epoch + 1):
            if e + 1 in self.milestones:
                for group in self.optimizer.param_groups:
                    group["lr"] *= self.rate
                changed = True
        self.last_epoch = max(self.last_epoch, epoch)
        return changed

    def state_dict(self) -> dict[str, Any]:
        return {"milestones": list(self.milestones), "rate": self.rate, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.milestones = tuple(state["milestones"])
        self.rate = float(state["rate"])
        self.last_epoch = int(state["last_epoch"])


def backbone_frozen(epoch: int, warm: int, mode: str, start_epoch: int = 0) -> bool:
    """Whether the backbone is frozen (only head + proxies train) in 0-based ``epoch``.

    ``"head-first"``: epochs ``0 .. warm-1``. ``"official"``: epochs ``1 ..
    warm``, which is what the official script does (it freezes after epoch 0
    and unfreezes after epoch ``warm``); a run started at ``start_epoch > 0``
    never passes epoch 0, so the official script never freezes it.
    """
    if warm <= 0:
        return False
    if mode == "head-first":
        return epoch < warm
    if mode == "official":
        return start_epoch == 0 and 1 <= epoch <= warm
    raise ValueError(f"warmup_mode must be 'head-first' or 'official'; got {mode!r}")


def apply_warmup(backbone_params: list, epoch: int, config) -> tuple[bool, list | None]:
    """Freeze or unfreeze the backbone for 0-based ``epoch``; returns ``(frozen, in_place_zero_grad)``.

    ``in_place_zero_grad`` is what :func:`~proxygml_lite.training.step.train_step`
    takes: ``None`` (gradients dropped, a frozen backbone stays put) except
    with ``warmup_mode="official"``, where PyTorch 1.2's ``zero_grad()`` zeroed
    them in place, so Adam still steps the frozen backbone (zero gradient +
    weight decay + momentum): then the list of parameters to give zero gradients.
    """
    frozen = backbone_frozen(epoch, config.warm, config.warmup_mode, config.start_epoch)
    for p in backbone_params:
        p.requires_grad_(not frozen)
    if config.warmup_mode != "official":
        return frozen, None
    return frozen, (list(backbone_params) if frozen else [])


class StopRequested(KeyboardInterrupt):
    """The run stopped on a signal (``signum``: SIGINT or SIGTERM) after saving its checkpoint."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class StopSignals:
    """Within ``with``: SIGINT (Ctrl-C) and SIGTERM only ask the run to stop; it stops between two steps.

    A signal never interrupts a step half-way (the forward pass updates the
    BatchNorm statistics before Adam steps, so a half-done step cannot be
    saved or undone): the trainer calls :meth:`raise_if_requested` after each
    step and after each epoch, then saves and stops. Every signal, the first
    and any repeated one, only prints a line; ``kill -9`` stops at once (the
    last checkpoint is intact). Outside the main thread (where signal handlers
    cannot be installed) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, say: Callable[[str], None] | None = None) -> None:
        self.signum: int | None = None
        self.say = say or (lambda message: None)
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = signum
            self.say(f"\n{name}: finishing this step, then saving a checkpoint (kill -9 stops at once)")
        else:
            self.say(f"\n{name}: already stopping after this step (kill -9 stops at once)")

    def raise_if_requested(self) -> None:
        """Raise :class:`StopRequested` if a signal arrived (call it between steps)."""
        if self.signum is not None:
            raise StopRequested(self.signum)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
