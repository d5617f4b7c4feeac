"""The notebooks' widgets in a real JupyterLab, driven in headless Chromium.

tests/teaching/test_plots.py checks each widget's plotting function without a browser;
this checks what a student sees: every notebook opened in JupyterLab (served
from a temporary copy, so autosave never touches the repository), run top to
bottom in smoke mode, no error output, and its interactive figure redrawn
when a slider moves (keyboard on the slider handle, as a user would).

Needs Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run``
installs it) and the Python package ``playwright`` (in the ``test`` extra).
Playwright's own browser downloads are not used.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

pytestmark = [
    pytest.mark.slow,  # a JupyterLab and a browser
    pytest.mark.skipif(
        CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium), as .ci/run installs it"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[test]')")

# As the probe of this machine kind starts it: no background traffic on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/, kernels in smoke mode, figures to a temporary folder."""
    folder = tmp_path_factory.mktemp("lab")
    notebooks = folder / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks, ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    port = _free_port()
    env = dict(
        os.environ,
        CI="true",
        PROXYGML_SMOKE="1",
        PROXYGML_FIGURES_DIR=str(folder / "figures"),
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
        JUPYTER_CONFIG_DIR=str(folder / "config"),
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--LabApp.expose_app_in_browser=True",
        f"--notebook-dir={notebooks}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(folder / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail(f"JupyterLab did not start:\n{(folder / 'server.log').read_text()}")
                time.sleep(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


RUNNING = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
    const busy = [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('[*]'));
    return kernel && kernel.status === 'idle' && !busy
        && [...document.querySelectorAll('.jp-InputPrompt')].some(p => /\\[\\d+\\]/.test(p.textContent));
}"""


# Error outputs of the notebook's cells, read from JupyterLab's notebook model (in the page, errors and
# warnings are both rendered as stderr text).
CELL_ERRORS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    const errors = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        for (let j = 0; j < cell.outputs.length; j++) {
            const output = cell.outputs.get(j).toJSON();
            if (output.output_type === 'error') errors.push(`cell ${i}: ${output.ename}: ${output.evalue}`);
        }
    }
    return errors;
}"""


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab_and_its_widget_redraws(lab, browser, name):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{lab}/lab/tree/{name}.ipynb?reset")
        page.wait_for_function(
            "() => window.jupyterapp !== undefined && window.jupyterapp.shell.currentWidget "
            "&& window.jupyterapp.shell.currentWidget.sessionContext.session",
            timeout=90_000,
        )
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=90_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(RUNNING, timeout=240_000, polling=500)

        assert page.evaluate(CELL_ERRORS) == [], f"{name}: a cell failed in JupyterLab"

        # the interactive figure: controls above an output area holding the figure
        box = (
            page.locator(".widget-vbox")
            .filter(has=page.locator(".widget-slider"))
            .filter(has=page.locator("img"))
            .first.element_handle()
        )
        box.scroll_into_view_if_needed()
        before = box.query_selector("img").get_attribute("src")
        readout = box.query_selector(".widget-slider .widget-readout")
        value = readout.inner_text()
        box.query_selector(".widget-slider .noUi-handle").focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
        if readout.inner_text() == value:  # the slider was at its maximum
            page.keyboard.press("ArrowLeft")
        assert readout.inner_text() != value, f"{name}: the slider did not move"
        _wait_for_a_new_figure(page, box, before, f"{name}: no new figure after the slider moved")

        if name in COMPARISONS:  # the comparison widget: pick another cell B in its second menu
            box = (
                page.locator(".widget-vbox")
                .filter(has=page.locator(".widget-dropdown"))
                .filter(has=page.locator("img"))
                .first.element_handle()
            )
            box.scroll_into_view_if_needed()
            before = box.query_selector("img").get_attribute("src")
            cell_b = box.query_selector_all(".widget-dropdown select")[1]
            chosen = cell_b.evaluate("select => select.selectedIndex")
            cell_b.select_option(index=2 if chosen != 2 else 3)
            _wait_for_a_new_figure(page, box, before, f"{name}: no new comparison after cell B changed")
    finally:
        page.close()


#: The notebooks whose comparison widget (two menus of cells) is tested too.
COMPARISONS = {"08_parameter_study_N_r", "10_ablation_table"}


def _wait_for_a_new_figure(page, box, before: str, failure: str) -> None:
    try:
        page.wait_for_function(
            "([box, old]) => { const img = box.querySelector('img'); return img && img.src !== old; }",
            arg=[box, before],
            timeout=60_000,
        )
    except sync_api.TimeoutError:
        pytest.fail(f"{failure}; the widget shows:\n{box.inner_text()}", pytrace=False)
