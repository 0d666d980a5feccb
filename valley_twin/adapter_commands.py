"""``twin adapter list`` and ``twin adapter run NAME --config FILE``.

The ``twin`` program hands it the rest of its command line; the twin's own packages never
import device code. Exit codes: 0 success, 1 a bad configuration, 3 ingest
unreachable.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from adapters.registry import available_adapters
from adapters.service import build_service, load_config, run_service
from adapters.simulators import write_simulated_payloads
from adapters.wire import AdapterError


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
    return _run(args.name, args.config)


def _list(as_json: bool) -> int:
    manifests = [adapter.manifest for adapter in available_adapters().values()]
    if as_json:
        print(json.dumps([vars(m) for m in manifests], indent=2))
        return 0
    for manifest in manifests:
        print(
            f"{manifest.name:<20} {manifest.mode:<5} {', '.join(manifest.kinds):<45} {manifest.device}"
        )
    return 0


def _run(name: str, config_path: Path) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        service = build_service(name, load_config(config_path), base=config_path.parent)
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
    run_service(service, stop)
    print(json.dumps(service.runner.stats.as_dict()))
    return 0


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
