"""The parts of the training wing, each alone: data and parts from a config, the step, the run folder, the config kept."""

import copy
import json
from functools import partial

import pytest
import torch
from _fabricate import tiny_config

from proxygml_lite.training import build_data, build_parts, config_from_preset, train, train_step
from proxygml_lite.training.distributed import DistContext
from proxygml_lite.training.run_folder import RunFolder, default_run_dir
from proxygml_lite.training.step import TERM_COLUMNS, epoch_row, read_back, stack_loss_parts

#: What this file's runs change in the shared tiny run (_fabricate.tiny_config).
tiny = partial(tiny_config, epochs=1, warm=0, compute_nmi=False, eval_untrained=False, recall_ks=(1,))


def test_data_and_parts_come_from_the_config_alone(data_root):
    config = tiny(data_root)
    data = build_data(config, DistContext(), torch.device("cpu"))
    assert data.num_classes == len(data.train_set.classes) and data.recall_ks == (1,)
    assert data.steps_per_epoch in (len(data.train_set) // 8, -(-len(data.train_set) // 8))
    parts = build_parts(config, data, torch.device("cpu"))
    groups = {g["name"]: g for g in parts.optimizer.param_groups}
    assert groups["proxies"]["lr"] == config.centerlr and groups["model"]["lr"] == config.modellr
    assert parts.loss_fn.proxies.shape == (data.num_classes * 2, 8)
    assert parts.loss_fn.validate is False  # value checks off in the loop; the targets were checked once


def test_train_step_is_one_adam_step_and_returns_device_tensors(data_root):
    config = tiny(data_root)
    data = build_data(config, DistContext(), torch.device("cpu"))
    parts = build_parts(config, data, torch.device("cpu"))
    images, labels = next(iter(data.train_loader))
    before = parts.loss_fn.proxies.detach().clone()
    loss, terms = train_step(parts.trainee, parts.loss_fn, parts.optimizer, parts.scaler, images, labels)
    assert not torch.equal(before, parts.loss_fn.proxies)  # the proxies moved
    assert isinstance(loss, torch.Tensor) and not loss.requires_grad and set(terms) == set(TERM_COLUMNS)
    parts_vector = stack_loss_parts(loss, terms, TERM_COLUMNS + ("absent",))
    pending = [(0, parts_vector)]
    ((step, values),) = read_back(pending, DistContext())
    assert step == 0 and pending == [] and values[0] == pytest.approx(float(loss))
    assert values[3] != values[3]  # a term the loss does not have is NaN
    sums = {
        "loss": values[0],
        "loss_s": values[1],
        "loss_p": values[2],
        "count": 1,
        "frozen": False,
        "lrs": [g["lr"] for g in parts.optimizer.param_groups],
        "train_time_s": 0.0,
    }
    row = epoch_row(0, sums, parts.optimizer.param_groups, TERM_COLUMNS)
    assert row["epoch"] == 1 and row["lr_proxies"] == config.centerlr and row["loss"] == pytest.approx(values[0])


def test_the_trainer_never_changes_the_config_it_is_given(data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run folder runs/<dataset>-<loss>-<time> goes here
    config = tiny(data_root)
    kept = copy.deepcopy(config)
    train(config)
    assert config == kept and config.out is None
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "config.json").read_text())["out"] == str(run.relative_to(tmp_path))


def test_run_folder_refuses_a_used_folder_without_resume(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.existing_checkpoint(resume=False) is None
    folder.write_results({"metrics": {"R@1": 0.5}, "epochs": 1, "config": {}})
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        folder.existing_checkpoint(resume=False)
    assert folder.finished_metrics({"epoch": 1}, epochs=1) == {"R@1": 0.5}
    assert folder.finished_metrics({"epoch": 0}, epochs=1) is None
    assert RunFolder(tmp_path / "x", writer=False).write_results({}) is None and not (tmp_path / "x").exists()
    assert str(default_run_dir(config_from_preset("glyphs", out="somewhere"))) == "somewhere"
