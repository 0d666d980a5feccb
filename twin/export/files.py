"""Writing an export: the valley as of an instant, in one format, to one file (or stdout).

The assets are folded from one read of the log (:mod:`twin.asof`); those retired by the instant
are left out (an open-data portal lists what stands), as is everything about citizens. A regular
file is written beside its destination and renamed into place, so a reader never sees half an
export; a symbolic link's target is what is written, and a device or FIFO is written through
(renaming over it would replace the node).
Not responsible for the formats themselves (:mod:`twin.export.open_data`,
:mod:`twin.export.ngsi_ld`) nor for parsing a command line (:mod:`valley_twin.export_commands`).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from twin.asof import AssetAsOf, Instant, check_instant, valley_as_of
from twin.errors import InvalidInputError
from twin.export import ngsi_ld, open_data
from twin.geography import Geography, load_geography

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from twin.application import ValleyTwin

FORMATS = ("csv", "geojson", "ngsi-ld")
STDOUT = "-"


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    format: str
    destination: str
    at: datetime | None
    assets: dict[str, int]  # per kind
    records: int  # rows, features or entities
    entity_types: dict[str, int] = field(default_factory=dict)  # NGSI-LD only
    bytes: int = 0


def standing_assets(
    twin: ValleyTwin,
    at: Instant | None = None,
    kinds: Iterable[str] | str | None = None,
    known_at: Instant | None = None,
) -> list[AssetAsOf]:
    """The assets that stood at ``at`` (existing, not retired), ordered by kind and code; as
    the twin knew them at ``known_at`` if given."""
    return [
        asset
        for asset in valley_as_of(twin, at, kinds, known_at=known_at)
        if not asset.aggregate.retired
    ]


def render(
    fmt: str, assets: list[AssetAsOf], geography: Geography, at: datetime | None, handle: IO[str]
) -> tuple[int, dict[str, int]]:
    """Write the assets in ``fmt`` to an open text handle: (records, NGSI-LD entity types)."""
    if fmt == "csv":
        return open_data.write_csv(assets, geography, handle), {}
    if fmt == "geojson":
        collection = open_data.geojson_collection(assets, geography, at)
        _dump(collection, handle)
        return len(collection["features"]), {}
    if fmt == "ngsi-ld":
        entities = ngsi_ld.entities(assets, geography)
        _dump(entities, handle)
        return len(entities), dict(Counter(entity["type"] for entity in entities))
    raise InvalidInputError("format", fmt, f"one of {', '.join(FORMATS)}")


def export_valley(
    twin: ValleyTwin,
    fmt: str,
    out: str | Path,
    at: Instant | None = None,
    kinds: Iterable[str] | str | None = None,
    known_at: Instant | None = None,
) -> ExportSummary:
    """Export the assets standing at ``at`` (default: now) of these kinds (default: all) to ``out``.

    ``out`` is a file path, or ``"-"`` for standard output. ``known_at``: as the twin knew them
    at that recording instant (an audit of what an earlier export said).
    """
    if fmt not in FORMATS:
        raise InvalidInputError("format", fmt, f"one of {', '.join(FORMATS)}")
    instant = check_instant(at)
    assets = standing_assets(twin, instant, kinds, known_at=known_at)
    geography = load_geography()
    per_kind = dict(Counter(asset.kind for asset in assets))
    if str(out) == STDOUT:
        records, types = render(fmt, assets, geography, instant, sys.stdout)
        sys.stdout.flush()
        return ExportSummary(fmt, STDOUT, instant, per_kind, records, types)
    path = _destination(out)
    try:
        if path.exists() and not path.is_file():
            # A device, a FIFO: written through, never renamed over (that would replace the
            # node with a regular file).
            with path.open("w", encoding="utf-8", newline="") as handle:
                records, types = render(fmt, assets, geography, instant, handle)
            size = 0
        else:
            records, types = _replace_atomically(fmt, assets, geography, instant, path)
            size = path.stat().st_size
    except OSError as error:
        raise InvalidInputError(
            "--out", str(out), f"a file that can be written ({error.strerror or error})"
        ) from None
    return ExportSummary(fmt, str(path), instant, per_kind, records, types, size)


def _destination(out: str | Path) -> Path:
    """The file an export goes to: a symbolic link's target (the link is kept, the file it
    names is written), never a folder."""
    if not str(out).strip():
        raise InvalidInputError("--out", str(out), f"a file path, or {STDOUT} for standard output")
    path = Path(os.path.realpath(out))
    if path.is_dir():
        raise InvalidInputError("--out", str(out), "a file, not a folder")
    if not path.parent.is_dir():
        raise InvalidInputError("--out", str(out), "a file in an existing folder")
    return path


def _replace_atomically(
    fmt: str, assets: list[AssetAsOf], geography: Geography, at: datetime | None, path: Path
) -> tuple[int, dict[str, int]]:
    """Write beside ``path`` (a regular file or a new one) and rename into place: a reader
    never sees half an export."""
    # A scratch name of our own (not mkstemp's 0600 file): the export gets the usual permissions.
    scratch = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with scratch.open("w", encoding="utf-8", newline="") as handle:
            rendered = render(fmt, assets, geography, at, handle)
        os.replace(scratch, path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    return rendered


def _dump(value: Any, handle: IO[str]) -> None:
    # dumps, not dump: dump streams through the pure-Python encoder, several times slower.
    handle.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
