"""``twin export``: the command line of the exports.

Hooked into the ``twin`` program by :func:`add_commands`; errors travel as :mod:`twin.errors`
exceptions, which the program turns into its exit codes (1 for a bad instant or path, 3 when
the store cannot be used). Not responsible for the formats (:mod:`twin.export.files`).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from twin import ASSET_KINDS, open_twin, parse_instant
from twin.export import FORMATS, STDOUT, ExportSummary, export_valley

if TYPE_CHECKING:
    import argparse


def add_commands(subparsers: Any) -> None:
    """Add ``export`` to the ``twin`` program's sub-commands (an argparse subparsers action)."""
    export = subparsers.add_parser(
        "export",
        help="the valley's assets as CSV, GeoJSON or NGSI-LD (Smart Data Models), as of an instant",
        description="Export the assets standing at an instant. "
        "Citizens and anything they wrote are never exported.",
    )
    export.add_argument("--format", required=True, choices=FORMATS, help="file format")
    export.add_argument(
        "--at", metavar="INSTANT", help="ISO-8601 instant with offset (default: now)"
    )
    export.add_argument(
        "--known-at",
        metavar="INSTANT",
        help="as the twin knew it at this recording instant, before later facts and corrections",
    )
    export.add_argument(
        "--kind",
        action="append",
        choices=ASSET_KINDS,
        help="only assets of this kind (repeat for several; default: all)",
    )
    export.add_argument(
        "--out", required=True, metavar="PATH", help=f"file to write ({STDOUT}: standard output)"
    )
    export.add_argument(
        "--json",
        action="store_true",
        help="print what was written as JSON (on stderr with --out -)",
    )
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    at = None if args.at is None else parse_instant(args.at)
    known_at = None if args.known_at is None else parse_instant(args.known_at, "--known-at")
    twin = open_twin(args.store, create=False)
    try:
        summary = export_valley(
            twin, args.format, args.out, at=at, kinds=args.kind, known_at=known_at
        )
    finally:
        twin.close()
    # The summary goes where it cannot mix with an export written to standard output.
    where = sys.stderr if summary.destination == STDOUT else sys.stdout
    if args.json:
        print(json.dumps(as_dict(summary), indent=2, ensure_ascii=False), file=where)
    else:
        print(describe(summary), file=where)
    return 0


def as_dict(summary: ExportSummary) -> dict[str, Any]:
    """What was written, as plain data."""
    return {
        "format": summary.format,
        "destination": summary.destination,
        "at": None if summary.at is None else summary.at.isoformat(),
        "assets": summary.assets,
        "records": summary.records,
        "entity_types": summary.entity_types,
        "bytes": summary.bytes,
    }


def describe(summary: ExportSummary) -> str:
    """One line saying what was written."""
    kinds = ", ".join(f"{count} {kind}" for kind, count in summary.assets.items()) or "no assets"
    when = "now" if summary.at is None else summary.at.isoformat()
    size = f", {summary.bytes:,} bytes" if summary.bytes else ""
    types = ""
    if summary.entity_types:
        types = (
            " ("
            + ", ".join(f"{count} {name}" for name, count in summary.entity_types.items())
            + ")"
        )
    return (
        f"exported {kinds} as of {when}: {summary.records} {summary.format} records{types} "
        f"to {summary.destination}{size}"
    )
