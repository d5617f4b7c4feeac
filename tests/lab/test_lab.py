"""`make lab` (the README's command) starts JupyterLab serving notebooks/."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs the make-created .venv")
def test_make_lab_serves_the_notebooks_folder(tmp_path):
    port = _free_port()
    extra = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token= --ServerApp.password="
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    process = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_EXTRA={extra}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        listing = None
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=5) as response:
                    listing = json.load(response)
                break
            except OSError:
                time.sleep(1)
        assert listing is not None, "JupyterLab did not answer"
        names = {entry["name"] for entry in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").iterdir() if p.suffix == ".ipynb"}
        assert expected and expected <= names, (expected, names)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=10) as response:
            assert response.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
