"""Setup and figure saving shared by the teaching notebooks.

Every notebook starts with ::

    from proxygml_lite.teaching.notebook import setup, save_figure
    cfg = setup(seed=0)

which seeds ``random``, NumPy and PyTorch, picks the device, reads the smoke
mode from the environment and knows where figures go. Environment variables:

* ``PROXYGML_SMOKE=1`` or ``CI=true``: smoke mode (fewer training steps), used
  by the test suite. ``PROXYGML_SMOKE=0`` forces full mode even under ``CI=true``.
* ``PROXYGML_FIGURES_DIR``: where :func:`save_figure` writes.

Without ``PROXYGML_FIGURES_DIR`` the figures go (see :func:`figures_dir`)

* in smoke mode, to a folder in the system's temporary directory: a smoke run
  (the test suite, ``CI=true``) never overwrites the committed ``figures/``;
* in a checkout of the repository, to its ``figures/``;
* otherwise (the package installed from a wheel), to ``figures/`` in the
  working directory, i.e. beside the notebook. Nothing is ever written
  inside the installed package.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic_writers import atomic_write
from ..training.device import seed_everything

__all__ = [
    "NotebookConfig",
    "is_smoke",
    "figures_dir",
    "checkout_root",
    "setup",
    "save_figure",
    "MAX_FIGURE_BYTES",
    "SMOKE_FIGURES_DIR",
    "MIN_FONT_SIZE",
    "FIGURE_STYLE",
]

#: Saved figures above this size trigger a warning (keep the repository small).
MAX_FIGURE_BYTES = 200_000
#: The smallest font size (points) of tick labels and legends in the notebooks' figures.
MIN_FONT_SIZE = 9
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class NotebookConfig:
    """What :func:`setup` decided: ``seed``, ``device``, ``smoke`` and ``figures_dir``."""

    seed: int
    device: torch.device
    smoke: bool
    figures_dir: Path

    def pick(self, full, smoke):
        """``smoke`` in smoke mode, else ``full`` (e.g. ``cfg.pick(full=400, smoke=20)`` training steps)."""
        return smoke if self.smoke else full


def is_smoke(environ=None) -> bool:
    """Smoke mode: ``PROXYGML_SMOKE`` if set (``1``/``0``), otherwise ``CI=true``."""
    environ = os.environ if environ is None else environ
    flag = environ.get("PROXYGML_SMOKE", "").strip().lower()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    if flag:
        raise ValueError(f"PROXYGML_SMOKE must be 1 (smoke mode) or 0 (full mode); got {flag!r}")
    return environ.get("CI", "").strip().lower() in _TRUE


#: Where smoke runs put their figures when no folder is configured (never the repository's figures/).
SMOKE_FIGURES_DIR = Path(tempfile.gettempdir()) / "proxygml_lite_smoke_figures"


def checkout_root() -> Path | None:
    """The checkout this package is imported from (``pyproject.toml`` beside ``proxygml_lite/``), else ``None``.

    The one place that looks for the repository (figures, results, data and runs folders are found from it).
    """
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "proxygml_lite").is_dir() else None


def figures_dir(environ=None) -> Path:
    """Where :func:`save_figure` writes.

    ``$PROXYGML_FIGURES_DIR`` if set; else, in smoke mode, :data:`SMOKE_FIGURES_DIR`
    (a temporary folder, so that smoke figures never replace the committed ones);
    else ``<repository>/figures`` in a checkout, or ``./figures`` (beside the
    notebook) when the package is installed from a wheel.
    """
    environ = os.environ if environ is None else environ
    override = environ.get("PROXYGML_FIGURES_DIR", "").strip()
    if override:
        return Path(override).expanduser().resolve()
    if is_smoke(environ):
        return SMOKE_FIGURES_DIR
    root = checkout_root()
    return (root if root is not None else Path.cwd()) / "figures"


#: The matplotlib settings of the notebooks' figures (:func:`setup`); the offline site draws its widgets' views
#: with them too, so that a view is the figure the notebook shows.
FIGURE_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "xtick.labelsize": MIN_FONT_SIZE,
    "ytick.labelsize": MIN_FONT_SIZE,
    "legend.fontsize": MIN_FONT_SIZE,
}


def _configure_matplotlib() -> None:
    import matplotlib

    matplotlib.rcParams.update(FIGURE_STYLE)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebooks extra
        return
    if get_ipython() is None:
        return
    try:  # inline figures as PNG only: small, renders everywhere
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover
        pass


def _short(path: Path) -> str:
    """``path`` relative to the working directory when both are inside the repository, else absolute."""
    root = checkout_root()
    try:
        if root is not None and path.resolve().is_relative_to(root) and Path.cwd().resolve().is_relative_to(root):
            return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        pass
    return str(path)


def setup(
    seed: int = 0, device: str | torch.device | None = None, verbose: bool = True, num_threads: int | None = 1
) -> NotebookConfig:
    """Seed everything, pick the device, read smoke mode, locate the figures folder, configure matplotlib.

    Args:
        seed: for ``random``, NumPy and PyTorch.
        device: ``None`` picks ``"cuda"`` when available, else ``"cpu"``
            (printing a hint: the notebooks are sized for a laptop CPU).
        verbose: print one line with the decisions.
        num_threads: CPU threads for PyTorch (``torch.set_num_threads``). The
            notebooks' tensors are tiny, so one thread is fastest; several only
            add overhead, which gets severe on a busy machine. ``None`` keeps
            PyTorch's default.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, e.g. setup(seed=0); got {seed!r}")
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be an int >= 1, or None to keep PyTorch's default; got {num_threads!r}")
        torch.set_num_threads(num_threads)
    seed_everything(seed)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu" and verbose:
            print("No GPU found: running on the CPU. That is fine, the notebooks are sized for a laptop CPU.")
    cfg = NotebookConfig(seed=seed, device=torch.device(device), smoke=is_smoke(), figures_dir=figures_dir())
    _configure_matplotlib()
    if verbose:
        mode = "smoke (quick check, fewer steps)" if cfg.smoke else "full"
        print(f"seed={seed}  device={cfg.device}  mode={mode}  figures -> {_short(cfg.figures_dir)}")
    return cfg


def save_figure(fig, name: str, dpi: int = 100, directory: str | os.PathLike | None = None) -> None:
    """Save ``fig`` as ``<figures dir>/<name>.png`` atomically.

    Returns nothing, so that a notebook cell ending in ``save_figure(...)``
    shows just the figure; the file is ``figures_dir() / f"{name}.png"``.

    ``name`` is a stable file stem such as ``"02_subgraph"`` (``.png`` is
    appended; a trailing ``.png`` is accepted). The folder is
    :func:`figures_dir` unless ``directory`` is given; it is created if needed.
    Warns if the file exceeds ``MAX_FIGURE_BYTES``.
    """
    if not isinstance(name, str) or not _NAME.match(name.removesuffix(".png")):
        raise ValueError(
            f"name must be a plain file stem like '02_subgraph' (letters, digits, '_', '-', '.'; no folders); "
            f"got {name!r}"
        )
    stem = name.removesuffix(".png")
    folder = Path(directory) if directory is not None else figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.png"
    atomic_write(target, lambda stream: fig.savefig(stream, format="png", dpi=dpi))  # mode from the umask
    size = target.stat().st_size
    if size > MAX_FIGURE_BYTES:
        warnings.warn(
            f"{target.name} is {size / 1000:.0f} kB (> {MAX_FIGURE_BYTES / 1000:.0f} kB): use a smaller figsize, "
            "fewer points or a lower dpi",
            UserWarning,
            stacklevel=2,
        )
