"""The machine fingerprint of ``results.json["machine"]``: what it records, and that its id names it."""

import os
import subprocess
import sys

import torch

from proxygml_lite.training.fingerprint import UNKNOWN, fingerprint_id, machine_fingerprint


def test_the_fingerprint_records_processor_isa_versions_threads_and_device():
    fingerprint = machine_fingerprint("cpu")
    assert {
        "cpu",
        "onednn_isa",
        "onednn_max_cpu_isa",
        "cpu_capability",
        "torch",
        "numpy",
        "mkl",
        "onednn",
        "python",
        "threads",
        "device",
        "id",
    } <= set(fingerprint)
    assert fingerprint["torch"] == torch.__version__ and fingerprint["device"] == "cpu"
    assert fingerprint["threads"] == torch.get_num_threads()
    assert fingerprint["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert fingerprint["cpu"] and fingerprint["cpu"] != UNKNOWN
    assert fingerprint["onednn_isa"] != UNKNOWN or not torch.backends.mkldnn.is_available()


def test_the_id_is_stable_and_changes_with_any_field_but_the_requested_isa():
    fingerprint = machine_fingerprint("cpu")
    assert machine_fingerprint("cpu")["id"] == fingerprint["id"] == fingerprint_id(fingerprint)
    assert len(fingerprint["id"]) == 12
    for field, other in (("onednn_isa", "Intel SSE4.1"), ("threads", 99), ("torch", "0.0"), ("device", "cuda:0")):
        assert fingerprint_id({**fingerprint, field: other}) != fingerprint["id"], field
    # the request alone is not the ISA: what oneDNN makes of it (onednn_isa) is
    assert fingerprint_id({**fingerprint, "onednn_max_cpu_isa": "AVX2"}) == fingerprint["id"]


def test_onednn_max_cpu_isa_lowers_the_recorded_isa_and_changes_the_id():
    if not torch.backends.mkldnn.is_available():
        return
    code = (
        "import json; from proxygml_lite.training.fingerprint import machine_fingerprint as f; print(json.dumps(f()))"
    )
    lowered = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "ONEDNN_MAX_CPU_ISA": "SSE41"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    here = machine_fingerprint("cpu")
    assert '"onednn_isa": "Intel SSE4.1"' in lowered and '"onednn_max_cpu_isa": "SSE41"' in lowered
    assert here["id"] not in lowered
