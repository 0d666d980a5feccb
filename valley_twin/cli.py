"""The ``twin`` command-line program.

Exit codes: 0 success; 1 a user mistake (unknown id, bad instant, point outside the valley,
a broken domain rule); 2 a malformed command line; 3 the event store cannot be used.
User mistakes print one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shlex
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import platformdirs
from eventsourcing.persistence import PersistenceError

from adapters.wire import AdapterError, create_keypair
from domain import Bin, Citizen, DomainError, WasteStream
from scenarios import recorded_fleet
from simulation import FleetRouter, lateness_needed, replay
from twin import (
    DEFAULT_ENDPOINT,
    Geography,
    InvalidInputError,
    PersonalData,
    ServerSettings,
    SpatialIndex,
    StoreConfigError,
    StoreUnavailableError,
    TwinError,
    ValleyTwin,
    aggregate_event,
    allow_list_entry,
    asset_view,
    format_event,
    format_state,
    history_view,
    load_geography,
    load_plausibility,
    open_twin,
    parse_instant,
    plan_inventory,
    read_status,
    recorded_tours,
    store_config,
    summarise,
)
from valley_twin import adapter_commands, scenario_commands
from valley_twin.arguments import finite_number, whole_number
from valley_twin.bootstrap import ingest_service, load_credentials
from valley_twin.citizen_commands import add_commands as add_citizen_commands
from valley_twin.deadletter_commands import add_commands as add_deadletter_commands
from valley_twin.export_commands import add_commands as add_export_commands
from valley_twin.health_commands import add_commands as add_health_commands
from valley_twin.import_commands import add_commands as add_import_commands
from valley_twin.live_demo import (
    DEMO_ROUND_CYCLE_DAYS,
    FeedResult,
    demo_summary,
    feed_start,
    feed_summary,
    history_scenarios,
    run_live_feed,
    write_demo_summary,
)
from valley_twin.projection_commands import add_commands as add_projection_commands
from valley_twin.serve_command import add_commands as add_serve_commands
from valley_twin.serve_command import serve_hint

DEFAULT_SEED = 42
EXIT_USER_ERROR = 1
EXIT_STORE_ERROR = 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``twin`` program; return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        plugin = _plugin_arguments(arguments)
        if plugin is not None:  # `twin scenario -h` is the scenario command's own help
            name, rest = plugin
            code = int(_COMMAND_LINES[name](rest))
        else:
            args = _parser().parse_args(arguments)
            code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe is found here, not at exit where it cannot be handled
        return code
    except (StoreConfigError, StoreUnavailableError) as error:
        print(f"twin: {error}", file=sys.stderr)
        return EXIT_STORE_ERROR
    except (PersistenceError, sqlite3.Error) as error:
        # A store that opened but fails on reading (a damaged file, a server gone).
        print(f"twin: the event store cannot be used: {error}", file=sys.stderr)
        return EXIT_STORE_ERROR
    except (TwinError, DomainError, AdapterError) as error:
        print(f"twin: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # The reader stopped early (`twin show … | head`): what it read was what it wanted.
        # Python would still try to flush stdout at exit and print a traceback; point it away.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


_COMMAND_LINES = {"adapter": adapter_commands.main, "scenario": scenario_commands.main}


def _plugin_arguments(arguments: list[str]) -> tuple[str, list[str]] | None:
    """(name, its arguments) when the command is one that parses its own command line."""
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        if argument in ("-h", "--help"):
            return None
        if argument == "--store":
            position += 2
        elif argument.startswith("-"):
            position += 1
        else:
            if argument in _COMMAND_LINES:
                return argument, arguments[position + 1 :]
            return None
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twin",
        description="Event-sourced digital twin of the Vallée de l'Hérault.",
        epilog="Exit codes: 0 success, 1 a user mistake, 2 a malformed command line, "
        "3 the event store cannot be used (missing, damaged, unreachable).",
    )
    parser.add_argument(
        "--store",
        help="event store URL: sqlite:///relative/path (three slashes: relative to the current "
        "folder), sqlite:////absolute/path (four: from /), or postgresql://user@host:port/db "
        "(default: $TWIN_STORE, else an SQLite file in your data directory). Only init, demo, "
        "ingest and import create a store; other commands refuse one that does not exist",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create the store and install the valley's inventory")
    init.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="inventory seed (default %(default)s)"
    )
    init.add_argument("--json", action="store_true", help="print JSON")
    init.set_defaults(handler=_init)

    demo = commands.add_parser(
        "demo",
        help="build the valley in a fresh embedded store, feed it weeks of device traffic, summarise",
    )
    demo.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="inventory seed (default %(default)s)"
    )
    demo.add_argument(
        "--days",
        type=whole_number(0, 366),
        default=14,
        help="days of simulated traffic (0: none; default %(default)s)",
    )
    demo.add_argument(
        "--report",
        type=Path,
        default=default_report_dir(),
        help="where the what-if report goes (default %(default)s)",
    )
    demo.add_argument(
        "--no-report", dest="report", action="store_const", const=None, help="skip the what-if part"
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary of what was built, fed and compared on stdout at the end "
        "(the progress goes to stderr)",
    )
    demo.set_defaults(handler=_demo_then_how_to_see_it)

    ingest = commands.add_parser(
        "ingest", help="receive adapters' messages over ZeroMQ and record them"
    )
    ingest.add_argument(
        "--endpoint", default=DEFAULT_ENDPOINT, help="ZeroMQ endpoint to bind (default %(default)s)"
    )
    ingest.add_argument(
        "--keys",
        type=Path,
        default=default_keys_dir(),
        help="folder of ingest.key_secret (default %(default)s)",
    )
    ingest.add_argument(
        "--allow",
        type=Path,
        help="allow-list of '<public key> <name>' lines (default KEYS/allowed)",
    )
    ingest.add_argument(
        "--plaintext", action="store_true", help="no CURVE authentication: local development only"
    )
    ingest.add_argument(
        "--batch-max",
        type=whole_number(1, 100_000),
        default=1_000,
        help="most messages per commit, 1 to 100,000 (default %(default)s)",
    )
    ingest.add_argument(
        "--batch-wait-ms",
        type=finite_number(0, 60_000),
        default=5.0,
        help="longest wait to fill a batch (default %(default)s)",
    )
    ingest.add_argument(
        "--status-file", type=Path, help="where counters are written (default: beside the keys)"
    )
    ingest.add_argument(
        "--stats", action="store_true", help="print the counters of the running ingest and exit"
    )
    ingest.add_argument(
        "--plausibility",
        type=Path,
        metavar="FILE",
        help="TOML file of plausibility limits (default: the built-in ones)",
    )
    ingest.set_defaults(handler=_ingest)

    add_deadletter_commands(commands)  # `twin deadletters [retry | discard]`

    keys = commands.add_parser("keys", help="CURVE key pairs for ingest and adapters")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new_key = keys_commands.add_parser("new", help="make a key pair NAME.key / NAME.key_secret")
    new_key.add_argument("name")
    new_key.add_argument(
        "--dir", type=Path, default=default_keys_dir(), help="where (default %(default)s)"
    )
    new_key.add_argument("--json", action="store_true", help="print JSON")
    new_key.set_defaults(handler=_keys_new)

    # These two parse their own command lines: `twin adapter run` also runs alone on a gateway.
    for name, summary in (
        ("adapter", "hardware adapters: list, run, simulate (see twin adapter -h)"),
        ("scenario", "what-if scenarios: run, compare (see twin scenario -h)"),
    ):
        plugin = commands.add_parser(name, help=summary, add_help=False)
        plugin.add_argument("arguments", nargs=argparse.REMAINDER)
        plugin.set_defaults(handler=_plugin_command, plugin=name)

    communes = commands.add_parser("communes", help="list the 28 communes")
    communes.add_argument("--json", action="store_true", help="print JSON")
    communes.set_defaults(handler=_communes)

    show = commands.add_parser("show", help="an asset's current state and its history")
    show.add_argument("reference", metavar="ID_OR_CODE")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_show)

    at = commands.add_parser("at", help="an asset's state as of an instant")
    at.add_argument("reference", metavar="ID_OR_CODE")
    at.add_argument(
        "instant", metavar="INSTANT", help="ISO-8601 with offset, e.g. 2024-06-01T12:00:00Z"
    )
    at.add_argument(
        "--known-at",
        metavar="INSTANT",
        help="as the twin knew it at this recording instant, before later facts and corrections",
    )
    at.add_argument("--json", action="store_true", help="print JSON")
    at.set_defaults(handler=_at)

    correct = commands.add_parser(
        "correct", help="correct a value of an asset's earlier fact (history keeps both)"
    )
    retract = commands.add_parser(
        "retract", help="withdraw an asset's earlier fact (history keeps it, marked)"
    )
    for amend in (correct, retract):
        amend.add_argument("reference", metavar="ASSET_CODE")
        named = amend.add_mutually_exclusive_group(required=True)
        named.add_argument(
            "--version", type=int, help="the fact's version in the asset's history (twin show)"
        )
        named.add_argument(
            "--message", metavar="SOURCE/ID", help="the wire message that brought the fact"
        )
        amend.add_argument("--by", required=True, help="who makes the amendment")
        amend.add_argument("--reason", required=True, help="why")
        amend.add_argument("--json", action="store_true", help="print JSON")
    correct.add_argument("changes", nargs="+", metavar="FIELD=VALUE", help="e.g. index_kwh=16355")
    correct.set_defaults(handler=_amend, amendment="correct")
    retract.set_defaults(handler=_amend, amendment="retract", changes=None)

    near = commands.add_parser("near", help="the nearest bins to a point, with distances in metres")
    near.add_argument("lon", type=float, metavar="LON")
    near.add_argument("lat", type=float, metavar="LAT")
    near.add_argument(
        "--stream", choices=[s.value for s in WasteStream], help="only this waste stream"
    )
    near.add_argument("-k", type=int, default=5, help="how many (default %(default)s)")
    near.add_argument("--json", action="store_true", help="print JSON")
    near.set_defaults(handler=_near)

    where = commands.add_parser("where", help="the commune containing a point")
    where.add_argument("lon", type=float, metavar="LON")
    where.add_argument("lat", type=float, metavar="LAT")
    where.add_argument("--json", action="store_true", help="print JSON")
    where.set_defaults(handler=_where)
    add_citizen_commands(commands)  # `twin citizen forget | show`
    add_export_commands(commands)  # `twin export`: CSV, GeoJSON, NGSI-LD as of an instant
    add_import_commands(commands)  # `twin import`: backfill from CSV, JSON Lines or a device export
    add_projection_commands(commands)  # `twin projections status | rebuild | run`
    add_serve_commands(commands)  # `twin serve`: the web view
    add_health_commands(commands)  # `twin health`, `twin alerts`, `twin catalogue`
    return parser


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _install(store: str | None, seed: int) -> tuple[int, dict[str, int], float]:
    started = time.perf_counter()
    twin = open_twin(store)
    try:
        planned = plan_inventory(load_geography(), seed)
        added = twin.add_missing(planned)
    finally:
        twin.close()
    return added, summarise(planned), time.perf_counter() - started


def _init(args: argparse.Namespace) -> int:
    config = store_config(args.store)
    added, summary, seconds = _install(args.store, args.seed)
    total = sum(v for k, v in summary.items() if ":" not in k)
    if args.json:
        _print_json(
            {
                "store": config.display,
                "installed": added,
                "already_present": total - added,
                "seconds": round(seconds, 3),
            }
        )
        return 0
    print(
        f"store {config.display}: {added} assets installed, {total - added} already present ({seconds:.1f} s)"
    )
    return 0


def default_demo_store() -> Path:
    """The demo's own SQLite file (replaced by each `twin demo` run without --store)."""
    return Path(platformdirs.user_data_dir("valley-twin", appauthor=False)) / "demo.sqlite"


def _demo_store(chosen: str | None) -> str:
    """--store, else $TWIN_STORE, else a fresh demo file that stays after the demo."""
    store = chosen or os.environ.get("TWIN_STORE")
    if store:
        return store
    path = default_demo_store()
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)  # the demo's own file: each run starts from an empty one
    return f"sqlite:///{path}"


def _demo_then_how_to_see_it(args: argparse.Namespace) -> int:
    facts: dict[str, Any] = {}
    if args.json:  # stdout carries the JSON alone: everything the demo says goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            code = _demo(args, facts)
    else:
        code = _demo(args, facts)
    store = args.store or os.environ.get("TWIN_STORE") or f"sqlite:///{default_demo_store()}"
    if args.json:
        summary = demo_summary(
            store=store_config(store).display,
            seed=args.seed,
            days=args.days,
            facts=facts,
            report=args.report,
            exit_code=code,
        )
        write_demo_summary(summary, sys.stdout)
    elif code == 0:  # the store stays: say how to watch it
        print("\n" + serve_hint(store, None if args.report is None else args.report.parent))
    return code


def _demo(args: argparse.Namespace, facts: dict[str, Any]) -> int:
    geography = load_geography()
    store = _demo_store(args.store)
    with tempfile.TemporaryDirectory(prefix="valley-twin-demo-") as scratch:
        added, summary, seconds = _install(store, args.seed)
        facts["assets"] = {"recorded": added, "by_kind": summary, "seconds": round(seconds, 1)}
        twin = open_twin(store)
        try:
            index = SpatialIndex()
            index.catch_up(twin)
            _print_demo(geography, index, summary, added, seconds, store_config(store).display)
            if args.days > 0:
                print(
                    f"\nlive feed: {args.days} days of simulated devices -> adapters -> ZeroMQ (CURVE) -> ingest"
                )
                feed = run_live_feed(
                    twin,
                    geography,
                    plan_inventory(geography, args.seed),
                    Path(scratch),
                    args.days,
                    args.seed,
                )
                facts["feed"] = feed_summary(feed)
                _print_feed(twin, feed, store_config(store).display)
        finally:
            twin.close()
        if args.report is not None and args.days > 0:
            # While the store lasts: the policies over the days just ingested.
            return _demo_comparison(store, args.days, args.report)
    if args.report is None:
        return 0
    print(
        "\nwhat if: fixed rounds vs threshold vs predictive vs integrated collection "
        "(the shipped scenarios)",
        flush=True,
    )
    return scenario_commands.main(["demo", "--out", str(args.report)])


def _demo_comparison(store: str, days: int, report: Path) -> int:
    """What the trucks did over the demo's days, against the shipped policies on the same log."""
    start = feed_start()
    fleet = recorded_fleet(store, start, start + timedelta(days=days))
    policies: tuple[str, ...] = scenario_commands.COLLECTION_POLICIES
    if days < DEMO_ROUND_CYCLE_DAYS:  # a fixed run covers whole cycles of its rounds
        policies = tuple(p for p in policies if p != "baseline-fixed.toml")
    files = history_scenarios(store, days, fleet, report / "scenarios", policies)
    print(
        f"\nwhat the trucks did vs the policies, over the {days} days just ingested "
        f"(fixed, threshold, predictive, integrated on the store's log; one run each to keep "
        f"the demo short, the files in {report / 'scenarios'}):",
        flush=True,
    )
    if len(policies) < len(scenario_commands.COLLECTION_POLICIES):
        print(f"  (no fixed rounds: {days} days is shorter than their weekly cycle)")
    code, _, _ = scenario_commands.history_comparison(files, report)
    return code


def _print_feed(twin: ValleyTwin, feed: FeedResult, store: str) -> None:
    stats = feed.stats
    lines = ", ".join(f"{v} {k.split('.')[0]}" for k, v in feed.payload_lines.items())
    print(f"device payloads: {lines}")
    print(
        f"ingest: {stats['received']} messages received, {stats['committed']} committed, "
        f"{stats['duplicates']} duplicates, {stats['rejected']} dead letters, {stats['batches']} batches "
        f"in {feed.seconds:.1f} s ({stats['committed'] / max(feed.seconds, 1e-9):,.0f} messages/s end to end)"
    )
    if stats["commit_latency_ms"]:
        print(
            f"commit latency ms: p50 {stats['commit_latency_ms']['p50']}, p99 {stats['commit_latency_ms']['p99']}; "
            f"batch size mean {stats['batch_size']['mean']}"
        )
    for reason, count in list(stats["rejected_by_reason"].items())[:5]:
        print(f"  rejected {count} x {reason}")
    # What the trucks drove is recorded: the tours their on-board computers reported.
    tours = recorded_tours(twin)
    if tours.tours:
        print(
            f"trucks (recorded tours): {tours.trucks} trucks drove {tours.tours} tours, "
            f"{tours.km:,.1f} km, and tipped {tours.tonnes_tipped:,.1f} t in {tours.tips} "
            "weighbridge tickets"
        )
    # Next to it, the replay counts the recorded lifts and routes each day's again, as a
    # planner would have. Lifts and readings came through different adapters, so the replay
    # needs the log's lateness.
    lateness = lateness_needed(twin.facts())
    driven = replay(twin.facts(), router=FleetRouter(), lateness=lateness).totals()
    if driven["collections"]:
        print(
            f"trucks (recorded lifts): {driven['collections']:.0f} containers emptied, "
            f"{driven['tonnes']:.1f} t lifted; their days routed again: "
            f"{driven['truck_km']:,.0f} km, {driven['driving_hours']:.0f} h of driving"
        )
    sample = twin.get(Bin, "B-34114-GLA-0001")
    print(
        f"\nB-34114-GLA-0001 now: fill {sample.fill_percent} % measured {sample.fill_measured_at}, "
        f"sensor {sample.sensor_device_id}, battery {sample.sensor_battery_percent} %, {sample.version} events"
    )
    events = twin.history(sample.id)
    middle = aggregate_event(events[len(events) // 2]).timestamp + timedelta(minutes=1)
    past = twin.state_at(sample.id, middle)
    if isinstance(past, Bin):
        print(
            f"as of {middle.isoformat(timespec='minutes')}: fill {past.fill_percent} % (version {past.version})"
        )
    print(f"the store stays: try  twin --store {shlex.quote(store)} show B-34114-GLA-0001")


def _print_demo(
    geography: Geography,
    index: SpatialIndex,
    summary: dict[str, int],
    added: int,
    seconds: float,
    store: str,
) -> None:
    population = sum(c.population for c in geography.communes)
    area = sum(c.area_km2 for c in geography.communes)
    print("Valley Twin — Communauté de communes Vallée de l'Hérault")
    print(
        f"{len(geography.communes)} communes, {population:,} inhabitants, {area:.1f} km² (Lambert-93)"
    )
    print(f"store: {store} — {added} assets recorded in {seconds:.1f} s, seed-reproducible\n")
    streams = [s.value for s in WasteStream]
    header = f"{'INSEE':<6} {'commune':<27} {'pop.':>6} {'km²':>6} " + " ".join(
        f"{s[:5]:>5}" for s in streams
    )
    print(header + f" {'sites':>5} {'serv.':>5} {'beac.':>5}")
    for commune in geography.communes:
        assets = index.inside(commune)
        bins = [a for a in assets if a.kind == "bin"]
        per_stream = " ".join(f"{sum(1 for b in bins if b.stream == s):>5}" for s in streams)
        kinds = {k: sum(1 for a in assets if a.kind == k) for k in ("site", "service", "beacon")}
        print(
            f"{commune.insee:<6} {commune.name[:27]:<27} {commune.population:>6} {commune.area_km2:>6.1f} "
            f"{per_stream} {kinds['site']:>5} {kinds['service']:>5} {kinds['beacon']:>5}"
        )
    totals = ", ".join(f"{v} {k}" for k, v in summary.items())
    print(f"\nassets: {totals}")
    gignac = geography.commune_named("Gignac")
    hall = gignac.boundary.representative_point()
    lon, lat = geography.to_wgs84(hall.x, hall.y)
    nearest = index.nearest(hall.x, hall.y, k=3, kind="bin", stream="glass")
    listed = "; ".join(f"{a.code} at {d:.0f} m" for a, d in nearest)
    print(f"nearest glass columns to ({lon:.5f}, {lat:.5f}) in Gignac: {listed}")


def _communes(args: argparse.Namespace) -> int:
    communes = load_geography().communes
    rows = [c.as_dict() for c in communes]
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'INSEE':<6} {'commune':<28} {'population':>10} {'area km²':>9}")
    for row in rows:
        print(
            f"{row['insee']:<6} {row['name']:<28} {row['population']:>10} {row['area_km2']:>9.2f}"
        )
    print(
        f"{'':<6} {'total (28)':<28} {sum(c.population for c in communes):>10} "
        f"{sum(round(c.area_km2, 2) for c in communes):>9.2f}"
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    twin = open_twin(args.store, create=False)
    try:
        aggregate = twin.find(args.reference)
        if isinstance(
            aggregate, Citizen
        ):  # what they wrote is sealed: shown unsealed, or [forgotten]
            personal = PersonalData(twin)
            state, history = personal.view(aggregate), personal.history(aggregate.id)
        else:
            state = asset_view(aggregate, load_geography())
            history = history_view(twin.history(aggregate.id))
    finally:
        twin.close()
    if args.json:
        _print_json({"state": state, "history": history})
        return 0
    print("\n".join(format_state(state)))
    print(f"\nhistory ({len(history)} events):")
    print("\n".join(format_event(e) for e in history))
    return 0


def _at(args: argparse.Namespace) -> int:
    instant = parse_instant(args.instant)
    known_at = None if args.known_at is None else parse_instant(args.known_at, "--known-at")
    twin = open_twin(args.store, create=False)
    try:
        aggregate_id = twin.resolve(args.reference)
        aggregate = twin.state_at(aggregate_id, instant, known_at=known_at)
        state: dict[str, Any] | None
        if isinstance(aggregate, Citizen):
            state = PersonalData(twin).view(aggregate)
        else:
            state = None if aggregate is None else asset_view(aggregate, load_geography())
    finally:
        twin.close()
    known = "" if known_at is None else f", as known at {known_at.isoformat()}"
    if args.json:
        _print_json(
            {
                "reference": args.reference,
                "instant": instant.isoformat(),
                "known_at": None if known_at is None else known_at.isoformat(),
                "state": state,
            }
        )
    elif state is None:
        print(f"{args.reference} did not exist yet at {instant.isoformat()}{known}")
    else:
        print(f"{args.reference} as of {instant.isoformat()}{known}:")
        print("\n".join(format_state(state)))
    return 0


def _amend(args: argparse.Namespace) -> int:
    named = {"version": args.version, "message": args.message}
    twin = open_twin(args.store, create=False)
    try:
        if args.amendment == "correct":
            pairs = [_field_value(text) for text in args.changes]
            changes = dict(pairs)
            if len(changes) < len(pairs):
                names = [name for name, _ in pairs]
                twice = next(name for name in names if names.count(name) > 1)
                raise InvalidInputError("FIELD=VALUE", twice, "each field named once")
            aggregate = twin.correct_fact(args.reference, changes, args.by, args.reason, **named)
        else:
            aggregate = twin.retract_fact(args.reference, args.by, args.reason, **named)
        state = asset_view(aggregate, load_geography())
    finally:
        twin.close()
    if args.json:
        _print_json({"reference": args.reference, "version": aggregate.version, "state": state})
        return 0
    print(f"{args.reference}: {args.amendment}ed (v{aggregate.version}); now:")
    print("\n".join(format_state(state)))
    return 0


def _field_value(text: str) -> tuple[str, float | int]:
    name, equals, value = text.partition("=")
    try:
        if not equals or not name.strip():
            raise ValueError
        number = float(value)
        # Counts are whole numbers: 12 stays 12, not 12.0 (which a count would refuse).
        return name.strip(), int(number) if value.strip().isdigit() else number
    except ValueError:
        raise InvalidInputError(
            "FIELD=VALUE", text, "a field and a number, e.g. index_kwh=16355"
        ) from None


def _near(args: argparse.Namespace) -> int:
    if args.k < 1:
        print(f"twin: -k={args.k}: expected a whole number of at least 1", file=sys.stderr)
        return EXIT_USER_ERROR
    geography = load_geography()
    position, _ = geography.locate(args.lon, args.lat)
    twin = open_twin(args.store, create=False)
    try:
        index = SpatialIndex()
        index.catch_up(twin)
    finally:
        twin.close()
    rows = []
    for asset, distance in index.nearest(
        position.x, position.y, k=args.k, kind="bin", stream=args.stream
    ):
        lon, lat = geography.to_wgs84(asset.x, asset.y)
        rows.append(
            {
                "code": asset.code,
                "id": str(asset.aggregate_id),
                "stream": asset.stream,
                "commune_insee": asset.commune_insee,
                "distance_m": round(distance, 1),
                "lon": round(lon, 6),
                "lat": round(lat, 6),
            }
        )
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no bins recorded yet: run `twin init` first")
    for row in rows:
        print(
            f"{row['distance_m']:>9.1f} m  {row['code']:<20} {row['stream']:<10} "
            f"{row['commune_insee']}  ({row['lon']}, {row['lat']})"
        )
    return 0


def _where(args: argparse.Namespace) -> int:
    _, commune = load_geography().locate(args.lon, args.lat)
    if args.json:
        _print_json({"insee": commune.insee, "name": commune.name})
    else:
        print(f"{commune.insee} {commune.name}")
    return 0


def default_report_dir() -> Path:
    """Where `twin demo` writes its what-if report."""
    return (
        Path(platformdirs.user_data_dir("valley-twin", appauthor=False))
        / "reports"
        / "collection-policies"
    )


def default_keys_dir() -> Path:
    """Where key pairs and the allow-list live by default."""
    return Path(platformdirs.user_config_dir("valley-twin", appauthor=False)) / "keys"


def _ingest(args: argparse.Namespace) -> int:
    status_path = args.status_file or args.keys.parent / "ingest-status.json"
    if args.stats:
        status = read_status(status_path)
        if not status["running"]:
            print(
                f"twin: ingest is not running ({status['not_running_because']}): these are the "
                f"counters it last wrote, at {status.get('updated_at')}",
                file=sys.stderr,
            )
        _print_json(status)
        return 0
    if args.plaintext:
        if not _is_local(args.endpoint):
            raise InvalidInputError(
                "--endpoint",
                args.endpoint,
                "a loopback, ipc:// or inproc:// endpoint with --plaintext",
            )
        credentials = None
    else:
        secret = args.keys / "ingest.key_secret"
        if not secret.exists():
            raise InvalidInputError(
                "--keys",
                str(args.keys),
                "a folder with ingest.key_secret: run `twin keys new ingest`",
            )
        credentials = load_credentials(secret, args.allow or args.keys / "allowed")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = ServerSettings(args.endpoint, args.batch_max, args.batch_wait_ms / 1000, status_path)
    plausibility = load_plausibility(args.plausibility)
    twin = open_twin(args.store)
    server = ingest_service(twin, load_geography(), settings, credentials, plausibility)
    processor = server.processor
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: server.reload_requested.set())
    print(
        f"twin ingest: listening on {args.endpoint} ({'plaintext' if args.plaintext else 'CURVE'}), "
        f"store {store_config(args.store).display}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve(stop)
    finally:
        twin.close()
    print(json.dumps(processor.stats.as_dict()), file=sys.stderr)
    return 0


def _is_local(endpoint: str) -> bool:
    # Unauthenticated ingest is for a developer's own machine: never reachable from a network.
    scheme, _, address = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]")
    return scheme == "tcp" and host in ("127.0.0.1", "localhost", "::1")


# The wire's longest source name (adapters.wire.envelope.MAX_ID_LENGTH; a test holds them equal).
KEY_NAME_MAX = 64
# A key's name is its allow-list name (one token on the line), the source its adapter signs
# with (at most KEY_NAME_MAX characters) and part of two file names in --dir: letters,
# digits, '.', '_' and '-', not starting with a dot (no '..', no hidden file, no '/').
_KEY_NAME = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{KEY_NAME_MAX - 1}}}")


def check_key_name(name: str) -> str:
    """The name of a key pair, if the allow-list and the wire both accept it as a source."""
    if not _KEY_NAME.fullmatch(name):
        raise InvalidInputError(
            "NAME",
            name if len(name) <= 80 else name[:77] + "...",
            f"1 to {KEY_NAME_MAX} letters, digits, '.', '_' or '-', not starting with '.'",
        )
    return name


def _keys_new(args: argparse.Namespace) -> int:
    name = check_key_name(args.name)
    for suffix in (".key", ".key_secret"):
        if (args.dir / f"{name}{suffix}").exists():
            raise InvalidInputError("NAME", name, f"a name without keys yet in {args.dir}")
    try:
        public_path, secret_path = create_keypair(args.dir, name)
    except OSError as error:
        raise InvalidInputError(
            "--dir", str(args.dir), f"a folder we can write ({error.strerror})"
        ) from None
    entry = allow_list_entry(public_path, name)
    if args.json:
        _print_json(
            {"name": name, "public": str(public_path), "secret": str(secret_path), "allow": entry}
        )
        return 0
    print(
        f"public key: {public_path}\nsecret key: {secret_path} (keep it on the {name} machine only)"
    )
    print(f"allow-list line for ingest:\n{entry}")
    return 0


def _plugin_command(args: argparse.Namespace) -> int:
    return int(_COMMAND_LINES[args.plugin](args.arguments))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
