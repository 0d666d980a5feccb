"""``twin projections status | rebuild [NAME] | run``: the projections on the command line.

Handlers follow :mod:`valley_twin.cli`'s conventions: they return the exit code; store failures
raise ``StoreUnavailableError`` (exit 3) and a projection that cannot apply an event raises
``ProjectionError`` (a ``TwinError``: exit 1, one line on stderr). Ctrl-C during a rebuild
or a run rolls back the page in hand, so tracking and views stay consistent; the command
then says where it stopped and exits with 130. Not responsible for the projections' logic.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from twin import open_twin
from twin.projections import (
    DEFAULT_PAGE_SIZE,
    PROJECTIONS,
    ProgressBar,
    ProjectionStatus,
    catch_up,
    follow,
    rebuild,
    status,
)

EXIT_INTERRUPTED = 130  # the shell's convention for a command ended by SIGINT


def add_commands(subparsers: Any) -> None:
    """Add ``projections`` and its sub-commands to the ``twin`` parser's sub-commands."""
    names = sorted(PROJECTIONS)
    projections = subparsers.add_parser(
        "projections", help="read models kept from the log: status, rebuild, run"
    )
    commands = projections.add_subparsers(
        dest="projections_command", required=True, metavar="COMMAND"
    )

    show = commands.add_parser("status", help="each projection: position, log head, lag, rows")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_status)

    again = commands.add_parser(
        "rebuild", help="drop a projection's tables (all, without NAME) and rebuild them from zero"
    )
    again.add_argument("name", nargs="?", choices=names, metavar="NAME", help=", ".join(names))
    again.add_argument(
        "--page-size",
        type=_positive,
        default=DEFAULT_PAGE_SIZE,
        help="events per transaction (default %(default)s)",
    )
    again.add_argument("--json", action="store_true", help="print JSON")
    again.set_defaults(handler=_rebuild)

    run = commands.add_parser(
        "run", help="follow the log and keep projections up to date until interrupted"
    )
    # Not ``choices``: argparse (3.11) rejects an empty list against choices with nargs="*".
    run.add_argument(
        "names", nargs="*", type=_name, metavar="NAME", help="only these (default: all)"
    )
    run.add_argument(
        "--interval", type=float, default=1.0, help="seconds between polls (default %(default)s)"
    )
    run.add_argument("--once", action="store_true", help="catch up once and exit")
    run.add_argument(
        "--page-size",
        type=_positive,
        default=DEFAULT_PAGE_SIZE,
        help="events per transaction (default %(default)s)",
    )
    run.set_defaults(handler=_run)


def _name(text: str) -> str:
    if text not in PROJECTIONS:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(sorted(PROJECTIONS))})"
        )
    return text


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number of at least 1")
    return value


def _status(args: argparse.Namespace) -> int:
    twin = open_twin(args.store, create=False)
    try:
        report = status(twin)
    finally:
        twin.close()
    if args.json:
        print(json.dumps([s.as_dict() for s in report], indent=2))
        return 0
    print(f"{'projection':<18} {'position':>12} {'head':>12} {'lag':>10} {'rows':>10}  state")
    for item in report:
        print(_status_line(item))
    return 0


def _status_line(item: ProjectionStatus) -> str:
    lag = "-" if item.lag is None else f"{item.lag:,}"
    rows = next(iter(item.rows.values()), 0)
    return (
        f"{item.name:<18} {item.position:>12,} {item.head:>12,} {lag:>10} {rows:>10,}  {item.state}"
    )


def _rebuild(args: argparse.Namespace) -> int:
    label = args.name or "all projections"
    twin = open_twin(args.store, create=False)
    bar = ProgressBar(f"rebuild {label}")
    try:
        applied = rebuild(twin, args.name, bar, page_size=args.page_size)
    except KeyboardInterrupt:
        bar.close()
        print(_interrupted(twin, "rebuild"), file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        twin.close()
    bar.close()
    if args.json:
        print(json.dumps({"rebuilt": applied}, indent=2))
        return 0
    print(f"rebuilt {label}: " + ", ".join(f"{n} {c:,} events" for n, c in applied.items()))
    return 0


def _run(args: argparse.Namespace) -> int:
    names = args.names or None
    twin = open_twin(args.store, create=False)
    try:
        if args.once:
            applied = catch_up(twin, names, page_size=args.page_size)
        else:
            stop = threading.Event()
            previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print(
                "twin projections: following the log (Ctrl-C to stop)", file=sys.stderr, flush=True
            )
            try:
                applied = follow(
                    twin, names, stop=stop, interval=args.interval, page_size=args.page_size
                )
            finally:
                signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt:
        print(_interrupted(twin, "run"), file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        twin.close()
    print(", ".join(f"{n} {c:,} events applied" for n, c in applied.items()))
    return 0


def _interrupted(twin: Any, what: str) -> str:
    try:
        standing = ", ".join(f"{s.name} at {s.position:,}/{s.head:,}" for s in status(twin))
    except Exception:  # the message must not hide the interruption behind another error
        standing = "positions unknown"
    return (
        f"twin projections {what}: interrupted; the page in hand was rolled back ({standing}). "
        "`twin projections run` resumes from there."
    )
