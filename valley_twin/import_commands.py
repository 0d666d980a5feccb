"""``twin import FILE``: backfill the log with facts from a file, with their own times.

CSV or JSON Lines of one kind of fact (:mod:`twin.importing`), or a device export read by an
installed adapter (``--adapter lorawan-ultrasonic --config FILE``: one uplink of ChirpStack
v4 or The Things Stack v3 per line, or a JSON array of them). A malformed file exits 1
naming the line and the field, with nothing recorded; refused facts are dead letters and are
counted in the summary. Not responsible for validation (ingest's) nor for the file formats.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from adapters.registry import available_adapters
from adapters.service import load_config
from adapters.wire import KINDS, AdapterError
from twin import (
    DEFAULT_IMPORT_SOURCE,
    IMPORT_FILE_FORMATS,
    Fact,
    ImportFileError,
    ImportSummary,
    InvalidInputError,
    import_facts,
    load_geography,
    load_plausibility,
    open_twin,
    read_facts,
)
from twin.projections import StatusLine

if TYPE_CHECKING:
    import argparse

    from adapters.sdk import Adapter


def add_commands(subparsers: Any) -> None:
    """Add ``import`` to the ``twin`` program's sub-commands (an argparse subparsers action)."""
    command = subparsers.add_parser(
        "import",
        help="backfill facts from a CSV or JSON Lines file, or a device export",
        description="Record the facts of a file with their original times, through ingest's "
        "validation and dedupe (importing a file again records nothing twice).",
    )
    command.add_argument("file", type=Path, help="the file to import")
    command.add_argument(
        "--kind", choices=sorted(KINDS), help="the kind of every fact (CSV, JSON Lines)"
    )
    command.add_argument(
        "--format", choices=IMPORT_FILE_FORMATS, help="default: from the extension"
    )
    command.add_argument(
        "--adapter",
        metavar="NAME",
        help="read device payloads with this adapter (see twin adapter list)",
    )
    command.add_argument(
        "--config", type=Path, help="the adapter's configuration file (with --adapter)"
    )
    command.add_argument(
        "--source", default=DEFAULT_IMPORT_SOURCE, help="who sent these facts (default %(default)s)"
    )
    command.add_argument(
        "--plausibility", type=Path, metavar="FILE", help="TOML file of plausibility limits"
    )
    command.add_argument("--json", action="store_true", help="print the summary as JSON")
    command.set_defaults(handler=_import)


def _import(args: argparse.Namespace) -> int:
    if args.adapter is not None:
        if args.config is None:
            raise InvalidInputError(
                "--config", None, "the adapter's configuration file with --adapter"
            )
        facts = _device_facts(args.file, args.adapter, args.config)
    else:
        if args.kind is None:
            raise InvalidInputError("--kind", None, f"one of {', '.join(sorted(KINDS))}")
        facts = read_facts(args.file, args.kind, args.format)
    twin = open_twin(args.store)
    progress = _Progress(sys.stderr)
    try:
        summary = import_facts(
            twin,
            load_geography(),
            facts,
            args.source,
            progress,
            plausibility=load_plausibility(args.plausibility),
        )
    finally:
        progress.close()
        twin.close()
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_summary(summary)
    return 0


def _device_facts(path: Path, name: str, config_path: Path) -> list[Fact]:
    adapters = available_adapters()
    if name not in adapters:
        raise InvalidInputError("--adapter", name, f"one of {', '.join(sorted(adapters))}")
    try:
        adapter: Adapter = adapters[name](load_config(config_path).get("adapter", {}))
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            "--config", str(config_path), f"a valid {name} configuration ({error})"
        ) from None
    facts: list[Fact] = []
    received_at = datetime.now(UTC)  # what an adapter reading the export now would be told
    for line, payload in _payloads(path):
        try:
            readings = adapter.readings(payload, received_at)
        except (AdapterError, ValueError) as error:
            raise ImportFileError(
                str(path), line, "payload", payload, f"a {name} payload ({error})"
            ) from None
        facts.extend(
            Fact(line, r.asset, r.kind, r.observed_at, r.device, dict(r.body)) for r in readings
        )
    return facts


def _payloads(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ImportFileError(
            str(path), 0, "file", str(path), f"a readable UTF-8 file ({error})"
        ) from None
    if text.lstrip().startswith("["):
        try:
            documents = json.loads(text)
        except ValueError as error:
            raise ImportFileError(
                str(path), 1, "file", text[:60], f"a JSON array ({error})"
            ) from None
        return [
            (number, json.dumps(document)) for number, document in enumerate(documents, start=1)
        ]
    return [
        (number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()
    ]


def _print_summary(summary: ImportSummary) -> None:
    print(
        f"read {summary.read}, recorded {summary.recorded}, duplicates {summary.duplicates}, "
        f"rejected {sum(summary.rejected.values()) + summary.refused_before}"
    )
    if summary.refused_before:
        print(f"  rejected {summary.refused_before} already refused by an earlier import")
    for reason, count in summary.rejected.most_common():
        print(f"  rejected {count} x {reason}")
    for line, reason in summary.examples:
        print(f"  line {line}: {reason}")
    if summary.rejected or summary.refused_before:
        print("the rejected facts are dead letters: twin deadletters shows them")


class _Progress:
    """``import_facts``' progress callable: facts recorded so far, on a status line."""

    def __init__(self, stream: TextIO) -> None:
        self.line = StatusLine("import", stream)

    def __call__(self, done: int, total: int) -> None:
        filled = 20 * done // max(total, 1)
        self.line.update(f"[{'#' * filled}{' ' * (20 - filled)}] {done:,}/{total:,} facts")

    def close(self) -> None:
        self.line.close()
