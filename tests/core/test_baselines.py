"""The loss factory, the baselines in the training pipeline, and the loss-cost measurement."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _fabricate import tiny_config

from proxygml_lite.baselines import BASELINE_DEFAULTS, MetricLossAdapter, build_loss
from proxygml_lite.loss import ProxyGMLLoss
from proxygml_lite.registry import LOSSES
from proxygml_lite.studies.loss_cost import measure_loss_cost
from proxygml_lite.training.trainer import train

LOSS_NAMES = LOSSES.names()  # the built-in losses (collected before any test registers its own)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_builds_and_backpropagates_into_its_parameters(name):
    torch.manual_seed(0)
    loss_fn = build_loss(name, num_classes=5, embedding_dim=8, **({"r": 0.5} if name == "proxygml" else {}))
    params = list(loss_fn.parameters())
    assert params, "the proxies must be parameters (they go to the proxy lr group)"
    x = F.normalize(torch.randn(10, 8), dim=1).requires_grad_(True)
    y = torch.arange(10) % 5
    value = loss_fn(x, y)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    assert x.grad is not None and all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    if name == "proxygml":
        assert isinstance(loss_fn, ProxyGMLLoss) and loss_fn.proxies_per_class == 12
        assert loss_fn.loss_s > 0
    else:
        assert isinstance(loss_fn, MetricLossAdapter)
        assert type(loss_fn.loss).__name__ == BASELINE_DEFAULTS[name][0]


def test_baseline_defaults_and_overrides_reach_the_pml_loss():
    anchor = build_loss("proxyanchor", 4, 6)
    assert (anchor.loss.margin, anchor.loss.alpha) == (0.1, 32)
    assert build_loss("proxyanchor", 4, 6, margin=0.2).loss.margin == 0.2
    soft = build_loss("softtriple", 4, 6)
    assert soft.loss.fc.shape == (6, 4 * 10)  # 10 centres per class
    assert build_loss("proxygml", 4, 6, proxies_per_class=3, r=0.5).proxies.shape == (12, 6)


def test_bad_loss_requests_are_value_errors():
    with pytest.raises(ValueError, match="unknown loss 'arcface'"):
        build_loss("arcface", 4, 8)
    with pytest.raises(ValueError, match="bad keyword arguments for proxyanchor"):
        build_loss("proxyanchor", 4, 8, bogus=1)
    with pytest.raises(ValueError, match="num_classes"):
        build_loss("proxynca", 1, 8)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        build_loss("normsoftmax", 4, 8)(F.normalize(torch.randn(3, 8), dim=1), torch.tensor([0, 1, 4]))


def test_baselines_compute_in_float32_under_autocast():
    loss_fn = build_loss("normsoftmax", 4, 8)
    x = F.normalize(torch.randn(6, 8), dim=1).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss_fn(x, torch.arange(6) % 4)
    assert value.dtype == torch.float32


#: Images per class of the tiny dataset (conftest.py's data_root).
TINY_PER_CLASS = 3


@pytest.mark.parametrize("name", [n for n in LOSS_NAMES if n != "proxygml"])
def test_each_baseline_trains_through_the_same_pipeline(data_root, tmp_path, name):
    steps = []
    config = tiny_config(
        str(data_root),
        str(tmp_path / name),
        loss=name,
        batch_size=6,
        epochs=1,
        warm=0,
        compute_nmi=False,
        eval_untrained=False,
        recall_ks=(1, 2),
        centerlr=0.01,
    )

    def spy(event, info):
        if event == "step_end":
            trainer = info["trainer"]
            steps.append(info["loss"])
            groups = trainer.optimizer.param_groups
            assert [g["name"] for g in groups] == ["model", "proxies"]
            assert {id(p) for p in groups[1]["params"]} == {id(p) for p in trainer.loss_fn.parameters()}
            assert groups[1]["lr"] == 0.01

    metrics = train(config, callback=spy)
    assert len(steps) == 3 and all(np.isfinite(steps))
    assert set(metrics) == {"R@1", "R@2"}
    results = json.loads((tmp_path / name / "results.json").read_text())
    assert results["config"]["loss"] == name


def test_measure_loss_cost_returns_one_row_per_loss_and_class_count():
    table = measure_loss_cost(
        {"proxygml": {"proxies_per_class": 2, "r": 0.5}, "proxyanchor": {}},
        class_counts=(4, 8),
        batch_size=4,
        dim=8,
        repeats=1,
        warmup=0,
    )
    assert list(table.columns) == [
        "loss",
        "num_classes",
        "loss_parameters",
        "time_ms",
        "time_ms_min",
        "repeat_times_ms",
        "saved_tensors_mb",
        "peak_memory_mb",
    ]
    assert len(table) == 4 and all(len(times) == 1 for times in table["repeat_times_ms"])
    assert table.set_index(["loss", "num_classes"])["loss_parameters"].to_dict() == {
        ("proxygml", 4): 4 * 2 * 8,
        ("proxyanchor", 4): 4 * 8,
        ("proxygml", 8): 8 * 2 * 8,
        ("proxyanchor", 8): 8 * 8,
    }
    assert (table["time_ms"] > 0).all() and (table["saved_tensors_mb"] > 0).all()
    assert table["peak_memory_mb"].isna().all()  # CPU: no peak-memory counter
    with pytest.raises(ValueError, match="must not be empty"):
        measure_loss_cost([], class_counts=(4,))
