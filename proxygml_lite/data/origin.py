"""Where the extracted files in ``raw/<name>/`` came from, and what was verified (truthful manifests).

``prepare`` records, in ``raw/<name>/sources.json``, one entry per source it
extracted or copied there: the file, its actual checksum, the published one
and whether they matched (``verified``) or the user accepted a different
file with ``--accept-checksum``. A folder in ``raw/`` without an entry was put
there by someone else (for example extracted by hand): no archive was
checked. The manifest of the prepared folder repeats these entries, and the
error messages use them so that they advise removing only what ``prepare``
made itself, never what the user placed.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic_writers import atomic_write_json

__all__ = [
    "ORIGIN_NAME",
    "verified_record",
    "accepted_record",
    "hand_placed_record",
    "read_origins",
    "record_origin",
    "source_records",
    "raw_fix",
]

ORIGIN_NAME = "sources.json"


def verified_record(source, checksum: str) -> dict:
    algorithm = source.remote.algorithm
    return {
        "file": source.remote.filename,
        algorithm: checksum,
        f"published_{algorithm}": source.remote.checksum,
        "verified": True,
        "note": f"{algorithm} matches the published checksum",
    }


def accepted_record(source, checksum: str) -> dict:
    algorithm = source.remote.algorithm
    return {
        "file": source.remote.filename,
        algorithm: checksum,
        f"published_{algorithm}": source.remote.checksum,
        "verified": False,
        "note": f"{algorithm} differs from the published checksum; used because of --accept-checksum",
    }


def hand_placed_record(source, raw: Path) -> dict:
    algorithm = source.remote.algorithm
    return {
        "file": source.remote.filename,
        f"published_{algorithm}": source.remote.checksum,
        "verified": False,
        "note": f"not checked: {raw / source.unpacks_to} was already there (placed by hand, or extracted by a "
        "version of prepare that kept no record); no archive was read",
    }


def read_origins(raw: Path) -> dict:
    """``{unpacks_to: record}`` from ``raw/sources.json`` (empty when absent or unreadable)."""
    try:
        value = json.loads((raw / ORIGIN_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def record_origin(raw: Path, source, record: dict) -> None:
    """Add ``record`` for ``source`` to ``raw/sources.json`` (atomic)."""
    origins = read_origins(raw)
    origins[source.unpacks_to] = record
    atomic_write_json(raw / ORIGIN_NAME, origins, indent=1, sort_keys=True)


def source_records(spec, raw: Path) -> list[dict]:
    """The record of every source of ``spec``: from ``sources.json``, else "not checked" (placed by hand)."""
    origins = read_origins(raw)
    return [origins.get(s.unpacks_to) or hand_placed_record(s, raw) for s in spec.sources]


def raw_fix(spec, raw: Path, archives: Path) -> str:
    """What to do about a bad file under ``raw/``, per source; never advises deleting what the user placed."""
    fixes = []
    for source, record in zip(spec.sources, source_records(spec, raw), strict=True):
        path = raw / source.unpacks_to
        archive = archives / source.remote.filename
        if record.get("verified"):
            fixes.append(
                f"{path} was extracted by prepare from {archive}, whose checksum matched the published "
                f"one, so it was changed since: remove {path} (the archive is kept) and run prepare again"
            )
        elif "published_" + source.remote.algorithm in record and source.remote.algorithm in record:
            fixes.append(
                f"{path} comes from {archive}, used with --accept-checksum although its checksum differs "
                f"from the published one: the archive itself holds these files. Put the original archive "
                f"in {archives} (move yours away), remove {path}, and run prepare again"
            )
        else:
            fixes.append(
                f"{path} was placed there by hand (prepare has no record of extracting it), so prepare leaves it alone: "
                f"repair it, or move it out of {raw} and put the original archive in {archives}"
            )
    return "Fix: " + "; ".join(fixes) + "."
