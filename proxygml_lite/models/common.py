"""Parts shared by every backbone: name and argument checks, weight files and their loading.

The embedding network itself is :class:`proxygml_lite.models.embedding.EmbeddingNet`.

Weight files are checked the way ``torch.hub`` checks them: when a file name
ends in ``-<hex digits>.<ext>`` (e.g. ``bn_inception-52deb4733.pth``) those
digits are a prefix of the SHA-256 of the file, and a file whose SHA-256 does
not start with them is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..atomic_writers import file_mode
from ..fileio import unsafe_pickle_refusal
from ..registry import BACKBONES

__all__ = [
    "BACKBONES",
    "check_backbone",
    "check_in_channels",
    "check_min_size",
    "LoadReport",
    "HashMismatchError",
    "hash_prefix_from_filename",
    "sha256_of_file",
    "check_file_hash",
    "read_state_dict",
    "load_backbone_weights",
    "fetch_to_hub_cache",
]

logger = logging.getLogger("proxygml_lite.models")

#: ``name-<8 to 64 lowercase hex digits>.<ext>``: the torch.hub convention for
#: naming a weights file after a prefix of its SHA-256. Fewer than 8 digits is
#: not taken as a hash (a name like ``run-a.pth`` is not checked).
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


class HashMismatchError(ValueError):
    """A weights file whose SHA-256 does not start with the prefix in its name."""


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_backbone_weights` did with a state dict.

    Attributes:
        source: where the weights came from (a path, or ``"<state dict>"``).
        loaded: backbone keys copied from the source.
        skipped: source keys deliberately not used (e.g. the ImageNet
            classifier ``last_linear.*`` / ``fc.*``).
        reshaped: keys stored as ``[1, C]`` in the source and squeezed to ``[C]``.
        hash_prefix: the SHA-256 prefix that was verified, or ``None`` when the
            source carries none (a file name without ``-<hash>``, a dict).
        kept: backbone buffers absent from the source and left as they were
            (only ``num_batches_tracked`` is tolerated; older files lack it).
    """

    source: str
    loaded: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    reshaped: tuple[str, ...] = ()
    hash_prefix: str | None = None
    kept: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        check = (
            f"SHA-256 prefix {self.hash_prefix} verified" if self.hash_prefix else "no hash in the name, not checked"
        )
        text = f"loaded {len(self.loaded)} backbone tensors from {self.source} ({check})"
        if self.reshaped:
            text += f"; {len(self.reshaped)} squeezed from [1, C] to [C]"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: {', '.join(self.skipped)}"
        if self.kept:
            text += f"; {len(self.kept)} num_batches_tracked buffers absent from the file, kept"
        return text

    def __str__(self) -> str:
        return self.summary()


def check_backbone(backbone) -> str:
    """Validate a backbone name of :data:`~proxygml_lite.registry.BACKBONES` (case-insensitive); its canonical form."""
    if isinstance(backbone, str) and backbone not in BACKBONES and backbone.lower() in BACKBONES:
        backbone = backbone.lower()
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}. Fix: use one of {', '.join(BACKBONES.choices())}.")
    return BACKBONES.canonical(backbone)


def check_min_size(name: str, height: int, width: int, minimum: int) -> None:
    """Raise ``ValueError`` when an input side is below ``minimum`` pixels."""
    if min(height, width) < minimum:
        raise ValueError(
            f"{name} needs images of at least {minimum}x{minimum} pixels; got {height}x{width}. "
            f"Fix: use build_transforms({name!r}, ...) or a larger image_size."
        )


def check_in_channels(backbone: str, in_channels) -> int:
    """``in_channels`` for ``backbone``: ``None`` -> its default (3; smallcnn: 1); others validated."""
    allowed = BACKBONES.get(backbone).options["channels"]
    if in_channels is None:
        return allowed[0]
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels not in allowed:
        if allowed == (1, 3):
            fix = "use 1 for grayscale images (the glyphs) or 3 for colour images"
        elif len(allowed) > 1:
            fix = f"use one of {', '.join(map(str, allowed))}"
        else:
            fix = (
                f"{backbone} takes 3-channel images (its ImageNet weights are colour); "
                f"build_transforms({backbone!r}, ...) converts grayscale images to 3 channels, so pass in_channels=3"
            )
        raise ValueError(f"in_channels={in_channels!r} is not supported by {backbone}. Fix: {fix}.")
    return in_channels


# --------------------------------------------------------------------------- #
# files and hashes
# --------------------------------------------------------------------------- #
def hash_prefix_from_filename(path: str | os.PathLike) -> str | None:
    """The SHA-256 prefix a file name carries (``bn_inception-52deb4733.pth`` -> ``"52deb4733"``), or ``None``."""
    match = _HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def sha256_of_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_file_hash(path: str | os.PathLike, url: str | None = None) -> str | None:
    """Verify the SHA-256 prefix carried by the file's name; return it (``None``: nothing to check).

    Raises:
        HashMismatchError: the file's SHA-256 does not start with the prefix.
    """
    expected = hash_prefix_from_filename(path)
    if expected is None:
        return None
    actual = sha256_of_file(path)
    if not actual.startswith(expected):
        where = f"download it again from {url}" if url else "download it again from where it was published"
        raise HashMismatchError(
            f"weights file {os.fspath(path)!r}: its name says the SHA-256 starts with {expected!r}, but the "
            f"file's SHA-256 starts with {actual[: len(expected)]!r} (full: {actual}). The file is corrupt, "
            f"truncated or not the published one. Fix: delete it and {where}; do not rename a different "
            "file to this name."
        )
    return expected


def read_state_dict(source, url: str | None = None) -> tuple[dict[str, torch.Tensor], str, str | None]:
    """Read a state dict from a path (hash-checked) or take a mapping as it is.

    Accepts a plain ``{key: tensor}`` mapping, or a checkpoint holding one under
    ``"state_dict"`` or ``"model"``; a ``"module."`` prefix on every key (saved
    from ``nn.DataParallel``) is removed. Files are read with
    ``torch.load(weights_only=True)``: tensors only, no arbitrary code.

    Returns:
        ``(state_dict, source description, verified hash prefix or None)``.
    """
    prefix = None
    if isinstance(source, Mapping):
        obj, where = source, "<state dict>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        where = os.fspath(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file {where!r} does not exist. Fix: pass the path of a downloaded weights file, "
                "pretrained=True to use/download the published ImageNet weights, or pretrained=False."
            )
        prefix = check_file_hash(path, url)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise unsafe_pickle_refusal(
                where,
                exc,
                "regenerate it with this package: pretrained=True downloads the published weights again, or "
                "save only the model's state dict (torch.save(model.state_dict(), path)) where it was trained",
            ) from None
        except (RuntimeError, EOFError, OSError) as exc:
            raise ValueError(
                f"could not read weights file {where!r} ({exc}). Fix: the file is corrupt or not a PyTorch "
                "file; download it again."
            ) from exc
    else:
        raise ValueError(
            f"weights source must be a path or a state dict, got {type(source).__name__}. "
            "Fix: pass pretrained=True, False, a path, or a {name: tensor} mapping."
        )

    for wrapper in ("state_dict", "model"):
        inner = obj.get(wrapper) if isinstance(obj, Mapping) else None
        if isinstance(inner, Mapping):
            obj = inner
            break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise ValueError(
            f"{where!r} is not a state dict of named tensors. Fix: pass a file saved with "
            "torch.save(module.state_dict(), path) or the published ImageNet weights."
        )
    state = dict(obj)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state, where, prefix


def fetch_to_hub_cache(url: str) -> Path:
    """Path of ``url``'s file in ``torch.hub.get_dir()/checkpoints``, downloaded there if absent.

    The download goes through ``torch.hub.download_url_to_file`` with the
    hash prefix from the file name (it writes a temporary file and moves it
    into place, so an interrupted download leaves nothing behind). A cached
    file is hash-checked again when it is read.
    """
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    dst = folder / os.path.basename(url)
    if dst.is_file():
        return dst
    folder.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s to %s", url, dst)
    try:
        torch.hub.download_url_to_file(url, os.fspath(dst), hash_prefix=hash_prefix_from_filename(dst), progress=True)
    except Exception as exc:  # network errors come in many types; all get the same fix
        raise RuntimeError(
            f"could not download {url} to {dst} ({type(exc).__name__}: {exc}). Fix: download the file by hand "
            f"and put it at {dst}, or pass pretrained='/path/to/{dst.name}', or pretrained=False."
        ) from exc
    os.chmod(dst, file_mode())  # torch.hub's temporary file is 0600; a shared cache must stay readable
    return dst


# --------------------------------------------------------------------------- #
# loading a state dict into a backbone
# --------------------------------------------------------------------------- #
def _preview(keys, limit: int = 12) -> str:
    keys = sorted(keys)
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_backbone_weights(
    backbone: nn.Module,
    source,
    *,
    skip_prefixes: tuple[str, ...] = (),
    url: str | None = None,
    expected_format: str = "the backbone's own state_dict",
) -> LoadReport:
    """Copy weights from ``source`` (path or mapping) into ``backbone``; strict on backbone keys.

    Every backbone parameter and buffer must be in the source (except
    ``num_batches_tracked``), every source key must be a backbone key or start
    with one of ``skip_prefixes`` (the ImageNet classifier), and shapes must
    agree, where a source tensor of shape ``[1, *shape]`` is squeezed to
    ``shape`` (the published BN-Inception file stores its BatchNorm tensors as
    ``[1, C]``). A state dict of a whole :class:`EmbeddingNet` (keys
    ``backbone.*`` and ``embedding.*``) is accepted too; its head is skipped.

    Raises:
        ValueError: listing the missing, unexpected and wrongly shaped keys.
    """
    state, where, prefix = read_state_dict(source, url)
    target = backbone.state_dict()
    if not any(k in target for k in state) and any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone.") :] if k.startswith("backbone.") else k: v for k, v in state.items()}
        skip_prefixes = (*skip_prefixes, "embedding.")

    new, loaded, skipped, reshaped, unexpected, bad_shape = {}, [], [], [], [], []
    for key, value in state.items():
        if key not in target:
            (skipped if key.startswith(skip_prefixes) else unexpected).append(key)
            continue
        want = target[key].shape
        if value.shape != want:
            if value.dim() == len(want) + 1 and value.shape[0] == 1 and value.shape[1:] == want:
                value = value.reshape(want)
                reshaped.append(key)
            else:
                bad_shape.append(f"{key}: file {list(value.shape)} vs model {list(want)}")
                continue
        new[key] = value
        loaded.append(key)
    missing = [k for k in target if k not in state]
    kept = [k for k in missing if k.endswith("num_batches_tracked")]
    missing = [k for k in missing if k not in kept]

    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"missing from the file ({len(missing)}): {_preview(missing)}")
        if unexpected:
            parts.append(f"unexpected in the file ({len(unexpected)}): {_preview(unexpected)}")
        if bad_shape:
            parts.append(f"wrong shape ({len(bad_shape)}): {_preview(bad_shape)}")
        raise ValueError(
            f"weights from {where!r} do not match the {type(backbone).__name__} backbone: "
            + "; ".join(parts)
            + f". Fix: pass weights in {expected_format} (keys must match exactly), or pretrained=False."
        )

    full = dict(target)
    full.update(new)
    backbone.load_state_dict(full, strict=True)
    report = LoadReport(
        source=where,
        loaded=tuple(loaded),
        skipped=tuple(skipped),
        reshaped=tuple(reshaped),
        hash_prefix=prefix,
        kept=tuple(kept),
    )
    logger.info("%s", report.summary())
    return report
