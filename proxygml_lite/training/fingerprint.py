"""The machine a run computed on, as ``results.json["machine"]``: what decides its float rounding.

A run is deterministic on one machine, but CPU float rounding differs between
processors (and between the instruction sets the math libraries pick on one
processor), and 50 epochs amplify the difference: the same config scores
another R@1 elsewhere. A result is therefore reproducible *exactly* only on
the same fingerprint; elsewhere only within the seed spread
(``tests/studies/test_committed_results.py``).

:func:`machine_fingerprint` records

* ``cpu``: the processor's model name;
* ``onednn_isa``: the instruction set oneDNN (torch's convolutions) actually
  dispatches to, read from oneDNN's own verbose header; it honours
  ``ONEDNN_MAX_CPU_ISA``, so ``ONEDNN_MAX_CPU_ISA=AVX2`` on an AVX-512 machine
  gives another fingerprint (``"unknown"`` where oneDNN is absent or silent);
* ``onednn_max_cpu_isa``: that variable as set (``ONEDNN_MAX_CPU_ISA`` or its
  old name ``DNNL_MAX_CPU_ISA``; ``null`` when unset);
* ``cpu_capability``: ATen's vector kernels (``torch.backends.cpu.get_cpu_capability()``,
  which ``ATEN_CPU_CAPABILITY`` lowers);
* ``torch``, ``numpy``, ``mkl``, ``onednn``, ``python``: the versions;
* ``threads``: ``torch.get_num_threads()`` (reductions split by thread count);
* ``device``: where the run computed (``cpu``, ``cuda:0``), and the GPU's name
  and CUDA version on a GPU;
* ``id``: :func:`fingerprint_id` of the above, 12 hex digits. Two runs of one
  config with the same ``id`` agree to the bit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
from typing import Any

__all__ = ["machine_fingerprint", "fingerprint_id", "UNKNOWN"]

#: What a field holds when it cannot be read (and what a table without fingerprints means: another machine).
UNKNOWN = "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or UNKNOWN


def _build_versions() -> dict[str, str]:
    """MKL and oneDNN versions as torch was built with them (``torch.__config__.show()``)."""
    import torch

    text = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([^\s]+)", text)
    onednn = re.search(r"(?:MKL-DNN|oneDNN)\s+(v[\d.]+)", text)
    return {"mkl": mkl.group(1) if mkl else UNKNOWN, "onednn": onednn.group(1) if onednn else UNKNOWN}


@functools.lru_cache(maxsize=1)
def _onednn_isa() -> str:
    """The ISA oneDNN dispatches to, from its verbose output while it runs one small convolution.

    oneDNN prints ``onednn_verbose,...,info,cpu,isa:<ISA>`` (once per process) and, for each
    primitive, its implementation (``brg_conv_fwd:avx2``). Both go to the C ``stdout``, so
    file descriptor 1 is pointed at a temporary file for the call.
    """
    import torch

    if not torch.backends.mkldnn.is_available():
        return UNKNOWN
    try:
        import ctypes

        libc = ctypes.CDLL(None)
    except (OSError, AttributeError, TypeError):  # no C library to flush (not POSIX)
        return UNKNOWN
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            try:
                with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON), torch.no_grad():
                    # batch 2: ATen routes a float32 convolution to oneDNN from two images up
                    torch.nn.functional.conv2d(torch.ones(2, 4, 8, 8), torch.ones(4, 4, 3, 3))
                libc.fflush(None)
            finally:
                os.dup2(saved, 1)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
    except OSError:
        return UNKNOWN
    finally:
        os.close(saved)
    header = re.search(r"isa:([^\n,]+)", text)
    if header:
        return header.group(1).strip()
    implementation = re.search(r":((?:avx|amx|sse)\w*)", text)
    return implementation.group(1) if implementation else UNKNOWN


def fingerprint_id(fingerprint: dict[str, Any]) -> str:
    """12 hex digits naming ``fingerprint``; equal ids = the same processor and software.

    Left out: ``id`` itself, and ``onednn_max_cpu_isa`` (the request; ``onednn_isa``, what oneDNN does with it,
    is in), so ``ONEDNN_MAX_CPU_ISA=AVX2`` on a machine that has AVX2 at most keeps its id.
    """
    fields = {k: v for k, v in fingerprint.items() if k not in ("id", "onednn_max_cpu_isa")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def machine_fingerprint(device: Any = "cpu") -> dict[str, Any]:
    """What decides a run's float rounding here (see the module docstring); ``id`` names it.

    Args:
        device: the run's device (``torch.device`` or its name).
    """
    import numpy as np
    import torch

    device = str(device)
    fingerprint: dict[str, Any] = {
        "cpu": _cpu_model(),
        "onednn_isa": _onednn_isa(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA"),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        **_build_versions(),
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        fingerprint["gpu"] = torch.cuda.get_device_name(torch.device(device))
        fingerprint["cuda"] = torch.version.cuda
    fingerprint["id"] = fingerprint_id(fingerprint)
    return fingerprint
