"""``twin scenario run FILE`` and ``twin scenario compare A B [C…]``: runs, reports, KPIs as JSON.

``twin scenario sweep FILE`` runs a file's ``[sweep]`` grid on a local process pool
(``--workers``) or a Dask cluster (``--scheduler tcp://host:8786``) and writes ``sweep.csv``
and ``sweep.json`` beside the usual report comparing the points. ``compare --equal-service
RATE`` tunes each policy to that overflow rate first (``scenarios.sweep.compare_at_equal_service``).
Files that read one store's log (``[history]``) over the same days and bins are compared with
what the trucks did (``scenarios.recorded``), first; ``history_comparison`` is how ``twin demo``
ends.

The ``twin`` program hands it the rest of its command line. Long runs show their progress on stderr; Ctrl-C stops between
replications and says what was saved (nothing: a report is written only for complete runs).
Exit codes: 0 success, 1 a scenario file at fault (the message names file, key and value),
3 a sweep that cannot run where it was sent (no Dask, no scheduler), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scenarios import (
    SHIPPED,
    DaskExecutor,
    LocalExecutor,
    Recorded,
    Scenario,
    ScenarioError,
    ScenarioResult,
    SweepError,
    compare_at_equal_service,
    load_scenario,
    load_sweep,
    recorded,
    report_input,
    report_inputs,
    run_scenario,
    run_sweep,
    same_history,
    shipped_scenarios,
    short_table,
    write_report,
    write_sweep_tables,
)

EXIT_SCENARIO_ERROR = 1
EXIT_INTERRUPTED = 130
# The planners' first question: today's fixed rounds against the sensor-driven policies.
COLLECTION_POLICIES = (
    "baseline-fixed.toml",
    "threshold.toml",
    "predictive.toml",
    "integrated.toml",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenario commands; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="twin scenario", description="What-if scenarios for planners."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one scenario and write its report folder")
    run.add_argument("file", type=Path)
    compare = commands.add_parser(
        "compare", help="run several scenarios; the first is the baseline"
    )
    compare.add_argument("files", type=Path, nargs="+")
    compare.add_argument(
        "--equal-service",
        type=_positive_float,
        metavar="RATE",
        help="tune each policy's knob to RATE overflows per 1,000 container-weeks first, then "
        "compare km, hours, cost and CO2 at that service (a fixed policy is tuned as a calendar)",
    )
    for command in (run, compare):
        command.add_argument("--out", type=Path, help="report folder (default: reports/<name>)")
        command.add_argument("--json", action="store_true", help="print the KPIs as JSON on stdout")
    listing = commands.add_parser(
        "list", help="the scenarios shipped with the twin: file, title and question"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(files=[])
    demo = commands.add_parser(
        "demo",
        help="the shipped comparison of collection policies: fixed, threshold, predictive, "
        "integrated, on the seeded inventory (twin demo --days 0 runs it)",
    )
    demo.add_argument(
        "--out", type=Path, help="report folder (default: reports/collection-policies)"
    )
    demo.add_argument("--json", action="store_true", help="print the KPIs as JSON on stdout")
    _add_sweep(commands)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "list":
        return _list(args.json)
    if args.command == "demo":
        files = [SHIPPED / name for name in COLLECTION_POLICIES]
        args.out = args.out or Path("reports") / "collection-policies"
    else:
        files = [args.file] if args.command == "run" else args.files
    rate = getattr(args, "equal_service", None)
    out = args.out or Path("reports") / "-vs-".join(path.stem for path in files)
    try:
        _check_report_folder(out)
        _check_distinct(files)
        # Every file checked before anything runs.
        scenarios = [load_scenario(path) for path in files]
        _check_one_subject(files, scenarios)
        if rate is not None:
            results = _at_equal_service(scenarios, rate)
        else:
            results = []
            for number, scenario in enumerate(scenarios, start=1):
                print(f"[{number}/{len(scenarios)}] {scenario.title}", file=sys.stderr)
                results.append(
                    run_scenario(scenario, progress=_progress_bar(scenario.run.replications))
                )
        record = _record(scenarios)
    except ScenarioError as error:
        print(f"twin scenario: {error}", file=sys.stderr)
        return EXIT_SCENARIO_ERROR
    except ValueError as error:  # a scenario the equal-service comparison cannot tune
        print(f"twin scenario: {error}", file=sys.stderr)
        return EXIT_SCENARIO_ERROR
    except KeyboardInterrupt:
        print(
            "\ntwin scenario: interrupted; no report written (a report holds complete runs only)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    inputs = [report_input(path.stem, result) for path, result in zip(files, results, strict=True)]
    try:
        index = write_report(out, ([record.report_input()] if record else []) + inputs)
    except OSError as error:
        return _unwritable(out, error)
    if args.json:
        # The report's own kpis.json: one shape on stdout and on disk.
        print((index.parent / "kpis.json").read_text(encoding="utf-8"), end="")
    summary = index.parent / "summary.txt"
    if summary.exists() and not args.json:
        print(summary.read_text(encoding="utf-8"))
    print(f"report: {index}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _list(as_json: bool) -> int:
    rows: list[dict[str, str | None]] = []
    for path in shipped_scenarios():
        try:
            scenario = load_scenario(path)
            rows.append({"file": str(path), "title": scenario.title, "question": scenario.question})
        except ScenarioError as error:  # a shipped file a subject cannot read here: say so
            rows.append({"file": str(path), "title": None, "question": None, "error": str(error)})
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        print(f"{Path(str(row['file'])).name}\n  {row['title'] or row.get('error')}")
        if row["question"]:
            print(f"  {row['question']}")
    print(f"({len(rows)} files in {SHIPPED})")
    return 0


def _unwritable(out: Path, error: OSError) -> int:
    print(
        f"twin scenario: cannot write the report in {out}: {error.strerror or error}",
        file=sys.stderr,
    )
    return EXIT_SCENARIO_ERROR


def _check_report_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ScenarioError(out, None, None, "a report folder for --out, not an existing file")


def _check_distinct(files: Sequence[Path]) -> None:
    # Scenarios are named by their file's stem in the report: two of one name cannot both appear.
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise ScenarioError(
                path,
                None,
                None,
                f"a file named apart from {seen[path.stem]}: the report names each scenario "
                "by its file name (comparing a file with itself compares nothing)",
            )
        seen[path.stem] = path


def _check_one_subject(files: Sequence[Path], scenarios: Sequence[Scenario]) -> None:
    # A waste run's km and overflows set beside a lighting run's kWh would read as a comparison.
    first = scenarios[0].subject
    for path, scenario in zip(files, scenarios, strict=True):
        if scenario.subject != first:
            raise ScenarioError(
                path,
                "subject",
                scenario.subject,
                f"{first!r} as in {files[0]}: only scenarios of one subject can be compared",
            )


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"a rate > 0, not {text}")
    return value


def _at_equal_service(scenarios: Sequence[Scenario], rate: float) -> list[ScenarioResult]:
    """``scenarios.sweep.compare_at_equal_service``: each policy tuned to ``rate``, then run."""
    total = sum(s.run.replications for s in scenarios)
    print(
        f"equal service at {rate:g} overflows per 1,000 container-weeks: each policy's knob "
        f"tuned first ({len(scenarios)} scenarios, {total} replications)",
        file=sys.stderr,
    )
    return compare_at_equal_service(scenarios, rate, progress=_progress_bar(total))


def _record(scenarios: Sequence[Scenario]) -> Recorded | None:
    """What the trucks did, when the scenarios share one store's log, days and bins."""
    shared = same_history(scenarios)
    if shared is None:
        if any(s.history is not None and s.subject == "waste" for s in scenarios):
            print(
                "twin scenario: no recorded row: the scenarios do not share one [history] "
                "store, period and selection of bins",
                file=sys.stderr,
            )
        return None
    print(
        f"what the trucks did: reading {shared.history.store if shared.history else ''}",
        file=sys.stderr,
    )
    return recorded(shared)


def history_comparison(
    files: Sequence[Path], out: Path, *, workers: int | None = None
) -> tuple[int, Recorded | None, list[ScenarioResult]]:
    """Compare the policies of ``files`` (scenarios over one store's log) with what the trucks
    did: the recorded row first, the scenarios run side by side on ``workers`` processes
    (default one per CPU), the report written to ``out``, a short table printed (km,
    collections, overflows, cost). What ``twin demo`` ends with; returns the exit code, the
    recorded row and the results."""
    try:
        scenarios = [load_scenario(path) for path in files]
        record = _record(scenarios)
        total = len(scenarios)
        print(
            f"  {total} policies, {' and '.join(str(s.run.replications) for s in scenarios[:1])} "
            f"run each, on {LocalExecutor(workers).name}",
            file=sys.stderr,
        )
        results: list[ScenarioResult] = LocalExecutor(workers).map(
            run_scenario, [(s,) for s in scenarios], _progress_bar(total, "policies")
        )
    except ScenarioError as error:
        print(f"twin scenario: {error}", file=sys.stderr)
        return EXIT_SCENARIO_ERROR, None, []
    except KeyboardInterrupt:
        print("\ntwin scenario: interrupted; no report written", file=sys.stderr)
        return EXIT_INTERRUPTED, None, []
    inputs = [report_input(p.stem, r) for p, r in zip(files, results, strict=True)]
    rows = ([record.report_input()] if record else []) + inputs
    index = write_report(out, rows)
    print(short_table(rows))
    print(f"report: {index}")
    return 0, record, results


EXIT_SWEEP_ERROR = 3


def _add_sweep(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sweep = commands.add_parser(
        "sweep", help="run a file's [sweep] grid × replications, locally or on Dask"
    )
    sweep.add_argument("file", type=Path)
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=_positive_int, help="local worker processes (default: one per CPU)"
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786"
    )
    sweep.add_argument("--out", type=Path, help="report folder (default: reports/<name>)")
    sweep.add_argument("--json", action="store_true", help="print sweep.json on stdout")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


def _sweep(args: argparse.Namespace) -> int:
    # Imported here so the other commands never pay for the sweep machinery.
    try:
        _check_report_folder(args.out or Path("reports") / args.file.stem)
        sweep = load_sweep(args.file)  # every point checked before anything runs
        executor = DaskExecutor(args.scheduler) if args.scheduler else LocalExecutor(args.workers)
        tasks = sum(point.scenario.run.replications for point in sweep.points)
        print(
            f"{sweep.title}: {len(sweep.points)} points, {tasks} replications on {executor.name}",
            file=sys.stderr,
        )
        result = run_sweep(sweep, executor, progress=_progress_bar(tasks))
    except ScenarioError as error:
        print(f"twin scenario: {error}", file=sys.stderr)
        return EXIT_SCENARIO_ERROR
    except SweepError as error:
        print(f"twin scenario: {error}", file=sys.stderr)
        return EXIT_SWEEP_ERROR
    except KeyboardInterrupt:
        print(
            "\ntwin scenario: interrupted; pending replications cancelled, nothing written",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    out = args.out or Path("reports") / args.file.stem
    try:
        index = write_report(out, report_inputs(result))
        write_sweep_tables(out, result)
    except OSError as error:
        return _unwritable(out, error)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False, allow_nan=False))
    print(
        f"report: {index} (sweep.csv, sweep.json beside it; {result.seconds:.1f} s on {result.executor})",
        file=sys.stderr if args.json else sys.stdout,
    )
    return 0


def _progress_bar(total: int, what: str = "replications"):  # type: ignore[no-untyped-def]
    started = time.monotonic()

    def show(done: int, of: int) -> None:
        elapsed = time.monotonic() - started
        left = elapsed / done * (of - done) if done else 0.0
        bar = "#" * round(20 * done / of)
        end = "\n" if done == of else ""
        print(
            f"\r  {what} [{bar:<20}] {done}/{of}  {elapsed:5.1f} s, about {left:4.0f} s left",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show
