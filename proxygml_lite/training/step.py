"""One optimisation step, as a function, and reading its losses back from the device at intervals.

:func:`train_step` is the whole step: ``L = loss_fn(model(images), labels)``,
backward, the optimiser's step (Adam, :func:`build_optimizer`). It returns the
loss and the loss's named terms still on the device; :func:`read_back` moves
the losses of several steps to the host at once (the trainer does so every
``log_every`` steps), so the step never waits for the device.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import LossContractError
from .config import TrainConfig
from .distributed import DistContext, all_reduce_sum

__all__ = [
    "NonFiniteLossError",
    "TERM_COLUMNS",
    "RUN_COLUMNS",
    "check_loss_value",
    "checked_term_names",
    "Trainee",
    "PROXY_SGD_MOMENTUM",
    "SplitOptimizer",
    "build_optimizer",
    "loss_terms",
    "train_step",
    "stack_loss_parts",
    "read_back",
    "check_finite",
    "epoch_sums",
    "add_losses",
    "epoch_row",
]

#: ``metrics.csv`` columns of the loss terms that every run has (ProxyGML's L^s and L^p; NaN for
#: losses without them); a loss's other :meth:`terms` are added after them.
TERM_COLUMNS = ("loss_s", "loss_p")
#: The other ``metrics.csv`` columns of the trainer (the evaluation's metrics follow); a loss's terms may not use them.
RUN_COLUMNS = ("epoch", "loss", "lr_model", "lr_proxies", "backbone_frozen", "train_time_s", "eval_time_s")


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf; the run stops (the last epoch's checkpoint is kept)."""


def check_loss_value(loss, loss_name: str) -> None:
    """:class:`LossContractError` unless ``loss`` is a floating scalar tensor with a gradient (host metadata only)."""
    if isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.is_floating_point() and loss.requires_grad:
        return
    if not isinstance(loss, torch.Tensor):
        got = f"a {type(loss).__name__}"
    elif loss.dim() != 0:
        got = f"a tensor of shape {tuple(loss.shape)}"
    elif not loss.is_floating_point():
        got = f"a {loss.dtype} tensor"
    else:
        got = "a tensor without grad (computed outside autograd, or detached)"
    raise LossContractError(
        f"loss {loss_name!r} returned {got}; the loss contract: loss_fn(embeddings, labels) returns a floating "
        "scalar tensor computed from the embeddings with autograd (e.g. .mean() of per-sample losses, not .item())"
    )


def checked_term_names(terms: dict, loss_name: str, reserved: tuple[str, ...]) -> tuple[str, ...]:
    """The ``metrics.csv`` columns of ``terms()``: :data:`TERM_COLUMNS`, then the loss's own; names in ``reserved``
    (the trainer's columns: :data:`RUN_COLUMNS`, the metrics) are a :class:`LossContractError`."""
    taken = sorted(name for name in terms if name in reserved or not isinstance(name, str))
    if taken:
        raise LossContractError(
            f"loss {loss_name!r}: terms() uses the name(s) {taken}, which metrics.csv already has as its own "
            f"columns ({', '.join(reserved)}); rename these terms (e.g. 'loss_{taken[0]}')"
        )
    return TERM_COLUMNS + tuple(name for name in terms if name not in TERM_COLUMNS)


class Trainee(nn.Module):
    """The model and the loss in one module: ``forward(images, labels) -> L``.

    Under DistributedDataParallel this is the wrapped module, so the loss's
    parameters (the proxies ``P``) are synchronised like the model's.
    """

    def __init__(self, model: nn.Module, loss_fn: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model(images), labels)


#: Momentum of the proxies' SGD (``proxy_optimizer="sgd"``): Adam's own β1 = 0.9, so that the swap removes what
#: Adam adds beyond a momentum, its per-coordinate step normalisation (second moment and ε). The step sizes
#: still differ: SGD's is about 10 lr g once the momentum is built up, Adam's about lr when |g| > ε = 0.01 and
#: lr g / ε below (see the probe ``row8_proxy_sgd`` in :mod:`proxygml_lite.studies.design`).
PROXY_SGD_MOMENTUM = 0.9


class SplitOptimizer:
    """Adam for the model and SGD for the proxies, used as one optimiser (``proxy_optimizer="sgd"``).

    It offers what the trainer, the learning-rate decay, the gradient scaler
    and the checkpoint use of an optimiser: ``param_groups`` (the live groups
    of both, model first, so the decay and the warm-up act on both as on one
    Adam), ``zero_grad``, ``step`` and ``state_dict`` / ``load_state_dict``
    (``{"adam": ..., "sgd": ...}``, tensors, numbers and strings only, which
    the safe checkpoint loader reads).
    """

    def __init__(self, adam: torch.optim.Adam, sgd: torch.optim.SGD) -> None:
        self.parts = {"adam": adam, "sgd": sgd}

    @property
    def param_groups(self) -> list[dict]:
        return [group for optimizer in self.parts.values() for group in optimizer.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.parts.values():
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self.parts.values():
            optimizer.step()
        return loss

    def state_dict(self) -> dict:
        return {name: optimizer.state_dict() for name, optimizer in self.parts.items()}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != set(self.parts):
            raise ValueError(
                "the checkpoint's optimiser state is not Adam (model) + SGD (proxies); resume with the run's own "
                "--proxy-optimizer, or start a new run in another --out"
            )
        for name, optimizer in self.parts.items():
            optimizer.load_state_dict(state[name])


def build_optimizer(
    model: nn.Module, loss_fn: nn.Module, config: TrainConfig
) -> torch.optim.Optimizer | SplitOptimizer:
    """The optimiser of ``[model @ modellr, loss parameters (proxies) @ centerlr]``, both with ``weight_decay``.

    ``proxy_optimizer="adam"`` (official): one Adam with ``eps`` over both
    groups. ``"sgd"`` (this package's probe of why a class's proxies merge):
    Adam for the model as before, SGD for the proxies at the same ``centerlr``
    and ``weight_decay`` (L2 added to the gradient, as Adam's), with momentum
    :data:`PROXY_SGD_MOMENTUM`, in a :class:`SplitOptimizer`.
    """
    groups = [{"params": list(model.parameters()), "lr": config.modellr, "name": "model"}]
    loss_params = list(loss_fn.parameters())
    proxies = {"params": loss_params, "lr": config.centerlr, "name": "proxies"}
    if config.proxy_optimizer == "adam" or not loss_params:
        return torch.optim.Adam(
            groups + ([proxies] if loss_params else []), eps=config.eps, weight_decay=config.weight_decay
        )
    if config.proxy_optimizer != "sgd":
        raise ValueError(f"proxy_optimizer must be 'adam' or 'sgd'; got {config.proxy_optimizer!r}")
    adam = torch.optim.Adam(groups, eps=config.eps, weight_decay=config.weight_decay)
    sgd = torch.optim.SGD([proxies], momentum=PROXY_SGD_MOMENTUM, weight_decay=config.weight_decay)
    return SplitOptimizer(adam, sgd)


def loss_terms(loss_fn: nn.Module) -> dict[str, torch.Tensor]:
    """The named, detached terms of the loss's last call (``loss_fn.terms()``), ``{}`` without them."""
    terms = getattr(loss_fn, "terms", None)
    return dict(terms()) if callable(terms) else {}


def train_step(
    trainee: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    images: torch.Tensor,
    labels: torch.Tensor,
    amp_dtype: torch.dtype | None = None,
    *,
    in_place_zero_grad: list[nn.Parameter] | None = None,
    loss_name: str = "loss_fn",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimisation step on a batch already on the device: ``L``, backward, Adam.

    ``trainee(images, labels)`` computes the loss (a :class:`Trainee`, or DDP
    around one). Returns the detached loss and ``loss_fn``'s terms, left on
    the device: nothing here waits for the device, so the host can queue the
    next batch while this one runs (the caller reads them back at intervals).

    ``in_place_zero_grad``: ``None`` drops the gradients before backward
    (``set_to_none``: frozen parameters truly stay put). A list zeroes them in
    place like the official code's PyTorch 1.2 ``zero_grad()``, and gives the
    listed (frozen) parameters zero gradients, so Adam's momentum and weight
    decay still move them (``--warmup-mode official``). ``loss_name``: the
    registered name, for the :class:`LossContractError` of a loss that does
    not return a floating scalar tensor with a gradient.
    """
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        loss = trainee(images, labels)
    check_loss_value(loss, loss_name)
    optimizer.zero_grad(set_to_none=in_place_zero_grad is None)
    for p in in_place_zero_grad or ():
        if p.grad is None:  # e.g. after a resume: the official run's gradients exist since epoch 0
            p.grad = torch.zeros_like(p)
    scaler.scale(loss).backward()  # fp16 only: the scaler's inf check is the one synchronisation
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), loss_terms(loss_fn)


def stack_loss_parts(loss: torch.Tensor, terms: dict, names: tuple[str, ...]) -> torch.Tensor:
    """``[L, terms[name] for name in names]`` as one float32 vector on ``loss``'s device (NaN for absent terms)."""
    missing = loss.new_full((), math.nan, dtype=torch.float32)
    return torch.stack(
        [loss.float()]
        + [
            torch.as_tensor(terms[name], dtype=torch.float32, device=loss.device).reshape(())
            if name in terms
            else missing
            for name in names
        ]
    )


def read_back(pending: list, ctx: DistContext, reduce: bool = True) -> list[tuple[int, list[float]]]:
    """``[(step, [L, *terms])]`` on the host for the pending ``(step, parts)``: one synchronisation for all.

    Averaged over the processes (``reduce``; every process must call it at the
    same step). Empties ``pending``.
    """
    if not pending:
        return []
    parts = torch.stack([p for _, p in pending])
    if reduce:
        parts = all_reduce_sum(parts, ctx) / ctx.world_size
    values = parts.cpu().tolist()
    steps = [step for step, _ in pending]
    pending.clear()
    return list(zip(steps, values))


def check_finite(value: float, epoch: int, epochs: int, step: int, steps: int, out) -> None:
    """Raise :class:`NonFiniteLossError` naming the epoch and step (1-based, as in the log) of a NaN/Inf loss."""
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"non-finite loss ({value}) at epoch {epoch + 1}/{epochs} (as in the log and the "
            f"`epoch` column of metrics.csv), step {step + 1} of {steps}: training stopped. "
            f"The checkpoint of the last finished epoch is kept in {out}. Lower --modellr/--centerlr, "
            "drop --amp bf16/fp16 if given, or check the data."
        )


def epoch_sums(frozen: bool, lrs: list[float], resumed: dict) -> dict:
    """The running sums of an epoch: its losses, steps, training time, warm-up and lrs (``resumed``: the sums saved
    mid-epoch, which win)."""
    return {"loss": 0.0, "count": 0, "train_time_s": 0.0, "frozen": frozen, "lrs": lrs, **resumed}


def add_losses(sums: dict, value: float, terms: list[float], term_names) -> None:
    """Add one step's loss ``value`` and its ``terms`` (named ``term_names``) to the epoch's ``sums``."""
    sums["loss"] += value
    for name, term in zip(term_names, terms):
        sums[name] = sums.get(name, 0.0) + term
    sums["count"] += 1
    sums["last_loss"] = value


def epoch_row(epoch: int, sums: dict, param_groups: list[dict], term_names) -> dict:
    """The ``metrics.csv`` row of 0-based ``epoch`` from its running sums: mean loss and terms, lrs, warm-up."""
    count = max(sums["count"], 1)
    lrs = {group.get("name"): lr for group, lr in zip(param_groups, sums["lrs"])}  # by group name, not position
    return {
        "epoch": epoch + 1,
        **{name: sums.get(name, math.nan) / count for name in term_names},
        "loss": sums["loss"] / count,
        "lr_model": lrs["model"],
        "lr_proxies": lrs.get("proxies"),
        "backbone_frozen": bool(sums["frozen"]),
        "train_time_s": round(sums["train_time_s"], 3),
    }
