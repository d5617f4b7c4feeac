"""Notebook 7's downloads: where BN-Inception's ImageNet weights come from, and keeping files between Colab sessions.

* :func:`weights_status`: where the weights come from, whether they are
  cached, and the fallbacks the package offers;
* :func:`keep_downloads`: keeps the benchmark's archives and the weights on
  Drive between Colab sessions.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["weights_status", "keep_downloads"]


def weights_status() -> str:
    """Where BN-Inception's ImageNet weights come from, whether they are in the cache, and the fallbacks."""
    import torch

    from ..models.bninception import BNINCEPTION_URL
    from ..models.common import hash_prefix_from_filename

    name = Path(BNINCEPTION_URL).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    shown = str(cached).replace(str(Path.home()), "~", 1)
    state = (
        "present (its SHA-256 prefix is checked whenever it is loaded)"
        if cached.is_file()
        else "absent: the first run with pretrained weights downloads it there"
    )
    return "\n".join(
        [
            f"BN-Inception's ImageNet weights: {BNINCEPTION_URL}",
            "  published with Cadene's pretrainedmodels; the host data.lip6.fr has a record of outages",
            f"  cache: {shown}: {state}",
            "If the download fails, the error names the fallbacks the package offers:",
            f"  1. the same file from elsewhere (keep a copy, e.g. on Drive): put it at {shown},",
            f"     or pass --pretrained /path/to/{name}; the name's SHA-256 prefix "
            f"({hash_prefix_from_filename(name)}) is checked, so another file is refused;",
            "  2. --backbone resnet50: torchvision's ImageNet ResNet-50 (download.pytorch.org), not the paper's",
            "     backbone: its numbers are not the paper's setting;",
            "  3. --no-pretrained: random initialisation, far from the paper's recipe (notebook 6 trains from scratch).",
        ]
    )


def keep_downloads(benchmark: str, data_root, folder) -> list[str]:
    """Keep the benchmark's archives and BN-Inception's weights in ``folder`` (e.g. on Google Drive) between sessions.

    Both ways, each file once: a file only in ``folder`` is copied into this
    session (``<data_root>/archives/``, where ``prepare`` looks first, and
    torch's cache, where a run looks for the weights), a file only here is
    copied to ``folder``. The run's settings never change (no
    ``--pretrained PATH``), so ``--resume`` accepts the next session's run.
    Copies are atomic; the checksums are checked when the files are used.
    Returns one line per copy.
    """
    import torch

    from ..atomic_writers import atomic_copy
    from ..data.specs import SPECS, canonical_benchmark
    from ..models.bninception import BNINCEPTION_URL

    folder = Path(folder)
    here = {
        source.remote.filename: Path(data_root) / "archives" for source in SPECS[canonical_benchmark(benchmark)].sources
    }
    here[Path(BNINCEPTION_URL).name] = Path(torch.hub.get_dir()) / "checkpoints"
    copied = []
    for name, local in here.items():
        kept, session = folder / name, local / name
        if kept.is_file() and not session.is_file():
            atomic_copy(kept, session)
            copied.append(f"{name}: copied from {folder} into this session")
        elif session.is_file() and not kept.is_file():
            atomic_copy(session, kept)
            copied.append(f"{name}: kept in {folder} for the next session")
    return copied
