"""The registry: a loss, dataset or backbone registered from user code goes through the whole pipeline."""

import ast
import csv
import json
import sys
import textwrap
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from _fabricate import tiny_config
from torch import nn

import proxygml_lite
from proxygml_lite import register_backbone, register_dataset, register_loss
from proxygml_lite.baselines import build_loss
from proxygml_lite.data import FolderDataset, load_dataset
from proxygml_lite.models import build_model
from proxygml_lite.models.transforms import smallcnn_transforms
from proxygml_lite.registry import BACKBONES, DATASETS, LOSSES, Registry
from proxygml_lite.studies.loss_cost import measure_loss_cost
from proxygml_lite.train import main, parse_args
from proxygml_lite.training.presets import config_from_preset
from proxygml_lite.training.trainer import train

PACKAGE = Path(proxygml_lite.__file__).parent


class CosineSoftmax(nn.Module):
    """A user's loss: softmax over scaled cosines to one proxy per class, with two logged terms."""

    def __init__(self, num_classes, embedding_dim, scale=10.0):
        super().__init__()
        self.proxies = nn.Parameter(torch.randn(num_classes, embedding_dim))
        self.scale = scale
        self._terms = {}

    def forward(self, embeddings, labels):
        logits = self.scale * embeddings @ F.normalize(self.proxies, dim=1).t()
        loss = F.cross_entropy(logits, labels)
        self._terms = {"ce": loss.detach(), "mean_logit": logits.detach().mean()}
        return loss

    def terms(self):
        return self._terms


@pytest.fixture
def user_loss():
    register_loss(
        "cosine_softmax", lambda num_classes, embedding_dim, **kw: CosineSoftmax(num_classes, embedding_dim, **kw)
    )
    yield "cosine_softmax"
    LOSSES.unregister("cosine_softmax")


#: What this file's runs change in the shared tiny run (_fabricate.tiny_config).
tiny = partial(
    tiny_config,
    epochs=2,
    new_epoch_to_decay=(20, 40),  # no decay within the run: the proxy lr seen stays the one set
    warm=0,
    compute_nmi=False,
    eval_untrained=False,
    recall_ks=(1, 2),
    centerlr=0.02,
    seed=1,
)


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_registered_loss_trains_through_train_with_its_terms_and_the_proxy_lr(data_root, tmp_path, user_loss):
    seen = []

    def spy(event, info):
        if event == "step_end":
            trainer = info["trainer"]
            groups = {g["name"]: g for g in trainer.optimizer.param_groups}
            assert {id(p) for p in groups["proxies"]["params"]} == {id(trainer.loss_fn.proxies)}
            seen.append(groups["proxies"]["lr"])

    out = tmp_path / "run"
    metrics = train(tiny(data_root, out, loss=user_loss, loss_kwargs={"scale": 5.0}), callback=spy)
    assert set(metrics) == {"R@1", "R@2"} and seen and set(seen) == {0.02}
    rows = read_rows(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for r in rows:  # its own terms are columns; ProxyGML's L^s / L^p are left empty (nan)
        assert float(r["ce"]) == pytest.approx(float(r["loss"]), rel=1e-5)
        assert r["mean_logit"] != "" and r["loss_s"] == "nan"
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    assert saved["loss"]["proxies"].shape == (saved["num_classes"], 8)
    assert json.loads((out / "config.json").read_text())["loss_kwargs"] == {"scale": 5.0}


def test_a_registered_loss_runs_in_the_efficiency_helper(user_loss):
    table = measure_loss_cost(
        {user_loss: {}, "proxygml": {"r": 0.5}}, class_counts=(4,), batch_size=4, dim=8, repeats=1, warmup=0
    )
    assert list(table["loss"]) == [user_loss, "proxygml"]
    assert table.set_index("loss")["loss_parameters"][user_loss] == 4 * 8
    with pytest.warns(RuntimeWarning, match="k = ceil"):  # ProxyGML's default r is too small for C = 4
        everything = measure_loss_cost(class_counts=(4,), batch_size=4, dim=8, repeats=1, warmup=0)
    assert everything["loss"].tolist()[-1] == user_loss  # by default every registered loss, yours included


def test_the_command_line_imports_a_users_module_that_registers_a_loss(data_root, tmp_path, monkeypatch):
    module = tmp_path / "mods" / "my_losses_for_test.py"
    module.parent.mkdir()
    module.write_text(
        textwrap.dedent("""
        import torch.nn.functional as F
        from torch import nn
        import torch
        from proxygml_lite import register_loss

        class Centroid(nn.Module):
            def __init__(self, num_classes, embedding_dim):
                super().__init__()
                self.proxies = nn.Parameter(torch.randn(num_classes, embedding_dim))

            def forward(self, embeddings, labels):
                return F.cross_entropy(8 * embeddings @ F.normalize(self.proxies, dim=1).t(), labels)

        register_loss("centroid", lambda num_classes, embedding_dim: Centroid(num_classes, embedding_dim))
    """)
    )
    monkeypatch.syspath_prepend(str(module.parent))
    out = tmp_path / "cli"
    try:
        args = [
            "--dataset",
            "folder",
            "--data",
            str(data_root),
            "--import",
            "my_losses_for_test",
            "--loss",
            "centroid",
            "--backbone",
            "smallcnn",
            "--dim",
            "8",
            "-b",
            "8",
            "-j",
            "0",
            "--epochs",
            "1",
            "--image-size",
            "16",
            "--device",
            "cpu",
            "--warm",
            "0",
            "--no-nmi",
            "--no-eval-untrained",
            "--recall-ks",
            "1",
            "--quiet",
            "--out",
            str(out),
        ]
        assert main(args) == 0
        config = json.loads((out / "config.json").read_text())
        assert config["loss"] == "centroid" and config["imports"] == ["my_losses_for_test"]
        # the saved config re-imports the module itself, so --resume needs nothing else
        LOSSES.unregister("centroid")
        sys.modules.pop("my_losses_for_test")
        assert parse_args(["--resume", "--out", str(out)]).loss == "centroid"
    finally:
        LOSSES.unregister("centroid", missing_ok=True)
        sys.modules.pop("my_losses_for_test", None)
    with pytest.raises(ValueError, match="--import no_such_module_here: cannot import it"):
        parse_args(["--import", "no_such_module_here"])


def test_a_registered_dataset_and_backbone_train_through_the_same_pipeline(data_root, tmp_path):
    loaded = []

    def load_mine(data_root, split, transform=None):
        loaded.append(split)
        return FolderDataset(data_root, split, transform=transform)

    class TinyConv(nn.Module):
        def __init__(self, in_channels):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, 6, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.conv(x))

    register_dataset("my_folder", load_mine, aliases=("mf",), preset={"epochs": 1, "freeze_bn": False})
    register_backbone(
        "tinyconv",
        lambda in_channels=1: TinyConv(in_channels),
        feature_dim=6,
        transforms=smallcnn_transforms,
        image_size=16,
        channels=(1, 3),
    )
    try:
        config = config_from_preset(
            "mf",
            data=str(data_root),
            out=str(tmp_path / "run"),
            backbone="tinyconv",
            dim=8,
            batch_size=8,
            workers=0,
            quiet=True,
            device="cpu",
            warm=0,
            compute_nmi=False,
            eval_untrained=False,
            recall_ks=(1,),
            N=2,
            r=0.5,
        )
        assert config.dataset == "my_folder" and config.epochs == 1
        assert "R@1" in train(config)
        assert loaded == ["train", "test"]
        assert parse_args(["--dataset", "mf", "--backbone", "tinyconv"]).backbone == "tinyconv"
        model = build_model("tinyconv", embedding_dim=4, in_channels=3)
        assert model(torch.randn(2, 3, 16, 16)).shape == (2, 4)
    finally:
        DATASETS.unregister("my_folder")
        BACKBONES.unregister("tinyconv")


def test_registry_names_aliases_and_errors():
    assert LOSSES.names() == ("proxygml", "proxynca", "proxyanchor", "softtriple", "normsoftmax")
    assert DATASETS.canonical("sop") == "online_products" and "sop" in DATASETS
    assert BACKBONES.names() == ("bninception", "resnet50", "smallcnn")
    with pytest.raises(ValueError, match="already registered"):
        register_loss("proxygml", lambda num_classes, embedding_dim: None)
    with pytest.raises(ValueError, match=r"unknown loss 'nope'; choose one of proxygml, .*register_loss"):
        build_loss("nope", 4, 8)
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="must be callable"):
        Registry("thing", ()).register("x", 3)
    local = Registry("thing", ())
    local.register("a", len, aliases=("b",))
    local.register("a", abs, replace=True)  # re-running a notebook cell
    assert local.get("a").factory is abs and "b" not in local


def _literal_strings(node):
    return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def test_no_module_repeats_a_list_of_registered_names():
    """The registries replaced the lists: no tuple/list/set literal in the package names two entries of one kind."""
    kinds = {"loss": set(LOSSES.choices()), "dataset": set(DATASETS.choices()), "backbone": set(BACKBONES.choices())}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                strings = set(_literal_strings(node))
                for kind, names in kinds.items():
                    if len(strings & names) >= 2:
                        offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {kind}s {sorted(strings & names)}")
    assert not offenders, offenders


def test_each_builtin_name_is_registered_in_one_place():
    counts = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) in ("register_loss", "register_dataset", "register_backbone")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                counts[node.args[0].value] = counts.get(node.args[0].value, 0) + 1
    assert all(n == 1 for n in counts.values()), counts
    # the rest are registered in loops over the one table that describes them
    # (baselines.BASELINE_DEFAULTS, data.prepare.SPECS)
    assert {"proxygml", "glyphs", "folder", "bninception", "resnet50", "smallcnn"} <= set(counts)


# ------------------------------------------------------------------ the loss contract, checked (issue 16 item 8)
def test_a_factory_that_raises_or_returns_no_module_is_named_with_the_contract():
    from proxygml_lite.registry import LossContractError

    def raises(num_classes, embedding_dim):
        raise RuntimeError("boom")

    register_loss("raises_in_factory", raises)
    register_loss("returns_a_function", lambda num_classes, embedding_dim: lambda e, y: e.sum())
    try:
        with pytest.raises(LossContractError, match=r"loss 'raises_in_factory': its factory raised RuntimeError: boom"):
            build_loss("raises_in_factory", 3, 4)
        with pytest.raises(
            LossContractError, match=r"'returns_a_function': its factory returned a function, not an nn"
        ):
            build_loss("returns_a_function", 3, 4)
        with pytest.raises(LossContractError, match="loss contract: factory"):
            build_loss("returns_a_function", 3, 4)
    finally:
        LOSSES.unregister("raises_in_factory")
        LOSSES.unregister("returns_a_function")


@pytest.mark.parametrize(
    "value,problem",
    [
        (torch.ones(3, requires_grad=True), "a tensor of shape (3,)"),
        (torch.tensor(2), "a torch.int64 tensor"),
        (torch.tensor(1.5), "a tensor without grad"),
        (1.5, "a float"),
    ],
)
def test_a_loss_value_outside_the_contract_is_named(value, problem):
    from proxygml_lite.registry import LossContractError
    from proxygml_lite.training.step import check_loss_value

    with pytest.raises(LossContractError) as exc:
        check_loss_value(value, "mine")
    assert f"loss 'mine' returned {problem}" in str(exc.value) and "loss contract" in str(exc.value)
    check_loss_value(torch.ones(3, requires_grad=True).sum(), "mine")  # a float scalar with grad is fine


class DetachedLoss(CosineSoftmax):
    def forward(self, embeddings, labels):
        return super().forward(embeddings, labels).detach()


class ClashingTerms(CosineSoftmax):
    def terms(self):
        return {"loss": self._terms["ce"], "epoch": self._terms["ce"]}


@pytest.mark.parametrize(
    "cls,message",
    [
        (DetachedLoss, "loss 'contract_breaker' returned a tensor without grad"),
        (ClashingTerms, r"loss 'contract_breaker': terms\(\) uses the name\(s\) \['epoch', 'loss'\]"),
    ],
)
def test_training_stops_with_one_line_on_a_loss_that_breaks_the_contract(data_root, tmp_path, capsys, cls, message):
    register_loss("contract_breaker", lambda num_classes, embedding_dim: cls(num_classes, embedding_dim))
    try:
        argv = ["--dataset", "folder", "--data", str(data_root), "--loss", "contract_breaker", "--backbone",
                "smallcnn", "--dim", "8", "-b", "8", "-j", "0", "--epochs", "1", "--image-size", "16", "--device",
                "cpu", "--no-eval-untrained", "--quiet", "--out", str(tmp_path / "run")]  # fmt: skip
        assert main(argv) == 2
    finally:
        LOSSES.unregister("contract_breaker")
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("python -m proxygml_lite.train: error: ")
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_replacing_a_builtin_dataset_works_before_the_builtins_load(tmp_path):
    """register_dataset("glyphs", ..., replace=True) as a user's first call; proxygml_lite.data imports afterwards."""
    import subprocess

    script = textwrap.dedent("""
        from proxygml_lite.registry import DATASETS, register_dataset, replaced_builtins

        def my_glyphs(data_root, split, transform=None):
            raise NotImplementedError

        register_dataset("glyphs", my_glyphs, replace=True)
        import proxygml_lite.data  # noqa: F401  (failed: the built-in glyphs registered after the user's)

        assert DATASETS.get("glyphs").factory is my_glyphs
        assert "glyphs_hard" in DATASETS  # the other built-ins are there
        print(replaced_builtins())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'dataset': ['glyphs']}"
    with pytest.raises(ValueError, match="'glyphs' is already registered"):
        register_dataset("glyphs", lambda data_root, split, transform=None: None)  # without replace: refused


def test_config_json_records_a_replaced_builtin_name(data_root, tmp_path):
    from proxygml_lite.registry import replaced_builtins

    original = LOSSES.get("proxynca")
    register_loss(
        "proxynca", lambda num_classes, embedding_dim, **kw: CosineSoftmax(num_classes, embedding_dim), replace=True
    )
    try:
        assert replaced_builtins() == {"loss": ["proxynca"]}
        train(tiny(data_root, tmp_path / "run", loss="proxynca", epochs=1))
        config = json.loads((tmp_path / "run" / "config.json").read_text())
        assert config["replaced_builtins"] == {"loss": ["proxynca"]}
        assert parse_args(["--config", str(tmp_path / "run")]).loss == "proxynca"  # the record is not a setting
    finally:
        LOSSES.register(original.name, original.factory, aliases=original.aliases, replace=True, **original.options)
    assert replaced_builtins() == {}


def test_a_loss_name_cannot_move_the_default_run_folder_out_of_runs():
    from proxygml_lite.training.run_folder import default_run_dir

    name = "weird/../../name"
    register_loss(name, lambda num_classes, embedding_dim: CosineSoftmax(num_classes, embedding_dim))
    try:
        folder = default_run_dir(config_from_preset("glyphs", loss=name))
    finally:
        LOSSES.unregister(name)
    assert folder.parent == Path("runs") and ".." not in folder.parts and "/" not in folder.name
    assert folder.name.startswith("glyphs-weird_.._.._name-")


@pytest.mark.parametrize("body", ["import sys\nsys.exit(3)\n", "raise SystemExit(3)\n"])
def test_an_import_module_that_exits_while_imported_gives_one_line(tmp_path, monkeypatch, capsys, body):
    """sys.exit() at a module's top level ended the run silently; now it is named."""
    (tmp_path / "exiting_module_for_test.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert main(["--import", "exiting_module_for_test", "--dataset", "glyphs"]) == 2
    finally:
        sys.modules.pop("exiting_module_for_test", None)
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("python -m proxygml_lite.train: error: "), err
    assert "--import exiting_module_for_test: the module exited (sys.exit(3)) while being imported" in err
    assert "__main__" in err


def test_an_interrupt_while_an_import_module_loads_gives_one_line(tmp_path, monkeypatch, capsys):
    """Review of issue 16: Ctrl-C while a --import module loads printed a traceback through the package."""
    (tmp_path / "interrupted_module_for_test.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert main(["--import", "interrupted_module_for_test", "--dataset", "glyphs"]) == 2
    finally:
        sys.modules.pop("interrupted_module_for_test", None)
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("python -m proxygml_lite.train: error: "), err
    assert "--import interrupted_module_for_test: interrupted while importing it" in err
    assert err.endswith("nothing was trained or written: run the command again")
