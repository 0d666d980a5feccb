"""``twin adapter list|run|unreadable|simulate``.

The ``twin`` program hands it the rest of its command line; the twin's own packages never
import device code. Exit codes: 0 success, 1 a bad configuration (or an outbox another
instance holds), 3 ingest unreachable.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.registry import available_adapters
from adapters.sdk import KeptUnreadable, OutboxInUseError, review_unreadable
from adapters.service import build_service, load_config, outbox_path, run_service
from adapters.simulators import write_simulated_payloads
from adapters.wire import AdapterError
from valley_twin.arguments import finite_number, whole_number

_SHOWN_PAYLOAD_CHARS = 300  # in the text listing; --json gives the payload as kept


def main(argv: Sequence[str] | None = None) -> int:
    """Run the adapter commands; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="twin adapter", description="Hardware adapters of the valley twin."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the adapters installed")
    listing.add_argument("--json", action="store_true")
    run = commands.add_parser("run", help="run one adapter until interrupted (or its input ends)")
    run.add_argument("name")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument(
        "--stats-every",
        type=finite_number(0, 86_400),
        metavar="SECONDS",
        help="log the counters this often (default: the configuration's stats_every_s, or 60; "
        "0: only on SIGUSR1 and at exit)",
    )
    unreadable = commands.add_parser(
        "unreadable",
        help="the payloads an adapter could not read, kept in its outbox (newest first)",
    )
    where = unreadable.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", type=Path, help="the adapter's configuration (its outbox)")
    where.add_argument("--outbox", type=Path, help="the outbox file itself")
    unreadable.add_argument("--json", action="store_true")
    unreadable.add_argument(
        "--limit", type=whole_number(1), default=20, help="at most this many (default 20)"
    )
    simulate = commands.add_parser(
        "simulate", help="write simulated device payloads for a set of devices"
    )
    simulate.add_argument(
        "--devices", type=Path, required=True, help="JSON description of the simulated devices"
    )
    simulate.add_argument(
        "--out", type=Path, required=True, help="folder for the JSON-lines payload files"
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list(args.json)
    if args.command == "simulate":
        return _simulate(args.devices, args.out)
    if args.command == "unreadable":
        return _unreadable(args.config, args.outbox, args.limit, args.json)
    return _run(args.name, args.config, args.stats_every)


def _list(as_json: bool) -> int:
    manifests = [adapter.manifest for adapter in available_adapters().values()]
    if as_json:
        # personal_data as the SDK applies it: an adapter of citizen.* kinds is, whatever it says.
        shown = [{**vars(m), "personal_data": m.personal} for m in manifests]
        print(json.dumps(shown, indent=2))
        return 0
    for manifest in manifests:
        print(
            f"{manifest.name:<20} {manifest.mode:<5} {', '.join(manifest.kinds):<45} {manifest.device}"
        )
    return 0


def _run(name: str, config_path: Path, stats_every_s: float | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(config_path)
        if stats_every_s is not None:
            config["stats_every_s"] = stats_every_s
        service = build_service(name, config, base=config_path.parent)
    except OutboxInUseError as error:
        print(f"twin adapter: {config_path}: {error}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError, OSError, sqlite3.Error) as error:
        # A KeyError's text is its argument's repr; show the message itself.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"twin adapter: {config_path}: {message}", file=sys.stderr)
        return 1
    except AdapterError as error:
        print(f"twin adapter: {error}", file=sys.stderr)
        return 3
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID`: the counters in the log, now
        signal.signal(signal.SIGUSR1, lambda *_: service.stats_wanted.set())
    run_service(service, stop)
    print(json.dumps(service.runner.stats.as_dict()))
    return 0


def _unreadable(config_path: Path | None, path: Path | None, limit: int, as_json: bool) -> int:
    try:
        if path is None:
            assert config_path is not None  # argparse requires one of the two
            path = outbox_path(load_config(config_path), base=config_path.parent)
        review = review_unreadable(path, limit)
    except (KeyError, ValueError, OSError, sqlite3.Error) as error:
        print(f"twin adapter unreadable: {config_path or path}: {error}", file=sys.stderr)
        return 1
    if as_json:
        document = {
            "outbox": str(path),
            "kept": review.kept,
            "dropped": review.dropped,
            "payloads": [_as_json(kept) for kept in review.payloads],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    print(
        f"{path}: {review.kept} unreadable payload(s) kept, {review.dropped} dropped "
        f"(the oldest, beyond the bound); newest first:"
    )
    for kept in review.payloads:
        print(f"{kept.received_at.isoformat()}  {kept.field}: {kept.reason}")
        print(f"    {_shown(kept)}")
    return 0


def _as_json(kept: KeptUnreadable) -> dict[str, Any]:
    text, encoding = _payload_text(kept.payload)
    return {
        "received_at": kept.received_at.isoformat(),
        "field": kept.field,
        "reason": kept.reason,
        "payload_bytes": kept.payload_bytes,
        "kept_bytes": 0 if kept.payload is None else len(kept.payload),
        "payload": text,
        "encoding": encoding,
    }


def _payload_text(payload: bytes | None) -> tuple[str | None, str | None]:
    if payload is None:
        return None, None
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


def _shown(kept: KeptUnreadable) -> str:
    if kept.payload is None:
        return f"payload ({kept.payload_bytes} bytes) not kept: it could hold personal data"
    text, encoding = _payload_text(kept.payload)
    assert text is not None
    shown = json.dumps(text, ensure_ascii=False)  # one line, quotes and controls escaped
    if len(shown) > _SHOWN_PAYLOAD_CHARS:
        shown = shown[:_SHOWN_PAYLOAD_CHARS] + "…"
    cut = f", kept {len(kept.payload)}" if kept.cut else ""
    return f"payload ({kept.payload_bytes} bytes{cut}, {encoding}): {shown}"


def _simulate(devices_path: Path, out: Path) -> int:
    try:
        counts = write_simulated_payloads(json.loads(devices_path.read_text(encoding="utf-8")), out)
    except (OSError, ValueError, KeyError, TypeError) as error:
        message = (
            f"missing {error.args[0]!r}" if isinstance(error, KeyError) and error.args else error
        )
        print(f"twin adapter simulate: {devices_path}: {message}", file=sys.stderr)
        return 1
    print(json.dumps(counts))
    return 0
