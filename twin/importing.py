"""Backfill: field facts from a file, recorded through ingest's own path with their own times.

A file of one kind of fact (``bin.fill``, ``site.energy``, …) as CSV or JSON Lines: columns
(or keys) ``asset``, ``observed_at`` (ISO-8601 with ``Z`` or an offset), ``device`` and the
kind's body fields named as on the wire (``docs/wire-protocol.md`` §6). Rows may come in any
order: they are recorded in world-time order. Each fact becomes the wire message an adapter
would send, with a message id derived from its content, and goes through ingest's validation,
domain rules and dedupe, so re-running an import records nothing twice and a refused fact is
a dead letter with its reason. A malformed file (an unknown column, a value of the wrong type,
an instant without its offset) is refused whole before anything is recorded, the error
naming the line and the field. Not responsible for reading devices' own formats (the
adapters are: the front door hands their facts here) nor for the command line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.wire import BODY_SCHEMAS, Envelope, Reply, encode, to_epoch_ms
from twin.errors import TwinError
from twin.ingest import Incoming, IngestProcessor
from twin.plausibility import Plausibility

if TYPE_CHECKING:
    from twin.application import ValleyTwin
    from twin.geography import Geography

FILE_FORMATS = ("csv", "jsonl")
DEFAULT_SOURCE = "import"
BATCH_SIZE = 1_000
_ATTEMPTS = 3
# Kinds whose handler ties the device to the asset (a bin's first reporting sensor is attached
# to it): a made-up device would shut the real sensor out, so these rows must name theirs.
KINDS_NEEDING_A_DEVICE = frozenset({"bin.fill", "device.battery", "device.fault"})
_COMMON_COLUMNS = ("asset", "observed_at", "device")
_INSTANT_BODY_FIELDS = frozenset({"interval_start", "starts_at"})  # epoch ms on the wire


class ImportFileError(TwinError):
    """A file cannot be imported as it is; the message names the line and the field."""

    def __init__(self, source: str, line: int, field: str, value: object, expected: str) -> None:
        self.line = line
        self.field = field
        self.expected = expected
        shown = value if not isinstance(value, str) or len(value) <= 60 else value[:57] + "..."
        where = source if line == 0 else f"{source}:{line}"  # line 0: the file as a whole
        super().__init__(f"{where}: {field}={shown!r}: expected {expected}")


@dataclass(frozen=True)
class Fact:
    """One row of an import file, checked and typed."""

    line: int
    asset: str
    kind: str
    observed_at: datetime
    device: str
    body: dict[str, Any]


@dataclass
class ImportSummary:
    """What an import did, fact by fact."""

    read: int = 0
    recorded: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # refused now, by rule
    refused_before: int = 0  # refused by an earlier import (still dead letters, not stored again)
    # A few refused facts, with their line, so a user can look at them.
    examples: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, as the command prints them."""
        return {
            "read": self.read,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "rejected": sum(self.rejected.values()) + self.refused_before,
            "rejected_by_reason": dict(self.rejected.most_common()),
            "refused_before": self.refused_before,
            "examples": [{"line": line, "reason": reason} for line, reason in self.examples],
        }


def file_format_of(path: Path, chosen: str | None = None) -> str:
    """The format chosen, else the one the file's extension names."""
    if chosen is not None:
        if chosen not in FILE_FORMATS:
            raise ImportFileError(str(path), 0, "format", chosen, " or ".join(FILE_FORMATS))
        return chosen
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ImportFileError(
        str(path), 0, "format", suffix or path.name, "a .csv or .jsonl file, or --format"
    )


def read_facts(path: Path, kind: str, file_format: str | None = None) -> list[Fact]:
    """Every fact of the file, checked; the first malformed row stops the whole file."""
    if kind not in BODY_SCHEMAS:
        raise ImportFileError(
            str(path), 0, "kind", kind, f"one of {', '.join(sorted(BODY_SCHEMAS))}"
        )
    chosen = file_format_of(path, file_format)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = (
                _csv_rows(handle, str(path), kind)
                if chosen == "csv"
                else _json_rows(handle, str(path))
            )
            return [_fact(str(path), kind, line, row) for line, row in rows]
    except OSError as error:
        raise ImportFileError(
            str(path), 0, "file", str(path), f"a readable file ({error})"
        ) from None
    except UnicodeDecodeError as error:
        raise ImportFileError(str(path), 0, "file", str(path), f"UTF-8 text ({error})") from None


def import_facts(
    twin: ValleyTwin,
    geography: Geography,
    facts: Iterable[Fact],
    source: str = DEFAULT_SOURCE,
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    plausibility: Plausibility | None = None,
) -> ImportSummary:
    """Record the facts in world-time order through ingest; return what happened to them."""
    ordered = sorted(facts, key=lambda fact: (fact.observed_at, fact.line))
    processor = IngestProcessor(twin, geography, clock=clock, plausibility=plausibility)
    summary = ImportSummary(read=len(ordered))
    refused = 0
    for start in range(0, len(ordered), BATCH_SIZE):
        batch = ordered[start : start + BATCH_SIZE]
        for fact, reply in zip(batch, _process(processor, batch, source), strict=True):
            if reply.status == "ack":
                summary.recorded += 1
            elif reply.status == "duplicate":
                summary.duplicates += 1
            else:
                refused += 1
                if len(summary.examples) < 10:
                    summary.examples.append((fact.line, reply.reason or "rejected"))
        if progress is not None:
            progress(start + len(batch), len(ordered))
    summary.rejected = processor.stats.rejected
    summary.refused_before = refused - sum(summary.rejected.values())
    return summary


def _process(processor: IngestProcessor, batch: list[Fact], source: str) -> list[Reply]:
    """Ingest's replies to a batch; what the store did not commit is sent again, as an
    adapter would resend it (a resent fact that did land is answered as a duplicate)."""
    messages = [Incoming(encode(_envelope(fact, source))) for fact in batch]
    replies: list[Reply | None] = [None] * len(batch)
    for _ in range(_ATTEMPTS):
        pending = [index for index, reply in enumerate(replies) if reply is None]
        if not pending:
            break
        for index, reply in zip(
            pending, processor.process([messages[i] for i in pending]), strict=True
        ):
            replies[index] = reply
    missing = [batch[index].line for index, reply in enumerate(replies) if reply is None]
    if missing:
        raise TwinError(
            f"the store did not commit the facts of lines {missing[:5]} after {_ATTEMPTS} attempts; "
            "import again: what was recorded is recognised and not recorded twice"
        )
    return [reply for reply in replies if reply is not None]


def message_id_of(fact: Fact) -> str:
    """The message id of a fact: the same fact, imported again, is the same message."""
    canonical = json.dumps(
        [fact.kind, fact.asset, fact.device, fact.observed_at.isoformat(), fact.body],
        sort_keys=True,
        separators=(",", ":"),
    )
    return "imp-" + hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


def _envelope(fact: Fact, source: str) -> Envelope:
    return Envelope(
        message_id_of(fact), source, fact.device, fact.asset, fact.kind, fact.observed_at, fact.body
    )


def _csv_rows(
    handle: Iterable[str], source: str, kind: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        return
    names = [name.strip() for name in header]
    allowed = (*_COMMON_COLUMNS, *(f.name for f in BODY_SCHEMAS[kind]))
    for name in names:
        if name not in allowed:
            raise ImportFileError(
                source, 1, "column", name, f"one of {', '.join(allowed)} for {kind}"
            )
    if len(set(names)) != len(names):
        repeated = next(name for name in names if names.count(name) > 1)
        raise ImportFileError(source, 1, "column", repeated, "each column once")
    for number, values in enumerate(reader, start=2):
        if not values or all(not value.strip() for value in values):
            continue  # a blank line
        if len(values) != len(names):
            raise ImportFileError(
                source, number, "row", ",".join(values), f"{len(names)} values, as the header has"
            )
        yield (
            number,
            {
                name: value.strip()
                for name, value in zip(names, values, strict=True)
                if value.strip()
            },
        )


def _json_rows(handle: Iterable[str], source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as error:
            raise ImportFileError(
                source, number, "line", text.strip(), f"one JSON object ({error})"
            ) from None
        if not isinstance(row, dict):
            raise ImportFileError(source, number, "line", text.strip(), "one JSON object")
        yield number, row


def _fact(source: str, kind: str, line: int, row: dict[str, Any]) -> Fact:
    schema = {f.name: f for f in BODY_SCHEMAS[kind]}
    for name in row:
        if name not in schema and name not in _COMMON_COLUMNS:
            raise ImportFileError(source, line, name, row[name], f"no such field in {kind}")
    asset = _text(source, line, "asset", row.get("asset"))
    observed_at = _instant(source, line, "observed_at", row.get("observed_at"))
    device = row.get("device")
    if device is None:
        if kind in KINDS_NEEDING_A_DEVICE:
            raise ImportFileError(
                source, line, "device", None, f"the sensor that reported this {kind}"
            )
        device = asset
    body: dict[str, Any] = {}
    for name, spec in schema.items():
        value = row.get(name)
        if value is None:
            if spec.required:
                raise ImportFileError(source, line, name, None, f"a value: {kind} requires it")
            continue
        try:
            body[name] = _typed(source, line, name, spec.kind, value)
        except ImportFileError as error:
            if not kind.startswith("citizen."):
                raise
            # A citizen's words never reach an error message, a log or a terminal.
            withheld = "(withheld: personal data)"
            raise ImportFileError(source, line, name, withheld, error.expected) from None
    return Fact(line, asset, kind, observed_at, _text(source, line, "device", device), body)


def _text(source: str, line: int, name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ImportFileError(source, line, name, value, "non-empty text")
    return value.strip()


def _instant(source: str, line: int, name: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise ImportFileError(source, line, name, value, "an ISO-8601 instant with Z or an offset")
    try:
        instant = datetime.fromisoformat(
            value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        raise ImportFileError(
            source, line, name, value, "an ISO-8601 instant, e.g. 2024-06-01T12:00:00Z"
        ) from None
    if instant.tzinfo is None:
        raise ImportFileError(
            source,
            line,
            name,
            value,
            "an instant with Z or a UTC offset (a local time is ambiguous)",
        )
    return instant.astimezone(UTC)


def _typed(source: str, line: int, name: str, kind: str, value: object) -> Any:
    if name in _INSTANT_BODY_FIELDS and not isinstance(value, int | float):
        return to_epoch_ms(_instant(source, line, name, value))
    if kind == "str":
        return _text(source, line, name, value)
    if isinstance(value, bool):
        raise ImportFileError(source, line, name, value, "a number")
    if isinstance(value, str):
        try:
            number = float(value) if kind == "number" else int(value)
        except ValueError:
            expected = (
                "a number (a dot for decimals, no unit)" if kind == "number" else "a whole number"
            )
            raise ImportFileError(source, line, name, value, expected) from None
    elif isinstance(value, int | float):
        number = value
    else:
        raise ImportFileError(source, line, name, value, "a number")
    if kind == "int" and (isinstance(number, float) and not number.is_integer()):
        raise ImportFileError(source, line, name, value, "a whole number")
    if isinstance(number, float) and not math.isfinite(number):
        raise ImportFileError(source, line, name, value, "a finite number")
    return int(number) if kind == "int" else number
