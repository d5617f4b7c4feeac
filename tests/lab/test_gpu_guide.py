"""Notebook 7's guide to the GPU path: estimates computed from counts and stated assumptions, weights, expectations."""

import math

import matplotlib
import pytest

matplotlib.use("Agg")

from proxygml_lite.data.specs import SPECS  # noqa: E402
from proxygml_lite.lab import gpu_downloads, gpu_estimates, gpu_expectations  # noqa: E402
from proxygml_lite.studies.paper import SOURCE, paper_comparison  # noqa: E402
from proxygml_lite.training.presets import OFFICIAL_EPOCH_TO_TEST, config_from_preset  # noqa: E402
from proxygml_lite.training.setup import epoch_batches  # noqa: E402


def test_epoch_batches_is_the_trainers_rule():
    assert epoch_batches(5864, 32) == (184, False)
    assert epoch_batches(33, 32) == (1, True)  # a last batch of one sample is dropped (BatchNorm)
    assert epoch_batches(64, 32) == (2, False)


def test_backbone_cost_counts_flops_parameters_and_saved_tensors():
    cost = gpu_estimates.backbone_cost("smallcnn", 32, 64, False)
    from proxygml_lite.models import build_model

    model = build_model("smallcnn", embedding_dim=64, pretrained=False)
    assert cost.image_size == 32 and cost.parameters == sum(p.numel() for p in model.parameters())
    assert cost.forward_flops > 0 and 0 < cost.largest_bytes <= cost.saved_bytes
    assert gpu_estimates.backbone_cost("smallcnn", 32, 64, False) is cost  # cached


def test_bninception_costs_about_two_giga_multiply_adds_per_image():
    cost = gpu_estimates.backbone_cost("bninception")
    assert cost.image_size == 224 and 3.9e9 < cost.forward_flops < 4.2e9  # a multiply-add counts 2
    assert 10e6 < cost.parameters < 11.5e6


def test_the_official_schedule_evaluates_nineteen_times():
    config = config_from_preset("cub200")
    assert gpu_estimates.evaluation_epochs(config) == [0, *OFFICIAL_EPOCH_TO_TEST]  # 0: the untrained network
    assert len(gpu_estimates.evaluation_epochs(config.replace(eval_untrained=False))) == 18
    assert gpu_estimates.evaluation_epochs(config.replace(epoch_to_test=(50,))) == [0, 50]


def test_estimate_run_follows_from_the_counts_and_the_assumptions():
    config = config_from_preset("glyphs_hard")
    counts = {"train": (100, 1200), "test": (199, 2388)}
    slow_loader = gpu_estimates.Assumptions(gpu_tflops=1000.0, loader_images_per_s=100.0)
    estimate = gpu_estimates.estimate_run(config, slow_loader, counts=counts)
    assert estimate["steps per epoch"] == 38 and estimate["evaluations"] == 2
    assert estimate["epoch bound by"] == "data loading" and estimate["epoch (min)"] == pytest.approx(12 / 60)
    assert estimate["full recipe (h)"] == pytest.approx(estimate["training (h)"] + estimate["evaluations (h)"])
    assert estimate["training (h)"] == pytest.approx(50 * 12 / 3600)  # the glyph preset has no warm-up epoch
    slow_gpu = gpu_estimates.Assumptions(gpu_tflops=1e-6, loader_images_per_s=1e9)
    estimate = gpu_estimates.estimate_run(config, slow_gpu, counts=counts)
    cost = gpu_estimates.backbone_cost(config.backbone, config.image_size, config.dim, config.freeze_bn)
    assert estimate["epoch bound by"] == "GPU"
    assert estimate["epoch (min)"] * 60 == pytest.approx(1200 * 3 * cost.forward_flops / 1e6)
    with pytest.raises(ValueError, match="not one of the benchmarks.*counts="):
        gpu_estimates.estimate_run(config)


def test_the_estimates_table_of_the_benchmarks_says_it_is_an_estimate():
    table = gpu_estimates.estimates_table()
    assert table.index.name == "ESTIMATE" and "ASSUMED (not measured)" in table.attrs["assumptions"]
    assert list(table.columns) == [SPECS[name].title for name in ("cub200", "cars196", "online_products")]
    cub, sop = table["CUB-200-2011"], table["Stanford Online Products"]
    assert (cub["train images"], cub["test images"], sop["train images"], sop["test images"]) == (
        5864,
        5924,
        59551,
        60502,
    )
    assert (cub["steps per epoch"], sop["steps per epoch"]) == (184, 1861) and cub["evaluations"] == 19
    assert sop["full recipe (h)"] > 5 * cub["full recipe (h)"]
    assert 1 < cub["training memory (GiB)"] < 10
    fewer = gpu_estimates.estimates_table(benchmarks=("online_products",), epoch_to_test=(50,))
    assert fewer.iloc[:, 0]["evaluations"] == 2 and fewer.iloc[:, 0]["full recipe (h)"] < sop["full recipe (h)"]
    fig = gpu_estimates.plot_estimates(table)
    assert "estimated" in fig.axes[0].get_title()


def test_disk_table_reads_the_download_sizes_of_the_specs():
    table = gpu_estimates.disk_table()
    for name in ("cub200", "cars196", "online_products"):
        row = table.loc[SPECS[name].title]
        assert row["download (GB)"] == SPECS[name].download_gb and row["peak while preparing (GB)"] == pytest.approx(
            2 * SPECS[name].download_gb
        )
        assert 0 < row["run folder (GB)"] < 1


def test_weights_status_names_the_host_and_the_fallbacks_without_a_home_path(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    text = gpu_downloads.weights_status()
    assert "data.lip6.fr" in text and "outages" in text and "absent" in text
    assert "--pretrained /path/to/bn_inception-52deb4733.pth" in text and "52deb4733" in text
    assert "--backbone resnet50" in text and "--no-pretrained" in text
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "bn_inception-52deb4733.pth").write_bytes(b"")
    assert "present" in gpu_downloads.weights_status()


def test_expectations_label_the_paper_and_the_reproduction():
    table = gpu_expectations.expectations("cub200")
    paper_column = f"{SOURCE}, ProxyGML-512"
    reproduction_column = f"{gpu_expectations.PUBLIC_REPRODUCTION.label}, epoch 50"
    assert list(table.columns) == ["dataset", "metric", paper_column, reproduction_column]
    paper = paper_comparison()
    paper = paper[(paper["method"] == "ProxyGML") & (paper["embedding_dim"] == 512) & (paper["dataset_id"] == "cub200")]
    assert dict(zip(table["metric"], table[paper_column])) == dict(zip(paper["metric"], paper["value"]))
    assert dict(zip(table["metric"], table[reproduction_column]))["R@1"] == 65.2  # the fork's log, epoch 50
    assert (
        gpu_expectations.PUBLIC_REPRODUCTION.recall_at_1[50] == 65.2
        and len(gpu_expectations.PUBLIC_REPRODUCTION.recall_at_1) == 18
    )
    sop = gpu_expectations.expectations("sop")
    assert set(sop[reproduction_column]) == {"none found"} and set(sop["metric"]) == {"NMI", "R@1", "R@10", "R@100"}
    fig = gpu_expectations.plot_expected_recall("cub200")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(label.startswith(SOURCE) for label in labels) and gpu_expectations.PUBLIC_REPRODUCTION.label in labels
    assert math.isclose(fig.axes[0].lines[0].get_ydata()[0], 66.6)


def test_keep_downloads_copies_archives_and_weights_both_ways_once(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    drive, data = tmp_path / "drive", tmp_path / "data"
    drive.mkdir()
    (drive / "CUB_200_2011.tgz").write_bytes(b"archive")  # kept by an earlier session
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "bn_inception-52deb4733.pth").write_bytes(b"weights")  # downloaded now
    lines = gpu_downloads.keep_downloads("cub200", data, drive)
    assert len(lines) == 2 and (data / "archives" / "CUB_200_2011.tgz").read_bytes() == b"archive"
    assert (drive / "bn_inception-52deb4733.pth").read_bytes() == b"weights"
    assert gpu_downloads.keep_downloads("cub200", data, drive) == []  # nothing left to copy
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # atomic copies leave no temporary files
