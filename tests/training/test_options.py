"""The command line is generated from TrainConfig's fields, and their declared checks run in validate()."""

import argparse
import dataclasses

import pytest

from proxygml_lite.train import build_parser, parse_args
from proxygml_lite.training.config import TrainConfig
from proxygml_lite.training.presets import config_from_preset

#: flags that are not settings: --config names a saved configuration to start from, --no-imports refuses its imports
NOT_SETTINGS = {"help", "config", "no_imports"}


def _flag_actions():
    return [a for a in build_parser()._actions if a.option_strings and a.dest not in NOT_SETTINGS]


def test_every_flag_sets_a_field_and_every_field_with_flags_is_on_the_command_line():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    actions = _flag_actions()
    assert {a.dest for a in actions} <= set(fields)
    declared = {name for name, f in fields.items() if f.metadata.get("flags")}
    assert declared == {a.dest for a in actions}
    assert all(a.default is argparse.SUPPRESS for a in actions)  # absent flags keep the preset's value
    for action in actions:  # the help names the default where the field says so, never argparse's
        assert action.help is None or "%(default)" not in action.help


def test_types_nargs_and_switches_come_from_the_annotations():
    cfg = parse_args(
        [
            "--epochs",
            "3",
            "--r",
            "0.2",
            "--new_epoch_to_decay",
            "2",
            "3",
            "--no-nmi",
            "--freeze_BN",
            "--import",
            "json",
            "--import",
            "math",
            "--backbone",
            "resnet50",
            "--pretrained",
            "-C",
            "5",
        ]
    )
    assert (cfg.epochs, cfg.r, cfg.new_epoch_to_decay, cfg.compute_nmi, cfg.freeze_bn) == (3, 0.2, (2, 3), False, True)
    assert cfg.imports == ("json", "math") and cfg.pretrained is True and cfg.C == 5


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"log_every": 0}, r"log_every must be an integer >= 1 \(--log-every\)"),
        ({"batch_size": 1}, r"batch_size must be an integer >= 2 \(-b/--batch-size\)"),
        ({"eps": 0.0}, r"eps must be a finite number > 0 \(--eps\)"),
        ({"weight_decay": -1.0}, r"weight_decay must be a finite number >= 0 \(--wd/--weight-decay\)"),
        ({"recall_ks": (1, 0)}, r"each entry of recall_ks must be an integer >= 1 \(--recall-ks\)"),
        ({"seed": 10**30}, r"seed must be an integer in \[0, 2147483647\] \(--seed\); got 10{30}"),
        ({"nmi_protocol": "best"}, r"nmi_protocol must be one of auto, sklearn, faiss, fast \(--nmi-protocol\)"),
        ({"loss": "nope"}, r"loss must be one of proxygml, .* \(--loss\)"),
    ],
)
def test_the_declared_checks_name_the_flag(changes, message):
    with pytest.raises(ValueError, match=message):
        config_from_preset("glyphs", **changes)


def test_defaults_live_in_the_dataclass_and_presets_hold_only_differences():
    from proxygml_lite.training.presets import PRESETS

    defaults = TrainConfig()
    for name, values in PRESETS.items():
        same = [k for k, v in values.items() if getattr(defaults, k) == (tuple(v) if isinstance(v, list) else v)]
        assert not same, f"preset {name} repeats the defaults of {same}"


def test_preset_returns_every_setting_with_the_differences_on_top():
    from proxygml_lite.training.presets import preset

    cub = preset("cub200")
    assert (cub["N"], cub["r"], cub["freeze_bn"], cub["workers"]) == (12, 0.05, True, 8)  # defaults + differences
    assert preset("sop")["N"] == 1 and preset("glyphs")["backbone"] == "smallcnn"
    assert "dataset" not in cub and "out" not in cub
