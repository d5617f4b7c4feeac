"""The studies' design: the paper's ablation rows, the N x r grid, the seeds and the probes.

A study cell is one training run: an ablation row (:func:`ablation_config`),
an ``(N, r)`` grid point or a probe (:data:`PROBES`), at one seed. This
module says which cells there are and how each one's configuration is made
from the study's base configuration; :mod:`.cells` lists them and runs one,
:mod:`.identity` says what makes two cells the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..training.config import TrainConfig

__all__ = [
    "ABLATION_ROWS",
    "GRID_N",
    "GRID_R",
    "SEEDS",
    "SNAPSHOT_SEEDS",
    "ablation_config",
    "Probe",
    "PROBES",
    "probe_configs",
]

#: The paper's ablation table, rows 1-8: (row, S^pos, M, L^p).
ABLATION_ROWS: tuple[tuple[int, bool, bool, bool], ...] = (
    (1, False, False, False),
    (2, True, False, False),
    (3, False, True, False),
    (4, False, False, True),
    (5, False, True, True),
    (6, True, False, True),
    (7, True, True, False),
    (8, True, True, True),
)
#: Seeds of every study cell (five, so that differences can be tested; issue 19).
SEEDS = (0, 1, 2, 3, 4)
#: The N x r grid: N in GRID_N (proxies per class) x r in GRID_R (subgraph scale, k = ceil(r C N)).
GRID_N = (1, 2, 4, 8, 12)
GRID_R = (0.05, 0.15, 0.6)
#: Seeds of the grid cells r = GRID_R[0] that keep proxy and embedding snapshots (notebook 9's UMAP).
SNAPSHOT_SEEDS = (0, 1, 2)


def ablation_config(base_config: TrainConfig, row: int, weight_lambda: float | None = None) -> TrainConfig:
    """The configuration of ablation row ``row`` (1-8): ``S^pos``, ``M`` and ``L^p`` switched as in the paper.

    ``weight_lambda`` is the ``lambda`` of rows with ``L^p`` on (default:
    ``base_config.weight_lambda``, or the paper's 0.3 if that is 0).
    """
    switches = {number: (s_pos, mask, l_p) for number, s_pos, mask, l_p in ABLATION_ROWS}
    if row not in switches:
        raise ValueError(f"ablation rows are numbered 1-8 as in the paper; got {row!r}")
    lam = weight_lambda if weight_lambda is not None else (base_config.weight_lambda or 0.3)
    s_pos, mask, l_p = switches[row]
    return base_config.replace(positive_mask=s_pos, mask_softmax=mask, weight_lambda=lam if l_p else 0.0)


# ------------------------------------------------------------------ the probes
# Each change takes the configuration of its base probe and the study's λ; the first line of its docstring is
# the table's ``change`` column, the rest says what the probe tests.
def _full_proxygml(config: TrainConfig, lam: float) -> TrainConfig:
    """full ProxyGML (ablation row 8 = grid N = 12, r = 0.05)

    The base of the merging probes (notebook 9: a class's N proxies merge by epoch 2-5). Its cells are the
    ablation's row 8 and the grid's N = 12, r = 0.05 cells: one run serves the three studies.
    """
    return ablation_config(config, 8, lam)


def _unit_init(config: TrainConfig, lam: float) -> TrainConfig:
    """unit-norm proxy initialisation (loss_kwargs proxy_init = unit)

    The official draw gives each proxy a norm of about 0.13 (d = 64, C N = 1200), and one Adam epoch at
    centerlr 0.03 takes it to about 0.67: the first steps dwarf the initial proxies. The same draw at norm 1 keeps
    every direction (S and L^p use normalised proxies, so the first step's loss is unchanged) and makes those
    steps small relative to the proxies. If the merging comes from those first steps, the proxies stay apart here.
    """
    return config.replace(loss_kwargs={**config.loss_kwargs, "proxy_init": "unit"})


def _proxy_lr_div10(config: TrainConfig, lam: float) -> TrainConfig:
    """proxy lr / 10 (centerlr)

    Ten times smaller steps for the proxies only; the model's learning rate is unchanged (notebook 10's probe
    lowered both at once). Tests whether the proxies' step size, not the model's, drives the change.
    """
    return config.replace(centerlr=config.centerlr / 10)


def _proxy_sgd(config: TrainConfig, lam: float) -> TrainConfig:
    """SGD for the proxies (momentum 0.9, same lr and weight decay; the model keeps Adam)

    Adam (ε = 0.01) steps each coordinate by lr m / (sqrt(v) + ε): about lr when its gradient g exceeds ε, about
    lr g / ε when g is much smaller. SGD with momentum 0.9 (Adam's β1,
    :data:`proxygml_lite.training.step.PROXY_SGD_MOMENTUM`) steps about 10 lr g once its momentum is built up:
    the step follows the gradient, without Adam's per-coordinate normalisation. At the same lr it is also the
    smaller step wherever |g| < 0.1 (the probe proxy lr / 10 tests the step size alone). Tests whether Adam's
    normalised steps drive the merging.
    """
    return config.replace(proxy_optimizer="sgd")


def _lambda_0(config: TrainConfig, lam: float) -> TrainConfig:
    """λ = 0, L^p off (ablation row 7)

    L^p is the one term on the proxies alone: it classifies each proxy by the summed proxies of each class, which
    rewards a class's proxies for pointing the same way and other classes' for pointing elsewhere. Do the
    proxies merge without it? Row 7 is also the base of notebook 10's collapse probes.
    """
    return config.replace(weight_lambda=0.0)


def _mask_off(config: TrainConfig, lam: float) -> TrainConfig:
    """M off, a plain softmax over all classes (ablation row 2)

    Row 2, the other row with S^pos and without L^p (notebook 10's collapse), probed too: it is row 7 without
    the mask M, and its probes mirror row 7's.
    """
    return config.replace(mask_softmax=False)


def _one_proxy(config: TrainConfig, lam: float) -> TrainConfig:
    """N = 1 (r unchanged, so k = ceil(r C N) follows N: 60 -> 5 at C = 100, r = 0.05)

    With S^pos all N own-class proxies are in every subgraph, so the own-class vote Z_{i,y_i} can reach N while
    each other proxy adds at most 1: L^s can become small without the classes coming apart (notebook 10's
    hypothesis). With N = 1 the own vote is at most 1. Notebook 10's probe also raised r to 0.6 (to keep
    k = 60); here only N is set, and k is what r and N give.
    """
    return config.replace(N=1)


def _lp_on(config: TrainConfig, lam: float) -> TrainConfig:
    """L^p on at the study's λ (ablation row 6)

    Row 2's missing component: does L^p keep the proxies of different classes apart (the between-class proxy
    cosine) and row 2 off its plateau?
    """
    return config.replace(weight_lambda=lam)


@dataclass(frozen=True)
class Probe:
    """One probe: ``name``, the probe whose configuration it changes (``base``; None for the root) and ``change``.

    ``change(base_config, λ)`` returns the probe's configuration; it changes one setting of ``base``.
    """

    name: str
    base: str | None
    change: Callable[[TrainConfig, float], TrainConfig]

    @property
    def description(self) -> str:
        """What the probe changes, in words: the first line of its change's docstring (the ``change`` column)."""
        return (self.change.__doc__ or "").strip().splitlines()[0]


#: The study ``probes``: one setting changed at a time against a named base, 5 seeds each (issue 17, item 4).
#: Why do a class's proxies merge? Against full ProxyGML (row 8): unit-norm initialisation, proxy lr / 10, SGD for
#: the proxies, λ = 0 (= row 7). Why do rows 7 and 2 collapse (notebook 10's probes, one change each)? Row 7 with
#: proxy lr / 10 and with N = 1; row 2 (row 7 without M), with N = 1 and with L^p (= row 6). The rows 8, 7, 2 and 6
#: are ablation cells (run once for both studies); every probe keeps its proxies after each epoch (``save_proxies``).
PROBES: tuple[Probe, ...] = (
    Probe("row8", None, _full_proxygml),
    Probe("row8_unit_init", "row8", _unit_init),
    Probe("row8_proxy_lr_div10", "row8", _proxy_lr_div10),
    Probe("row8_proxy_sgd", "row8", _proxy_sgd),
    Probe("row7", "row8", _lambda_0),
    Probe("row7_proxy_lr_div10", "row7", _proxy_lr_div10),
    Probe("row7_N1", "row7", _one_proxy),
    Probe("row2", "row7", _mask_off),
    Probe("row2_N1", "row2", _one_proxy),
    Probe("row6", "row2", _lp_on),
)


def probe_configs(base_config: TrainConfig, weight_lambda: float | None = None) -> dict[str, TrainConfig]:
    """``{probe name: configuration}`` of :data:`PROBES` on top of ``base_config`` (seed and save flags as given).

    ``weight_lambda``: the λ of the configurations with L^p (default: ``base_config.weight_lambda``, or the
    paper's 0.3 if that is 0), as in :func:`ablation_config`.
    """
    lam = weight_lambda if weight_lambda is not None else (base_config.weight_lambda or 0.3)
    configs: dict[str, TrainConfig] = {}
    for probe in PROBES:
        configs[probe.name] = probe.change(base_config if probe.base is None else configs[probe.base], lam)
    return configs
