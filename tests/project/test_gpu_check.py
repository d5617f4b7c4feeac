"""scripts/gpu_check.py on the CPU: its quick mode skips the CUDA parts (saying so) and writes a well-formed report.

The GPU path itself is checked by running the script on a GPU machine (its report goes to results/gpu/);
no test here depends on a GPU.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _fabricate import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


gpu_check = load_script("gpu_check")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu")
    data = tmp_path_factory.mktemp("data")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=2400,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, json.loads((out / "report.json").read_text()), done.stdout


@pytest.mark.slow  # the script's quick mode: about a minute on a quiet 2-core machine
def test_quick_mode_writes_the_report_and_the_summary(quick_report):
    out, report, stdout = quick_report
    assert report["schema"] == 1 and report["cuda"] is False and report["mode"].startswith("quick")
    assert {"python", "torch", "cuda_available", "cpu_count"} <= set(report["machine"])
    assert [part["name"] for part in report["parts"]] == [part.name for part in gpu_check.PARTS]
    for part in report["parts"]:
        assert {"name", "title", "budget_s", "status"} <= set(part), part
        assert part["status"] in ("passed", "skipped"), part
        assert part["budget_s"] > 0
    assert sum(part.budget_s for part in gpu_check.PARTS) <= gpu_check.OVERALL_BUDGET_S == 480  # 8 minutes on a GPU
    assert "report.json" in stdout and (out / "summary.md").is_file()


@pytest.mark.slow  # the script's quick mode: about a minute on a quiet 2-core machine
def test_every_part_says_no_cuda(quick_report):
    out, report, _ = quick_report
    parts = {part["name"]: part for part in report["parts"]}
    assert parts["glyphs_hard_bf16"]["status"] == "skipped"
    assert parts["glyphs_hard_bf16"]["reason"].startswith("skipped: no CUDA")
    for name, part in parts.items():
        if part["status"] != "skipped" and name != "prepare_glyphs_hard":  # a CPU stand-in ran: it says so
            assert part["cpu_tiny_mode"].startswith("skipped: no CUDA"), name
    summary = (out / "summary.md").read_text()
    assert "No CUDA here" in summary and summary.count("skipped: no CUDA") >= 1


@pytest.mark.slow  # the script's quick mode: about a minute on a quiet 2-core machine
def test_the_cpu_stand_ins_measured_something(quick_report):
    _, report, _ = quick_report
    parts = {part["name"]: part for part in report["parts"]}
    fp32 = parts["glyphs_hard_fp32"]["results"]
    assert fp32["epochs"] == 1 and fp32["images"] > 0 and fp32["images_per_s"][0] > 0
    assert fp32["step_wrapped"]  # the step was found, so on CUDA it runs under set_sync_debug_mode
    cub = parts["miniature_cub_bninception"]["results"]
    assert cub["recipe"]["backbone"] == "bninception" and cub["recipe"]["pretrained"] is False
    assert cub["eval_time_s"] and "R@1" in cub["metrics"]
    assert parts["torchrun_one_process"]["results"]["world_size"] == 1
    assert parts["bench_loss"]["results"]["ratio_lines"]


def test_the_training_step_is_found_for_the_host_sync_check():
    record = {"images": 0, "steps": 0}
    with gpu_check._checked_training_step(record, check_sync=False):
        assert record["step_wrapped"], "the trainer's step moved: update gpu_check._checked_training_step"


def test_the_summary_names_failures_timeouts_and_skips():
    report = {
        "created": "2026-01-01T00:00:00+00:00",
        "mode": "full",
        "cuda": True,
        "wall_s": 300.0,
        "overall_budget_s": 480,
        "machine": {"gpu": "Some GPU", "torch": "2.x", "cuda": "12.x", "python": "3.11", "cpu_count": 16},
        "parts": [
            {"name": "a", "title": "part a", "budget_s": 90, "status": "failed", "reason": "it broke", "wall_s": 3.0},
            {"name": "b", "title": "part b", "budget_s": 90, "status": "timed out", "reason": "stopped", "wall_s": 90},
            {"name": "c", "title": "part c", "budget_s": 90, "status": "skipped", "reason": "skipped: no CUDA"},
            {
                "name": "d",
                "title": "part d",
                "budget_s": 90,
                "status": "passed",
                "reason": "",
                "wall_s": 20.0,
                "results": {"images_per_s": [100.0, 200.0], "peak_memory_mib": 512.0, "metrics": {"R@1": 0.5}},
            },
        ],
    }
    text = gpu_check.summary(report)
    assert "| part a | failed: it broke |" in text and "| part b | timed out: stopped |" in text
    assert "| part c | skipped: no CUDA |" in text and "No CUDA here" not in text
    assert "images/s per epoch 100, 200" in text and "peak 512 MiB" in text


@pytest.mark.parametrize("cuda", [False, True])
def test_the_miniature_cub_trains_its_one_epoch(tmp_path, cuda):
    """Review of issue 18: the recipe's warm-up epoch was the run's only epoch, so the backbone never trained."""
    from proxygml_lite.training.schedule import backbone_frozen

    config = gpu_check.miniature_cub_config(tmp_path, cuda)
    assert config.epochs == 1 and config.warm == 0 and config.backbone == "bninception"
    assert not any(backbone_frozen(epoch, config.warm, config.warmup_mode) for epoch in range(config.epochs))
    assert config.device == ("cuda" if cuda else "cpu") and config.data == str(tmp_path / "miniature")


def test_the_bf16_part_is_skipped_in_one_line_on_a_gpu_without_bf16(tmp_path, monkeypatch, capsys):
    """Review of issue 18: a GPU without bfloat16 (a T4, ...) skips the bf16 part and says why, on the CPU here."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    monkeypatch.setattr(gpu_check, "machine", lambda: {"torch": torch.__version__, "python": "3", "cpu_count": 2})
    bf16, fp32 = gpu_check.BY_NAME["glyphs_hard_bf16"], gpu_check.BY_NAME["glyphs_hard_fp32"]
    assert gpu_check.skip_reason(bf16, cuda=True) == gpu_check.NO_BF16
    assert gpu_check.skip_reason(fp32, cuda=True) is None
    assert gpu_check.skip_reason(bf16, cuda=False).startswith("skipped: no CUDA")  # no CUDA says so first
    report = gpu_check.check(tmp_path / "out", False, ["glyphs_hard_bf16"], 480, str(tmp_path / "data"))
    (part,) = report["parts"]
    assert part["status"] == "skipped" and part["reason"] == gpu_check.NO_BF16
    assert capsys.readouterr().out.splitlines()[0] == f"glyphs_hard_bf16: skipped - {gpu_check.NO_BF16}"
    assert f"| {bf16.title} | {gpu_check.NO_BF16} |" in (tmp_path / "out" / "summary.md").read_text()
