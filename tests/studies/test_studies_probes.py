"""The probes of issue 17 (why a class's proxies merge; rows 2 and 7) on tiny data: the two training options,
cell identities that did not move, the probes study listed, run and gathered, and the proxy cosines."""

import hashlib
import itertools
import json
import shutil
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch
from _fabricate import tiny_config, tiny_study_settings

from proxygml_lite.lab import seed_table_checks, study_tables
from proxygml_lite.loss import ProxyGMLLoss
from proxygml_lite.studies import make_studies
from proxygml_lite.studies.__main__ import _commands, main
from proxygml_lite.studies.cells import study_cells
from proxygml_lite.studies.design import PROBES, SEEDS, probe_configs
from proxygml_lite.studies.identity import CELL_FIELDS, OMITTED_WHILE_OFF, cell_id, cell_identity, recorded_config
from proxygml_lite.studies.make import base_config, pending_cells
from proxygml_lite.studies.snapshots import PROXY_COLUMNS, proxy_cosines, proxy_geometry
from proxygml_lite.studies.tables import PROBE_EPOCH_COLUMNS, STUDY_COLUMNS, check_settings
from proxygml_lite.train import parse_args
from proxygml_lite.training.config import TrainConfig
from proxygml_lite.training.setup import loss_arguments
from proxygml_lite.training.step import PROXY_SGD_MOMENTUM, SplitOptimizer, build_optimizer
from proxygml_lite.training.trainer import train

#: The glyphs_hard recipe on the tiny folder: d = 8, N = 3, 2 epochs, no NMI.
tiny = partial(tiny_study_settings, epochs=2, N=3, compute_nmi=False)


# ------------------------------------------------------------ the two training options
def test_unit_init_is_the_official_draw_at_norm_one_and_reaches_the_loss_from_the_command_line():
    torch.manual_seed(0)
    official = ProxyGMLLoss(num_classes=5, proxies_per_class=3, embedding_dim=16).proxies.detach()
    torch.manual_seed(0)
    unit = ProxyGMLLoss(num_classes=5, proxies_per_class=3, embedding_dim=16, proxy_init="unit").proxies.detach()
    assert torch.allclose(unit.norm(dim=1), torch.ones(15))
    assert torch.allclose(unit, official / official.norm(dim=1, keepdim=True))  # the same directions
    assert official.norm(dim=1).mean() == pytest.approx((16 / (3 * 15)) ** 0.5, rel=0.15)  # sqrt(d / (3 C N))
    with pytest.raises(ValueError, match="proxy_init must be one of official, unit"):
        ProxyGMLLoss(num_classes=5, proxies_per_class=3, embedding_dim=16, proxy_init="normal")
    config = parse_args(["--loss-kwargs", '{"proxy_init": "unit"}'])
    assert loss_arguments(config)["proxy_init"] == "unit"


def test_unit_init_trains_from_unit_norm_proxies(data_root, tmp_path):
    out = tmp_path / "run"
    train(tiny_config(data_root, out, epochs=1, loss_kwargs={"proxy_init": "unit"}, save_proxies=True))
    first = torch.load(out / "proxies" / "epoch_000.pt", weights_only=True)["parameters"]["proxies"]
    assert torch.allclose(first.norm(dim=1), torch.ones(len(first)))


def _parts(config):
    model = torch.nn.Linear(4, 8)
    loss_fn = ProxyGMLLoss(num_classes=3, proxies_per_class=2, embedding_dim=8, r=0.5)
    return model, loss_fn, build_optimizer(model, loss_fn, config)


def test_the_default_optimizer_is_one_adam_and_sgd_moves_only_the_proxies_by_sgd():
    config = TrainConfig(centerlr=0.05, weight_decay=1e-3)
    _, _, adam = _parts(config)
    assert type(adam) is torch.optim.Adam and [g["name"] for g in adam.param_groups] == ["model", "proxies"]
    with pytest.raises(ValueError, match="proxy_optimizer"):
        TrainConfig(proxy_optimizer="rmsprop")
    model, loss_fn, split = _parts(config.replace(proxy_optimizer="sgd"))
    assert isinstance(split, SplitOptimizer) and [g["name"] for g in split.param_groups] == ["model", "proxies"]
    sgd = split.parts["sgd"]
    assert type(sgd) is torch.optim.SGD and sgd.param_groups[0]["params"] == [loss_fn.proxies]
    assert (sgd.defaults["momentum"], sgd.defaults["weight_decay"]) == (PROXY_SGD_MOMENTUM, 1e-3)
    assert split.param_groups[1]["lr"] == 0.05 and type(split.parts["adam"]) is torch.optim.Adam
    # one step: the proxies move by lr (g + wd p) (SGD's first momentum step), the model by Adam
    before = loss_fn.proxies.detach().clone()
    x = torch.nn.functional.normalize(model(torch.randn(6, 4)), dim=1)
    loss_fn(x, torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    grad = loss_fn.proxies.grad.clone()
    assert grad.abs().min() > 0
    split.step()
    assert torch.allclose(loss_fn.proxies.detach(), before - 0.05 * (grad + 1e-3 * before))
    state = split.state_dict()
    assert set(state) == {"adam", "sgd"} and "momentum_buffer" in state["sgd"]["state"][0]
    with pytest.raises(ValueError, match="not Adam \\(model\\) \\+ SGD \\(proxies\\)"):
        split.load_state_dict(state["adam"])


def test_sgd_for_the_proxies_decays_and_resumes_exactly_from_a_checkpoint(data_root, tmp_path):
    straight = tmp_path / "straight"
    metrics = train(tiny_config(data_root, straight, proxy_optimizer="sgd"))
    rows = pd.read_csv(straight / "metrics.csv")
    assert rows["lr_proxies"].iloc[1:].tolist() == pytest.approx([0.03, 0.003, 0.003])  # decay at epoch index 1
    assert rows["lr_model"].iloc[1:].tolist() == pytest.approx([1e-3, 1e-4, 1e-4])
    resumed = tmp_path / "resumed"

    def stop(event, info):
        if event == "step_end" and (info["epoch"], info["step"]) == (1, 2):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(data_root, resumed, proxy_optimizer="sgd"), callback=stop)
    checkpoint = torch.load(resumed / "checkpoint.pt", weights_only=True)  # the safe loader reads it
    assert set(checkpoint["optimizer"]) == {"adam", "sgd"} and checkpoint["step"] == 2
    with pytest.raises(ValueError, match="proxy_optimizer: saved 'sgd' vs now 'adam'"):
        train(tiny_config(data_root, resumed, resume=True))
    assert train(tiny_config(data_root, resumed, resume=True, proxy_optimizer="sgd")) == metrics
    a, b = (torch.load(run / "checkpoint.pt", weights_only=True) for run in (straight, resumed))
    assert torch.equal(a["loss"]["proxies"], b["loss"]["proxies"])
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    time_free = [c for c in rows.columns if not c.endswith("time_s")]
    pd.testing.assert_frame_equal(pd.read_csv(resumed / "metrics.csv")[time_free], rows[time_free])


# ------------------------------------------------------------ cell identities
#: sha256 of the 110 ids of `python -m proxygml_lite.studies --list --studies ablation grid` before the options
#: existed (the regeneration of results/glyphs_hard ran under these ids).
LISTED_IDS_SHA256 = "be456dfd128ece04dc788c87e0d241ae55aaa77d009c384fccaf5d4d075c8844"


def test_adding_an_option_renames_no_existing_cell():
    base = base_config("glyphs_hard")
    commands = _commands(study_cells(base, ("grid", "ablation")))
    assert commands[0].label == "grid/N1_r0.05_s0" and commands[0].id == "e64e9a65e3d9"
    ids = " ".join(c.id for c in commands)
    assert len(commands) == 110 and hashlib.sha256(ids.encode()).hexdigest() == LISTED_IDS_SHA256
    # a config written before the option (no key), with it off, and the record of a table row: one identity
    old = {k: v for k, v in base.to_dict().items() if k not in OMITTED_WHILE_OFF}
    assert cell_id(old) == cell_id(base) == cell_id(recorded_config(base))
    assert "proxy_optimizer" not in recorded_config(base) and "proxy_optimizer" not in cell_identity(base)
    assert cell_id(base.replace(proxy_optimizer="sgd")) != cell_id(base)
    assert recorded_config(base.replace(proxy_optimizer="sgd"))["proxy_optimizer"] == "sgd"


@pytest.mark.parametrize("key", ["absent", "adam"])
def test_a_table_row_written_before_the_option_has_the_settings_of_a_cell_now(data_root, tmp_path, key):
    results, runs = tmp_path / "res", tmp_path / "runs"
    settings = dict(seeds=(0,), workers=1, results=results, runs=runs, progress=False, rows=[1])
    make_studies("glyphs_hard", ("ablation",), **settings, **tiny(data_root))
    path = results / "ablation.csv"
    table = pd.read_csv(path)
    config = json.loads(table.at[0, "config"])
    assert "proxy_optimizer" not in config  # the record leaves the option out while it is off
    if key == "adam":
        table.at[0, "config"] = json.dumps({**config, "proxy_optimizer": "adam"}, sort_keys=True)
        table.to_csv(path, index=False)
    shutil.rmtree(runs)
    cells = study_cells(base_config("glyphs_hard", **tiny(data_root)), ("ablation",), (0,), rows=[1])
    assert [row["_id"] for row in check_settings(path, cells)] == [cells[0].id]
    assert pending_cells(cells, results, runs) == []  # read back: nothing retrains


# ------------------------------------------------------------ the probes
def test_each_probe_changes_one_setting_of_its_base_and_shares_the_ablation_rows():
    base = base_config("glyphs_hard")
    configs = probe_configs(base)
    assert list(configs) == [p.name for p in PROBES] and PROBES[0].base is None
    for probe in PROBES[1:]:
        ours, theirs = json.loads(cell_identity(configs[probe.name])), json.loads(cell_identity(configs[probe.base]))
        changed = {k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k)}
        assert len(changed) == 1 and changed <= CELL_FIELDS["probes"], (probe.name, changed)
    assert set(seed_table_checks.CELL_KEYS["probe"]) == CELL_FIELDS["probes"] - {"seed"}
    assert configs["row8_unit_init"].loss_kwargs == {"proxy_init": "unit"}
    assert configs["row8_proxy_lr_div10"].centerlr == 0.003 and configs["row8_proxy_sgd"].proxy_optimizer == "sgd"
    assert (configs["row7_N1"].N, configs["row7_N1"].r) == (1, base.r)
    cells = study_cells(base, ("grid", "ablation", "probes"))
    probes = [c for c in cells if c.study == "probes"]
    assert len(probes) == len(PROBES) * len(SEEDS) == 50 and all(c.config.save_proxies for c in probes)
    assert len({c.id for c in probes}) == 50 and all(c.ids["change"] for c in probes)
    ablation = {(c.ids["row"], c.seed): c.id for c in cells if c.study == "ablation"}
    for row in (8, 7, 2, 6):  # the bases are ablation cells: one run, whichever study trains it
        shared = [c for c in probes if c.ids["probe"] == f"row{row}"]
        assert [c.id for c in shared] == [ablation[row, s] for s in SEEDS]
        assert all(c.config.save_proxies for c in cells if c.id in {s.id for s in shared})
    commands = _commands(cells)
    assert len(commands) == 140 and [c.id for c in commands[:110]] == [
        c.id for c in _commands(study_cells(base, ("grid", "ablation")))
    ]
    # a probes-only selection keeps the grid's snapshots of its row 8 at the snapshot seeds
    alone = {c.seed: c.config for c in study_cells(base, ("probes",)) if c.ids["probe"] == "row8"}
    assert [alone[s].save_embeddings for s in SEEDS] == [True, True, True, False, False]


def test_the_probes_train_after_the_ablation_and_the_grid(tmp_path):
    cells = study_cells(base_config("glyphs_hard"), ("grid", "ablation", "probes"))
    todo = pending_cells(cells, tmp_path / "res", tmp_path / "runs")
    studies = [c.study for c in todo]
    assert len(todo) == 140 and studies[-30:] == ["probes"] * 30 and "probes" not in studies[:110]


def _hand_geometry(proxies, n):
    unit = proxies / np.linalg.norm(proxies, axis=1, keepdims=True)
    c = len(proxies) // n
    within, between = [], []
    for a, b in itertools.permutations(range(len(proxies)), 2):
        (within if a // n == b // n else between).append(unit[a] @ unit[b])
    per_class = [
        np.mean([unit[a] @ unit[b] for a, b in itertools.permutations(range(k * n, k * n + n), 2)]) for k in range(c)
    ]
    assert np.isclose(np.mean(within), np.mean(per_class))  # equal pair counts per class: one mean either way
    return np.mean(within), np.mean(between), np.linalg.norm(proxies, axis=1).mean()


def test_proxy_geometry_against_a_hand_computation(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(2, 3 * 4, 5))  # two snapshots, C = 3, N = 4, d = 5
    measured = proxy_geometry(torch.as_tensor(stack, dtype=torch.float32), 4)
    for e in range(2):
        expected = _hand_geometry(stack[e], 4)
        assert [measured[c][e] for c in PROXY_COLUMNS] == pytest.approx(expected, rel=1e-5)
    single = proxy_geometry(stack[0], 4)
    assert single["proxy cos within"] == pytest.approx(_hand_geometry(stack[0], 4)[0])
    merged = np.repeat(rng.normal(size=(3, 1, 5)), 4, axis=1).reshape(12, 5) * 2.0  # each class: one direction
    assert proxy_geometry(merged, 4)["proxy cos within"] == pytest.approx(1.0)
    assert np.isnan(proxy_geometry(stack[0], 1)["proxy cos within"])  # N = 1: no pair within a class
    with pytest.raises(ValueError, match="C >= 2 classes of N = 5"):
        proxy_geometry(stack[0], 5)


def test_the_probes_study_runs_and_gathers_its_table_and_its_curves(data_root, tmp_path, capsys):
    results, runs = tmp_path / "res", tmp_path / "runs"
    settings = dict(seeds=(0,), workers=1, results=results, runs=runs, progress=False)
    # row 2 trained first by the ablation, which keeps no proxies: the probes read its final ones from its checkpoint
    make_studies("glyphs_hard", ("ablation",), rows=[2], **settings, **tiny(data_root))
    tables = make_studies("glyphs_hard", ("probes",), **settings, **tiny(data_root))
    probes = tables["probes"]
    assert list(probes.columns) == STUDY_COLUMNS["probes"] and probes["probe"].tolist() == [p.name for p in PROBES]
    assert len(list(runs.iterdir())) == len(PROBES)  # row 2 was not trained again
    assert probes["base"].fillna("").tolist() == ["" if p.base is None else p.base for p in PROBES]
    assert probes["change"].tolist() == [p.description for p in PROBES] and probes["R@1"].notna().all()
    curves = pd.read_csv(results / "probe_epochs.csv")
    assert list(curves.columns) == PROBE_EPOCH_COLUMNS
    per_cell = curves.groupby("probe", sort=False)["epoch"].apply(list).to_dict()
    assert per_cell == {p.name: ([2] if p.name == "row2" else [0, 1, 2]) for p in PROBES}
    for row in probes.itertuples():
        folder = next(runs.glob(f"*-{cell_id(json.loads(row.config))}"))
        final = proxy_cosines(folder).iloc[-1]
        expected = [final[c] for c in PROXY_COLUMNS]
        assert [probes.at[row.Index, c] for c in PROXY_COLUMNS] == pytest.approx(expected, nan_ok=True)
        last = curves[(curves["probe"] == row.probe) & (curves["epoch"] == 2)].iloc[0]
        assert last["cell"] == folder.name.rsplit("-", 1)[1]
    assert np.isnan(probes.set_index("probe").at["row7_N1", "proxy cos within"])  # N = 1
    assert probes.set_index("probe").at["row8_unit_init", "proxy norm"] == pytest.approx(1.0, abs=0.05)
    summary = study_tables.summarize_seeds(probes, by=["probe"], metrics=["R@1"])  # only the probes' fields differ
    assert sorted(summary["probe"]) == sorted(p.name for p in PROBES)
    # the tables stand without the cell folders: nothing retrains, both files read back unchanged
    shutil.rmtree(runs)
    again = make_studies("glyphs_hard", ("probes",), **settings, **tiny(data_root))
    pd.testing.assert_frame_equal(again["probes"], probes)
    pd.testing.assert_frame_equal(pd.read_csv(results / "probe_epochs.csv"), curves)
    assert not runs.exists() or not any(runs.iterdir())
    # the probes of another base (here another centerlr) are refused, naming the probe and the difference
    with pytest.raises(ValueError, match="probe row8 made with other settings .centerlr: table 0.03 vs now 0.01"):
        make_studies("glyphs_hard", ("probes",), **settings, **tiny(data_root, centerlr=0.01))
    # each probe is a command too
    flags = ["--studies", "probes", "--seeds", "0", "--results", str(tmp_path / "res2"), "--runs", str(runs)]
    flags += ["--dataset", "folder", "--data", str(data_root), "--dim", "8", "--batch-size", "8", "--epochs", "2"]
    flags += ["--image-size", "16", "--device", "cpu", "--new_epoch_to_decay", "1", "--r", "0.3", "--N", "3"]
    flags += ["--no-nmi", "--quiet"]
    assert main([*flags, "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in listed] == [f"probes/{p.name}_s0" for p in PROBES]
    assert main([*flags, "--cell", "row8_unit_init_s0"]) == 0 and main([*flags, "--gather"]) == 0
    gathered = pd.read_csv(tmp_path / "res2" / "probes.csv")
    assert gathered["probe"].tolist() == ["row8_unit_init"]
    assert gathered.at[0, "R@1"] == probes.set_index("probe").at["row8_unit_init", "R@1"]


def test_a_setting_added_later_reads_as_off_in_an_old_row_whatever_its_default():
    """Review of issue 16 (F12): an old row lacks the key; it ran with the setting off, not with today's default."""
    import dataclasses

    from proxygml_lite.studies.identity import OMITTED_WHILE_OFF, _config_dict
    from proxygml_lite.training.config import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert all(defaults[key] == off for key, off in OMITTED_WHILE_OFF.items())  # off by default, as documented
    old_row = {k: v for k, v in TrainConfig().to_dict().items() if k not in OMITTED_WHILE_OFF}
    assert all(_config_dict(old_row)[key] == off for key, off in OMITTED_WHILE_OFF.items())
