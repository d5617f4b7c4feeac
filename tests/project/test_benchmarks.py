"""The benchmark scripts run (tiny sizes; no timing is asserted: that is the scripts' job)."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_bench_loss_quick_prints_ratios():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_loss.py"), "--quick", "--repeats", "1", "--dim", "32"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    ratio_lines = [line for line in out.stdout.splitlines() if "ratio: dense / proxygml time" in line]
    assert len(ratio_lines) == 1, out.stdout


def test_bench_eval_small_prints_ratio():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_eval.py"), "--n", "1500", "--classes", "300", "--dim", "32"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "ratio pml / ours" in out.stdout, out.stdout


def test_bench_proxy_losses_quick_prints_ratios():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_proxy_losses.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    ratio_lines = [line for line in out.stdout.splitlines() if "ratio time / proxygml time" in line]
    assert len(ratio_lines) == 2 and all("softtriple" in line for line in ratio_lines), out.stdout


def test_bench_train_step_quick_prints_before_and_after():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_train_step.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "ratio: before / after time per step" in out.stdout, out.stdout
    assert any(line.split()[:1] == ["before"] for line in out.stdout.splitlines()), out.stdout


def test_bench_amp_subgraph_and_nmi_protocols_run():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_amp_subgraph.py"), "--seeds", "1", "--batch", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "samples with another subgraph" in out.stdout and "smallcnn" in out.stdout, out.stdout
    out = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_nmi_protocols.py"),
            "--classes",
            "10",
            "--per-class",
            "5",
            "--dim",
            "8",
            "--noise",
            "1.0",
            "--seeds",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "time / sklearn" in out.stdout and "faiss" in out.stdout, out.stdout


def test_bench_data_pipeline_quick_prints_images_per_second_beside_torchvision():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_data_pipeline.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith(("torchvision ", "package "))}
    assert set(rows) == {"torchvision", "package"}, out.stdout
    assert "package + draft" in out.stdout and "ratio to torchvision ImageFolder (same run)" in out.stdout
    assert "gpu decode_jpeg" in out.stdout  # measured with CUDA, "skipped: no CUDA" without
    assert "The recipe needs about" in out.stdout and "ASSUMING" in out.stdout


def test_a_bad_flag_or_seed_is_one_line_from_every_benchmark():
    """The benchmarks refuse as the package's tools do (``command_line.Parser``): one line, no usage block."""
    for script in sorted(BENCHMARKS.glob("bench_*.py")):
        flags = ["--seed", str(2**31)] if script.name == "bench_eval.py" else ["--no-such-flag"]
        out = subprocess.run([sys.executable, str(script), *flags], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and out.stdout == "", script.name
        (line,) = out.stderr.splitlines()
        assert line.startswith(f"{script.name}: error: ") and line.endswith("; see --help"), line
        if script.name == "bench_eval.py":
            assert "outside the seeds' range: pass seeds from 0 to 2147483647" in line
