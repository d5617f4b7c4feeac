"""Start-up of the command line: ``--help`` builds the parser without importing torch and its heavy companions.

The registries' names are read when a value is checked, not to build the
parser (:func:`proxygml_lite.training.options.add_flags`), and the package loads its
torch-based parts on first use. Checked by what a fresh process imported, not
by timing it.
"""

import subprocess
import sys

HEAVY = ("torch", "torchvision", "sklearn", "scipy", "umap", "faiss", "matplotlib")


def _modules_after(argv: list[str]) -> tuple[set[str], str]:
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['proxygml_lite.train', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('proxygml_lite.train', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('imported:', *(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("imported:"), done.stdout
    return set(last.split()[1:]), done.stdout + done.stderr


def test_help_imports_neither_torch_nor_torchvision_nor_sklearn():
    imported, output = _modules_after(["--help"])
    assert "--loss LOSS" in output and "--dataset" in output
    assert imported == set(), f"--help imported {sorted(imported)}"


def test_a_wrong_registered_name_still_lists_the_choices():
    _, output = _modules_after(["--loss", "nope"])
    assert "argument --loss: invalid choice: 'nope' (choose from 'proxygml'" in output


def test_the_package_loads_its_torch_parts_on_first_use():
    code = (
        "import sys, proxygml_lite\n"
        "assert 'torch' not in sys.modules\n"
        "assert proxygml_lite.ProxyGMLLoss.__name__ == 'ProxyGMLLoss'\n"
        "assert proxygml_lite.evaluation.evaluate and proxygml_lite.steps\n"
        "from proxygml_lite.training import TrainConfig, train\n"
        "assert proxygml_lite.__version__\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "ok", done.stderr
