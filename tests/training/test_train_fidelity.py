"""Issue 10: the official precision, warm-up side effect and --start-epoch; the training command's messages."""

from functools import partial

import pytest
import torch
from _fabricate import tiny_argv, tiny_config

from proxygml_lite.train import main, parse_args
from proxygml_lite.training.config import TrainConfig
from proxygml_lite.training.device import resolve_amp
from proxygml_lite.training.presets import PRESETS, config_from_preset
from proxygml_lite.training.schedule import backbone_frozen
from proxygml_lite.training.setup import backbone_parameters
from proxygml_lite.training.trainer import train

#: What this file's runs change in the shared tiny run (_fabricate.tiny_config).
tiny = partial(tiny_config, epochs=2, new_epoch_to_decay=(10,), eval_untrained=False, compute_nmi=False)


# --------------------------------------------------------------------------- precision


def test_every_preset_trains_in_float32_like_the_official_code():
    assert TrainConfig().amp == "none"
    for name in PRESETS:
        assert config_from_preset(name).amp == "none", name
        assert parse_args(["--dataset", name]).amp == "none", name
    assert resolve_amp("none", torch.device("cuda")) is None  # no autocast even on a GPU
    assert parse_args(["--dataset", "cub200", "--amp", "bf16"]).amp == "bf16"  # explicit option
    assert resolve_amp("bf16", torch.device("cuda")) is torch.bfloat16


# --------------------------------------------------------------------------- official warm-up side effect


def _adam_zero_gradient_steps(param, state, steps, lr, betas, eps, weight_decay):
    """Independent re-implementation of torch.optim.Adam (L2 weight decay) fed a zero gradient ``steps`` times."""
    p = param.detach().clone().double()
    m, v, t = state["exp_avg"].double().clone(), state["exp_avg_sq"].double().clone(), int(state["step"])
    b1, b2 = betas
    for _ in range(steps):
        t += 1
        g = weight_decay * p  # the gradient is 0; weight decay adds wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1**t) * m / ((v / (1 - b2**t)).sqrt() + eps)
    return p


def test_official_warmup_keeps_moving_the_frozen_backbone_through_adam(data_root, tmp_path):
    """Official (PyTorch 1.2 zero_grad in place): Adam's momentum and weight decay move the frozen backbone."""
    saved = {}

    def spy(event, info):
        if event != "epoch_end":
            return
        trainer = info["trainer"]
        params = backbone_parameters(trainer.model)
        saved[info["epoch"]] = [p.detach().clone() for p in params]
        if info["epoch"] == 0:
            group = trainer.optimizer.param_groups[0]
            saved["hyper"] = dict(
                lr=group["lr"], betas=group["betas"], eps=group["eps"], weight_decay=group["weight_decay"]
            )
            saved["state"] = [
                {k: v.clone() if torch.is_tensor(v) else v for k, v in trainer.optimizer.state[p].items()}
                for p in params
            ]
            saved["steps"] = trainer.steps_per_epoch

    # warm=1, official: epoch 0 trains everything, epoch 1 (0-based) has the backbone "frozen"
    train(tiny(data_root, tmp_path / "run", warmup_mode="official"), callback=spy)
    before, after = saved[0], saved[1]
    drift = max((a - b).abs().max().item() for a, b in zip(after, before))
    assert drift > 1e-5, "officially the 'frozen' backbone still moves"
    for b, a, state in zip(before, after, saved["state"]):
        expected = _adam_zero_gradient_steps(b, state, saved["steps"], **saved["hyper"])
        # float32 rounding of 3 steps on weights ~1 is ~1e-7; the drift itself is ~1e-3
        assert torch.allclose(a.double(), expected, rtol=0, atol=1e-6)


def test_head_first_warmup_freezes_the_backbone_truly(data_root, tmp_path):
    saved = {}

    def spy(event, info):
        trainer = info["trainer"]
        if info["epoch"] == 0 and (event == "epoch_end" or info.get("step") == 1):
            saved[event] = [p.detach().clone() for p in backbone_parameters(trainer.model)]
            saved["state"] = [trainer.optimizer.state.get(p) for p in backbone_parameters(trainer.model)]

    train(tiny(data_root, tmp_path / "run", epochs=1, warmup_mode="head-first"), callback=spy)
    assert all(not s for s in saved["state"])  # Adam never saw a backbone gradient
    assert all(torch.equal(a, b) for a, b in zip(saved["step_end"], saved["epoch_end"]))


def test_official_warmup_freezes_nothing_when_started_later():
    assert [backbone_frozen(e, 1, "official", start_epoch=2) for e in range(2, 5)] == [False] * 3
    assert [backbone_frozen(e, 1, "official", start_epoch=0) for e in range(3)] == [False, True, False]


# --------------------------------------------------------------------------- --start-epoch


def test_start_epoch_has_the_official_meaning(data_root, tmp_path):
    assert parse_args(["--start-epoch", "3"]).start_epoch == 3
    with pytest.raises(ValueError, match="start_epoch 5 leaves no epoch"):
        config_from_preset("glyphs", epochs=5, start_epoch=5)
    out = tmp_path / "run"
    # decay at the 0-based epoch 0 (1 in the list), which a run started at epoch 1 never reaches; decay at 2 is applied
    train(tiny(data_root, out, epochs=3, start_epoch=1, new_epoch_to_decay=(1, 3), warmup_mode="official"))
    with open(out / "metrics.csv") as fh:
        rows = [line.split(",") for line in fh.read().splitlines()]
    header, rows = rows[0], rows[1:]
    col = {name: header.index(name) for name in ("epoch", "lr_model", "backbone_frozen")}
    assert [int(r[col["epoch"]]) for r in rows] == [2, 3]
    assert [float(r[col["lr_model"]]) for r in rows] == pytest.approx([1e-3, 1e-4])
    assert [r[col["backbone_frozen"]] for r in rows] == ["False", "False"]  # official: never frozen after start > 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 3


# --------------------------------------------------------------------------- messages


def test_several_gpu_ids_point_to_torchrun(capsys):
    assert main(["--gpu", "0", "1", "--dataset", "glyphs"]) == 2
    err = capsys.readouterr().err
    assert "torchrun --nproc_per_node 2" in err and "CUDA_VISIBLE_DEVICES=0,1" in err


@pytest.mark.parametrize("content", ["{1: 2", "[1, 2, 3]", '{"1": 2}', "\xff"])
def test_a_damaged_config_json_under_resume_names_the_file(tmp_path, capsys, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match="config.json") as err:
        parse_args(["--resume", "--out", str(run)])
    assert str(run / "config.json") in str(err.value) and "another --out" in str(err.value)
    assert main(["--resume", "--out", str(run)]) == 2
    assert str(run / "config.json") in capsys.readouterr().err


def test_ctrl_c_message_counts_epochs_like_the_log(data_root, tmp_path, capsys, monkeypatch):
    from proxygml_lite.training.trainer import Trainer

    original = Trainer.step
    calls = {"n": 0}

    def interrupted(self, images, labels):
        calls["n"] += 1
        if calls["n"] == self.steps_per_epoch + 2:  # epoch 1 (0-based), step 1
            raise KeyboardInterrupt
        return original(self, images, labels)

    monkeypatch.setattr(Trainer, "step", interrupted)
    out = tmp_path / "run"
    assert main(tiny_argv(data_root, out) + ["--epochs", "3", "--no-eval-untrained", "--no-nmi"]) == 130
    captured = capsys.readouterr()
    assert "epoch 1/3: loss" in captured.out  # the log line of the finished first epoch
    assert "Interrupted in epoch 2/3 after step 1 of 3" in captured.err


def test_dataset_options_json_error_shows_a_dataset_options_example(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "glyphs", "--dataset-options", "{images_per_face: 2}"])
    message = capsys.readouterr().err.splitlines()[-1]  # the line after the usage text
    assert "--dataset-options '{\"images_per_face\": 2}'" in message and "--loss-kwargs" not in message
    with pytest.raises(SystemExit):
        parse_args(["--loss-kwargs", "[1]"])
    assert "--loss-kwargs '{\"margin\": 0.1}'" in capsys.readouterr().err


def test_non_finite_loss_message_is_one_based(data_root, tmp_path, monkeypatch):
    from proxygml_lite.loss import ProxyGMLLoss
    from proxygml_lite.training.step import NonFiniteLossError

    original = ProxyGMLLoss.forward
    calls = {"n": 0}

    def nan_at_second_call(self, embeddings, labels):
        calls["n"] += 1
        value = original(self, embeddings, labels)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(ProxyGMLLoss, "forward", nan_at_second_call)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1/2 .*step 2 of 3"):
        train(tiny(data_root, tmp_path / "run"))


# --------------------------------------------------------------------------- NMI protocol


@pytest.mark.parametrize("choice,expected", [("auto", "sklearn"), ("fast", "fast")])
def test_training_evaluates_nmi_with_the_datasets_official_protocol(data_root, tmp_path, monkeypatch, choice, expected):
    from proxygml_lite import evaluation

    seen = []
    original = evaluation.evaluate

    def spy(*args, **kwargs):
        seen.append(kwargs["nmi_protocol"])
        return original(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", spy)
    train(tiny(data_root, tmp_path / "run", epochs=1, compute_nmi=True, nmi_protocol=choice))
    assert seen == [expected]
    assert parse_args(["--dataset", "sop"]).nmi_protocol == "auto"
    assert parse_args(["--nmi-protocol", "fast"]).nmi_protocol == "fast"


def test_official_warmup_resumed_in_the_frozen_epoch_equals_the_uninterrupted_run(data_root, tmp_path):
    """After a resume the gradients are gone; officially they are zero tensors, so Adam must still step."""
    straight = tmp_path / "straight"
    train(tiny(data_root, straight, warmup_mode="official"))

    def stop(event, info):
        if event == "step_end" and (info["epoch"], info["step"]) == (1, 1):
            raise KeyboardInterrupt

    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train(tiny(data_root, resumed, warmup_mode="official"), callback=stop)
    train(tiny(data_root, resumed, warmup_mode="official", resume=True))
    a = torch.load(straight / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(resumed / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_paper_presets_use_the_official_nmi_protocol_and_glyphs_the_fast_one():
    from proxygml_lite.evaluation import official_nmi_protocol

    for name, expected in (("cub200", "sklearn"), ("cars196", "sklearn"), ("online_products", "faiss")):
        cfg = config_from_preset(name)
        assert cfg.nmi_protocol == "auto" and official_nmi_protocol(cfg.dataset) == expected
    assert config_from_preset("glyphs").nmi_protocol == "fast"  # no official protocol; labelled in the README


def test_amp_auto_takes_bf16_only_where_the_gpu_computes_it_natively(monkeypatch):
    """An emulated bfloat16 (``is_bf16_supported()`` says yes on a T4) is slower than float16: asked without it."""
    import torch

    from proxygml_lite.training import device

    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        torch.cuda,
        "is_bf16_supported",
        lambda including_emulation=True: asked.append(including_emulation) or including_emulation,
    )
    assert device.native_bf16() is False and asked == [False]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.native_bf16() is False
