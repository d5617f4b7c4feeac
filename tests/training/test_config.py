"""TrainConfig, presets, the official command line, the lr schedule and the warm-up rule."""

import json
import shlex

import pytest
import torch
from _fabricate import OFFICIAL_README_COMMANDS

from proxygml_lite.train import parse_args
from proxygml_lite.training.config import TrainConfig
from proxygml_lite.training.config_io import config_from_dict, config_from_json, config_to_json
from proxygml_lite.training.device import resolve_device
from proxygml_lite.training.presets import OFFICIAL_EPOCH_TO_TEST, config_from_preset
from proxygml_lite.training.schedule import OfficialStepDecay, backbone_frozen
from proxygml_lite.training.step import build_optimizer

README = OFFICIAL_README_COMMANDS


@pytest.mark.parametrize("dataset", sorted(README))
def test_readme_commands_resolve_to_the_paper_recipe(dataset):
    cfg = parse_args(shlex.split(README[dataset]))
    sop = dataset == "online_products"
    assert cfg.dataset == dataset
    assert (cfg.batch_size, cfg.epochs, cfg.dim, cfg.r, cfg.rate) == (32, 50, 512, 0.05, 0.1)
    assert (cfg.modellr, cfg.eps, cfg.weight_decay) == (1e-4, 0.01, 1e-4)
    assert cfg.new_epoch_to_decay == (20, 40)
    assert cfg.C == {"cub200": 100, "cars196": 98, "online_products": 11318}[dataset]
    assert cfg.N == (1 if sop else 12)
    assert cfg.weight_lambda == (0.0 if sop else 0.3)
    assert cfg.centerlr == (0.3 if sop else 0.03)
    assert cfg.freeze_bn is (not sop)
    assert cfg.backbone == "bninception" and cfg.pretrained is True  # the presets state the ImageNet weights
    assert cfg.warm == 1 and cfg.warmup_mode == "head-first"
    assert cfg.gpu == (2,)
    assert cfg.loss == "proxygml" and cfg.positive_mask and cfg.mask_softmax
    assert cfg.epoch_to_test == OFFICIAL_EPOCH_TO_TEST
    assert cfg.recall_ks == ((1, 10, 100, 1000) if sop else None)  # None = (1, 2, 4, 8)


def test_presets_alone_equal_the_readme_commands_except_C_and_gpu():
    for dataset, command in README.items():
        from_readme = parse_args(shlex.split(command)).to_dict()
        from_preset = parse_args(["--dataset", dataset]).to_dict()
        differing = {k for k in from_readme if from_readme[k] != from_preset[k]}
        assert differing == {"C", "gpu"}, dataset


def test_gpu_flag_maps_to_a_cuda_device_and_device_overrides_it():
    cfg = parse_args(shlex.split(README["cub200"]))
    if torch.cuda.is_available():  # pragma: no cover - CPU test machine
        assert str(resolve_device(cfg)).startswith("cuda")
    else:
        with pytest.raises(ValueError, match="--device cpu"):
            resolve_device(cfg)
    cpu = parse_args(shlex.split(README["cub200"]) + ["--device", "cpu"])
    assert resolve_device(cpu) == torch.device("cpu")
    with pytest.raises(ValueError, match="torchrun"):
        resolve_device(parse_args(["--gpu", "0", "1"]))


def test_explicit_flags_override_the_preset_and_sop_is_an_alias():
    cfg = parse_args(["--dataset", "sop", "--epochs", "3", "--N", "2", "--no-mask-softmax", "--no-freeze-bn"])
    assert cfg.dataset == "online_products"
    assert (cfg.epochs, cfg.N, cfg.mask_softmax, cfg.freeze_bn) == (3, 2, False, False)
    assert cfg.centerlr == 0.3 and cfg.weight_lambda == 0.0  # untouched preset values
    cfg = parse_args(
        ["--dataset", "cub200", "--no-freeze-bn", "--loss", "proxyanchor", "--loss-kwargs", '{"margin": 0.2}']
    )
    assert cfg.freeze_bn is False and cfg.loss == "proxyanchor" and cfg.loss_kwargs == {"margin": 0.2}
    assert parse_args([]).dataset == "glyphs"


def test_glyphs_preset_is_a_small_cpu_experiment():
    cfg = parse_args(["--dataset", "glyphs"])
    assert cfg.backbone == "smallcnn" and cfg.workers == 0
    assert (cfg.N, cfg.r, cfg.weight_lambda) == (12, 0.05, 0.3)
    assert cfg.dim <= 128 and cfg.epochs <= 20 and cfg.epoch_to_test is None


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"r": 0.0}, "r must be in"),
        ({"r": 1.5}, "r must be in"),
        ({"backbone": "vgg"}, "backbone must be one of"),
        ({"N": 0}, "N must be an integer"),
        ({"C": 1}, "C must be an integer"),
        ({"batch_size": 1}, "batch_size"),
        ({"weight_lambda": -1.0}, "weight_lambda"),
        ({"modellr": 0.0}, "modellr"),
        ({"amp": "fp8"}, "amp must be one of"),
        ({"warmup_mode": "late"}, "warmup_mode"),
        ({"new_epoch_to_decay": (0,)}, "new_epoch_to_decay"),
    ],
)
def test_bad_settings_raise_value_errors_that_name_the_flag(changes, match):
    with pytest.raises(ValueError, match=match):
        config_from_preset("glyphs", **changes)


def test_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        config_from_preset("mnist")
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainConfig(dataset="mnist")


def test_unparseable_flags_exit_with_usage():
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "mnist"])
    with pytest.raises(SystemExit):
        parse_args(["--loss-kwargs", "not json"])


def test_a_seed_beyond_the_range_is_one_line_stating_it(tmp_path, capsys):
    """A seed of 10**30 gave numpy/torch's "Overflow when unpacking long long"; the largest allowed one seeds torch."""
    from proxygml_lite.train import main
    from proxygml_lite.training.config import SEED_MAX

    assert main(["--seed", str(10**30), "--dataset", "glyphs", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"python -m proxygml_lite.train: error: seed must be an integer in [0, {SEED_MAX}] (--seed); got {10**30}"
    )
    assert not (tmp_path / "run").exists()
    assert config_from_preset("glyphs", seed=SEED_MAX).seed == SEED_MAX
    torch.Generator().manual_seed(SEED_MAX * 100_003 + 1000)  # the trainer's data-order seed of the last epoch
    # and the NMI's k-means takes it: a seed in [2**31, 2**32) used to train, then fail at the first evaluation
    from proxygml_lite.evaluation.clustering import nmi

    points = torch.eye(2).repeat_interleave(4, dim=0) + 0.01 * torch.randn(
        8, 2
    )  # two directions (k-means on unit rows)
    assert nmi(points, torch.tensor([0] * 4 + [1] * 4), seed=SEED_MAX) > 0.9
    assert main(["--seed", str(SEED_MAX + 1), "--dataset", "glyphs", "--out", str(tmp_path / "run")]) == 2


def test_round_trip_through_json_and_resume_reuses_the_saved_config(tmp_path):
    cfg = config_from_preset("cub200", epochs=7, N=3, out=str(tmp_path))
    config_to_json(cfg, tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["N"] == 3
    assert config_from_json(tmp_path / "config.json") == cfg
    resumed = parse_args(["--resume", "--out", str(tmp_path), "--epochs", "9"])
    assert resumed.dataset == "cub200" and resumed.N == 3 and resumed.epochs == 9 and resumed.resume
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        config_from_dict({"bogus": 1})


def _lrs_per_epoch(milestones, epochs, resume_at=None):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([{"params": [param], "lr": 1.0}])
    sched = OfficialStepDecay(opt, milestones, 0.1)
    seen = []
    for epoch in range(epochs):
        if epoch == resume_at:  # a new schedule restored from state continues identically
            state = sched.state_dict()
            sched = OfficialStepDecay(opt, (), 1.0)
            sched.load_state_dict(state)
            sched.begin_epoch(epoch - 1)  # begun again after a mid-epoch resume: no double decay
        sched.begin_epoch(epoch)
        seen.append(opt.param_groups[0]["lr"])
    return seen


def test_lr_decays_at_the_start_of_epoch_e_when_e_plus_1_is_listed():
    lrs = _lrs_per_epoch((20, 40), 50)
    assert lrs[:19] == [1.0] * 19
    assert lrs[19:39] == pytest.approx([0.1] * 20)
    assert lrs[39:] == pytest.approx([0.01] * 11)
    assert _lrs_per_epoch((20, 40), 50, resume_at=30) == lrs


def test_warmup_modes():
    # head-first: backbone frozen in epoch 0 only (warm=1); official: frozen in the SECOND epoch.
    assert [backbone_frozen(e, 1, "head-first") for e in range(4)] == [True, False, False, False]
    assert [backbone_frozen(e, 1, "official") for e in range(4)] == [False, True, False, False]
    assert [backbone_frozen(e, 2, "official") for e in range(4)] == [False, True, True, False]
    assert not any(backbone_frozen(e, 0, "official") or backbone_frozen(e, 0, "head-first") for e in range(3))


def test_optimizer_has_model_and_proxy_groups_like_the_official_code():
    from proxygml_lite.loss import ProxyGMLLoss

    model = torch.nn.Linear(4, 3)
    loss = ProxyGMLLoss(5, 2, 3)
    opt = build_optimizer(model, loss, config_from_preset("cub200"))
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 0.03]
    assert all(g["eps"] == 0.01 and g["weight_decay"] == 1e-4 for g in opt.param_groups)
    assert opt.param_groups[1]["params"][0] is loss.proxies


# --------------------------------------------------------------------------- one frozen config, checked once
def test_the_config_is_frozen_and_changed_only_through_dataclasses_replace():
    import dataclasses

    cfg = config_from_preset("glyphs")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3
    changed = dataclasses.replace(cfg, epochs=3)
    assert (cfg.epochs, changed.epochs) == (6, 3)
    with pytest.raises(ValueError, match="epochs must be"):
        dataclasses.replace(cfg, epochs=0)  # a changed copy is checked as it is made


def test_the_benchmark_presets_state_the_imagenet_weights_and_a_backbone_without_them_is_refused_at_once():
    for name in ("cub200", "cars196", "online_products"):
        assert config_from_preset(name).pretrained is True, name  # a table of the recipe reads "pretrained True"
    assert config_from_preset("glyphs_hard").pretrained is None  # smallcnn starts random, as committed
    assert config_from_preset("cub200", backbone="resnet50").pretrained is True  # torchvision's ImageNet weights
    assert config_from_preset("cub200", backbone="smallcnn", pretrained=False).pretrained is False
    with pytest.raises(ValueError, match="'smallcnn' has no published weights.*--no-pretrained"):
        config_from_preset("cub200", backbone="smallcnn")
    with pytest.raises(ValueError, match="--no-pretrained"):
        parse_args(["--dataset", "cub200", "--backbone", "smallcnn"])
    assert parse_args(["--dataset", "cub200", "--backbone", "smallcnn", "--no-pretrained"]).pretrained is False


def test_names_are_resolved_before_the_config_is_made_and_checking_changes_nothing():
    assert config_from_preset("sop").dataset == "online_products"
    assert parse_args(["--dataset", "sop"]).dataset == "online_products"
    with pytest.raises(ValueError, match="'sop' is another name of 'online_products'"):
        TrainConfig(dataset="sop")
    cfg = config_from_preset("glyphs", epoch_to_test=[3, 6])
    before = cfg.to_dict()
    cfg.validate()
    assert cfg.to_dict() == before and cfg.epoch_to_test == (3, 6)


def test_a_command_line_run_checks_its_config_once(tmp_path, monkeypatch):
    from proxygml_lite import train as cli

    checked = []
    original = TrainConfig.validate
    monkeypatch.setattr(TrainConfig, "validate", lambda self: (checked.append(self), original(self))[1])
    from proxygml_lite.training import trainer

    monkeypatch.setattr(trainer, "train", lambda config: {"R@1": 0.5})  # the trainer never makes a config of its own
    assert cli.main(["--dataset", "glyphs", "--epochs", "1", "--quiet"]) == 0
    assert len(checked) == 1 and checked[0].out  # the run folder was named before the config was made
    row = tmp_path / "row.json"
    row.write_text(json.dumps({"dataset": "glyphs", "epochs": 1}))
    checked.clear()
    assert cli.main(["--config", str(row), "--quiet", "--out", str(tmp_path / "again")]) == 0
    assert len(checked) == 1


def test_a_partial_config_takes_the_missing_fields_from_its_datasets_preset(tmp_path):
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"dataset": "glyphs", "epochs": 1}))
    cfg = parse_args(["--config", str(partial)])
    assert cfg == config_from_preset("glyphs", epochs=1)
    assert (cfg.backbone, cfg.dim, cfg.pretrained) == ("smallcnn", 64, None)  # not BN-Inception, d = 512
    sop = tmp_path / "sop.json"
    sop.write_text(json.dumps({"dataset": "sop"}))
    assert parse_args(["--config", str(sop), "--N", "2"]) == config_from_preset("online_products", N=2)


def test_n_reaches_proxygml_as_proxies_per_class_through_one_mapping():
    from proxygml_lite.training.setup import loss_arguments

    cfg = config_from_preset("glyphs", N=3, r=0.2, weight_lambda=0.1, mask_softmax=False, loss_kwargs={"scale": 5})
    assert loss_arguments(cfg) == {
        "proxies_per_class": 3,
        "r": 0.2,
        "weight_lambda": 0.1,
        "positive_mask": True,
        "mask_softmax": False,
        "scale": 5,
    }
    assert loss_arguments(config_from_preset("glyphs", loss="proxyanchor", N=3)) == {}
