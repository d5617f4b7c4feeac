"""A tiny embedding network and its training loop (notebook 5).

:class:`TinyEmbedding` is a small MLP whose output is L2-normalised, so its
embeddings lie on the unit circle and can be drawn. :func:`train_toy_embedding`
trains it with a proxy loss as a :class:`ToyRecipe` says and returns a :class:`ToyHistory`: the losses, the
test Recall@1, the proxies' within-class and across-class cosines at every step
(:func:`proxy_cosines`) and :class:`Snapshot` s of the embeddings and proxies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import steps
from ..checks import check_int, check_number
from ..loss import ProxyGMLLoss
from ..registry import LOSSES
from ..training.device import torch_threads

__all__ = ["TinyEmbedding", "Snapshot", "ToyHistory", "ToyRecipe", "proxy_cosines", "train_step", "train_toy_embedding"]


class TinyEmbedding(nn.Module):
    """A small MLP ``R^in -> R^d`` whose outputs are L2-normalised (points on the circle/sphere).

    ``depth`` hidden layers of ``hidden`` ReLU units; the inputs are
    standardised with the ``mean``/``std`` given at construction (buffers).
    """

    def __init__(
        self,
        *,
        in_dim: int = 2,
        embedding_dim: int = 2,
        hidden: int = 32,
        depth: int = 2,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
    ):
        super().__init__()
        in_dim = check_int("in_dim", in_dim, 1, "the input dimension")
        embedding_dim = check_int("embedding_dim", embedding_dim, 1, "d, the embedding dimension")
        hidden = check_int("hidden", hidden, 1, "units per hidden layer")
        depth = check_int("depth", depth, 0, "hidden layers; 0 gives a linear map")
        layers, width = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, embedding_dim))
        self.net = nn.Sequential(*layers)
        self.register_buffer("mean", torch.zeros(in_dim) if mean is None else torch.as_tensor(mean).float())
        self.register_buffer("std", torch.ones(in_dim) if std is None else torch.as_tensor(std).float())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net((inputs - self.mean) / self.std), dim=1)


@dataclass
class Snapshot:
    """The state at one training step: ``embeddings`` of the training inputs and normalised ``proxies``."""

    step: int
    embeddings: np.ndarray
    proxies: np.ndarray
    proxy_labels: np.ndarray


@dataclass
class ToyHistory:
    """What :func:`train_toy_embedding` records.

    Attributes:
        name: a label for plots (e.g. ``"ProxyGML N=3"``).
        loss_name, proxies_per_class, r, weight_lambda, seed: the settings.
        k: the subgraph size ``ceil(r C N)`` (``None`` for the baselines).
        steps, loss, loss_s, loss_p: per step (``loss_s``/``loss_p`` are ``nan``
            for the baselines, which have no such terms).
        within_cosine, across_cosine: per step (step 0 included, so one longer
            than ``steps``), :func:`proxy_cosines` of the proxies.
        eval_steps, recall_at_1: Recall@1 on the evaluation set, when given.
        snapshots: :class:`Snapshot` list, including step 0 and the last step.
        final_recall: ``{K: Recall@K}`` on the evaluation set after training.
        model, loss_fn: the trained modules.
    """

    name: str
    loss_name: str
    proxies_per_class: int
    r: float
    weight_lambda: float
    seed: int = 0
    k: int | None = None
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    loss_s: list[float] = field(default_factory=list)
    loss_p: list[float] = field(default_factory=list)
    within_cosine: list[float] = field(default_factory=list)
    across_cosine: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    recall_at_1: list[float] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    final_recall: dict[int, float] = field(default_factory=dict)
    model: nn.Module | None = None
    loss_fn: nn.Module | None = None


def proxy_cosines(proxies, proxy_labels) -> tuple[float, float]:
    """``(mean cosine of two proxies of the same class, largest cosine of two proxies of different classes)``.

    The first is ``nan`` with one proxy per class. Near 1 means that the
    proxies of a class have merged; a large second value means that two
    classes' proxies collide.
    """
    unit = F.normalize(torch.as_tensor(np.asarray(proxies), dtype=torch.float32), dim=1)
    labels = torch.as_tensor(np.asarray(proxy_labels))
    cosine = unit @ unit.t()
    same = labels[:, None] == labels[None, :]
    pairs = same & ~torch.eye(len(labels), dtype=torch.bool)
    within = float(cosine[pairs].mean()) if pairs.any() else math.nan
    across = float(cosine[~same].max()) if (~same).any() else math.nan
    return within, across


def _build_loss(
    loss: str | nn.Module,
    *,
    num_classes: int,
    proxies_per_class: int,
    embedding_dim: int,
    r: float,
    weight_lambda: float,
) -> nn.Module:
    if isinstance(loss, nn.Module):
        return loss
    if loss not in LOSSES:
        raise ValueError(
            f"loss must be one of {LOSSES.choices()} (a registered loss whose module holds .proxies) or an "
            f"nn.Module holding .proxies; got {loss!r}"
        )
    from ..baselines import build_loss

    # ProxyGML takes N, r and lambda; the baselines keep their own defaults
    settings = {"proxies_per_class": proxies_per_class, "r": r, "weight_lambda": weight_lambda}
    return build_loss(loss, num_classes, embedding_dim, **(settings if loss == "proxygml" else {}))


def _recall(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> dict[int, float]:
    from ..evaluation import recall_at_k

    with torch.no_grad():
        embeddings = model(inputs)
    return recall_at_k(embeddings.cpu(), labels.cpu(), ks=tuple(ks), backend="torch")


def train_step(
    model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """One training step: embed the batch, compute the loss, backpropagate, update. Returns the detached loss."""
    loss = loss_fn(model(inputs), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


@dataclass(frozen=True)
class ToyRecipe:
    """How :func:`train_toy_embedding` trains, whatever the loss: the network, Adam, and what it records.

    The network is a :class:`TinyEmbedding` with ``depth`` hidden layers of ``hidden`` units and outputs of dimension
    ``embedding_dim``. Adam takes ``num_steps`` mini-batches of ``batch_size`` (drawn without replacement within a
    batch), with ``lr`` for the model and ``proxy_lr`` (default ``lr``) for the proxies. ``num_snapshots`` evenly
    spaced :class:`Snapshot` s are recorded from step 0 to the last; with evaluation data, Recall@1 every
    ``eval_every`` steps and Recall@K for ``recall_ks`` at the end. ``num_threads`` CPU threads are used while
    training (restored afterwards): the matrices are so small that one thread is fastest, several times faster than
    the default on a busy machine; ``None`` leaves PyTorch's setting alone. Checked at construction.
    """

    embedding_dim: int = 2
    hidden: int = 16
    depth: int = 2
    num_steps: int = 300
    batch_size: int = 64
    lr: float = 1e-2
    proxy_lr: float | None = None
    num_snapshots: int = 6
    eval_every: int = 25
    recall_ks: tuple[int, ...] = (1, 2)
    device: str | torch.device = "cpu"
    num_threads: int | None = 1

    def __post_init__(self) -> None:
        check_int("num_steps", self.num_steps, 1, "training steps")
        check_int("batch_size", self.batch_size, 2, "samples per mini-batch")
        check_int("num_snapshots", self.num_snapshots, 1, "recorded states")
        check_int("eval_every", self.eval_every, 1, "steps between evaluations")
        check_number("lr", self.lr, 0.0, "the learning rate of the model")
        if self.proxy_lr is not None:
            check_number("proxy_lr", self.proxy_lr, 0.0, "the learning rate of the proxies")
        if self.num_threads is not None:
            check_int("num_threads", self.num_threads, 1, "CPU threads while training")


def train_toy_embedding(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    loss: str | nn.Module = "proxygml",
    proxies_per_class: int = 1,
    r: float = 0.4,
    weight_lambda: float = 0.3,
    recipe: ToyRecipe | None = None,
    eval_inputs: torch.Tensor | None = None,
    eval_labels: torch.Tensor | None = None,
    seed: int = 0,
    name: str | None = None,
) -> ToyHistory:
    """Train a :class:`TinyEmbedding` with a proxy loss as ``recipe`` says (default :class:`ToyRecipe`).

    The loss is ``"proxygml"`` (:class:`~proxygml_lite.loss.ProxyGMLLoss` with
    ``N = proxies_per_class``, ``r``, ``lambda = weight_lambda``), or one of the
    one-proxy-per-class baselines of pytorch-metric-learning with their default
    settings: ``"proxynca"`` (``ProxyNCALoss``) or ``"proxyanchor"``
    (``ProxyAnchorLoss``, margin 0.1, alpha 32); or any ``nn.Module`` with a
    ``.proxies`` parameter called as ``loss_fn(embeddings, labels)``. The model
    and the loss's proxies are trained by the same loop. With
    ``eval_inputs``/``eval_labels``, Recall@1 on them is logged during training
    and ``final_recall`` holds Recall@K after it. ``seed`` seeds the model, the
    proxies and the mini-batches; ``name`` labels the run in plots.
    """
    recipe = ToyRecipe() if recipe is None else recipe
    num_classes = check_int("num_classes", num_classes, 2, "C, the number of classes")
    if (eval_inputs is None) != (eval_labels is None):
        raise ValueError("give both eval_inputs and eval_labels, or neither")
    if len(inputs) != len(labels):
        raise ValueError(f"inputs has {len(inputs)} rows but labels has {len(labels)}; they must match")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); map the classes to 0..C-1")
    num_steps, lr = recipe.num_steps, recipe.lr
    proxy_lr = lr if recipe.proxy_lr is None else recipe.proxy_lr

    with torch_threads(recipe.num_threads):
        torch.manual_seed(seed)
        device = torch.device(recipe.device)
        inputs, labels = inputs.float().to(device), labels.long().to(device)
        model = TinyEmbedding(
            in_dim=inputs.shape[1],
            embedding_dim=recipe.embedding_dim,
            hidden=recipe.hidden,
            depth=recipe.depth,
            mean=inputs.mean(0),
            std=inputs.std(0),
        ).to(device)
        loss_fn = _build_loss(
            loss,
            num_classes=num_classes,
            proxies_per_class=proxies_per_class,
            embedding_dim=recipe.embedding_dim,
            r=r,
            weight_lambda=weight_lambda,
        ).to(device)
        if not isinstance(getattr(loss_fn, "proxies", None), torch.Tensor):
            raise ValueError("the loss module must hold its proxies in a .proxies parameter")
        optimizer = torch.optim.Adam(
            [{"params": model.parameters(), "lr": lr}, {"params": loss_fn.parameters(), "lr": proxy_lr}]
        )
        if eval_inputs is not None:
            eval_inputs, eval_labels = eval_inputs.float().to(device), eval_labels.long().to(device)
        loss_name = loss if isinstance(loss, str) else type(loss).__name__
        is_proxygml = isinstance(loss_fn, ProxyGMLLoss)
        per_class = loss_fn.proxies.shape[0] // num_classes
        proxy_labels = steps.proxy_labels(num_classes, per_class).numpy()
        history = ToyHistory(
            name=name or (f"ProxyGML N={proxies_per_class}" if loss_name == "proxygml" else loss_name),
            loss_name=loss_name,
            proxies_per_class=per_class,
            r=r,
            weight_lambda=weight_lambda,
            seed=seed,
            k=loss_fn.k if is_proxygml else None,
            model=model,
            loss_fn=loss_fn,
        )
        snapshot_steps = set(np.linspace(0, num_steps, recipe.num_snapshots).round().astype(int).tolist())
        generator = torch.Generator().manual_seed(seed)
        batch_size = min(recipe.batch_size, len(inputs))

        def record(step: int) -> None:
            proxies = F.normalize(loss_fn.proxies.detach(), dim=1).cpu().numpy()
            within, across = proxy_cosines(proxies, proxy_labels)
            history.within_cosine.append(within)
            history.across_cosine.append(across)
            if step in snapshot_steps:
                with torch.no_grad():
                    embeddings = model(inputs).cpu().numpy()
                history.snapshots.append(Snapshot(step, embeddings, proxies, proxy_labels))
            if eval_inputs is not None and (step % recipe.eval_every == 0 or step == num_steps):
                history.eval_steps.append(step)
                history.recall_at_1.append(_recall(model, eval_inputs, eval_labels, (1,))[1])

        record(0)
        for step in range(1, num_steps + 1):
            batch = torch.randperm(len(inputs), generator=generator)[:batch_size].to(device)
            value = train_step(model, loss_fn, optimizer, inputs[batch], labels[batch])
            history.steps.append(step)
            history.loss.append(float(value))
            terms = loss_fn.terms() if callable(getattr(loss_fn, "terms", None)) else {}
            history.loss_s.append(float(terms["loss_s"]) if "loss_s" in terms else math.nan)
            history.loss_p.append(float(terms["loss_p"]) if "loss_p" in terms else math.nan)
            record(step)
        if eval_inputs is not None:
            history.final_recall = _recall(model, eval_inputs, eval_labels, recipe.recall_ks)
    return history
