"""``twin scenario run FILE`` and ``twin scenario compare A B [C…]``: runs, reports, KPIs as JSON.

``twin scenario sweep FILE`` runs a file's ``[sweep]`` grid on a local process pool
(``--workers``) or a Dask cluster (``--scheduler tcp://host:8786``) and writes ``sweep.csv``
and ``sweep.json`` beside the usual report comparing the points.

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
    ScenarioError,
    ScenarioResult,
    SweepError,
    load_scenario,
    load_sweep,
    report_input,
    report_inputs,
    run_scenario,
    run_sweep,
    shipped_scenarios,
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
    for command in (run, compare):
        command.add_argument("--out", type=Path, help="report folder (default: reports/<name>)")
        command.add_argument("--json", action="store_true", help="print the KPIs as JSON on stdout")
    listing = commands.add_parser("list", help="the scenarios shipped with the twin")
    listing.set_defaults(files=[])
    demo = commands.add_parser(
        "demo",
        help="the shipped comparison of collection policies: fixed, threshold, predictive, "
        "integrated (twin demo runs it)",
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
        for path in shipped_scenarios():
            print(path)
        return 0
    if args.command == "demo":
        files = [SHIPPED / name for name in COLLECTION_POLICIES]
        args.out = args.out or Path("reports") / "collection-policies"
    else:
        files = [args.file] if args.command == "run" else args.files
    try:
        scenarios = [
            load_scenario(path) for path in files
        ]  # every file checked before anything runs
        results = []
        for number, scenario in enumerate(scenarios, start=1):
            print(f"[{number}/{len(scenarios)}] {scenario.title}", file=sys.stderr)
            results.append(
                run_scenario(scenario, progress=_progress_bar(scenario.run.replications))
            )
    except ScenarioError as error:
        print(f"twin scenario: {error}", file=sys.stderr)
        return EXIT_SCENARIO_ERROR
    except KeyboardInterrupt:
        print(
            "\ntwin scenario: interrupted; no report written (a report holds complete runs only)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    out = args.out or Path("reports") / "-vs-".join(path.stem for path in files)
    index = write_report(
        out, [report_input(path.stem, result) for path, result in zip(files, results, strict=True)]
    )
    if args.json:
        print(
            json.dumps(
                [_kpis(path.stem, result) for path, result in zip(files, results, strict=True)],
                indent=2,
            )
        )
    summary = index.parent / "summary.txt"
    if summary.exists() and not args.json:
        print(summary.read_text(encoding="utf-8"))
    print(f"report: {index}", file=sys.stderr if args.json else sys.stdout)
    return 0


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
    index = write_report(out, report_inputs(result))
    write_sweep_tables(out, result)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False, allow_nan=False))
    print(
        f"report: {index} (sweep.csv, sweep.json beside it; {result.seconds:.1f} s on {result.executor})",
        file=sys.stderr if args.json else sys.stdout,
    )
    return 0


def _progress_bar(total: int):  # type: ignore[no-untyped-def]
    started = time.monotonic()

    def show(done: int, of: int) -> None:
        elapsed = time.monotonic() - started
        left = elapsed / done * (of - done) if done else 0.0
        bar = "#" * round(20 * done / of)
        end = "\n" if done == of else ""
        print(
            f"\r  replications [{bar:<20}] {done}/{of}  {elapsed:5.1f} s, about {left:4.0f} s left",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return show


def _kpis(name: str, result: ScenarioResult) -> dict[str, object]:
    def plain(
        value: float,
    ) -> float | None:  # strict JSON has no NaN (one replication: no interval)
        return None if math.isnan(value) else value

    return {
        "scenario": name,
        "title": result.scenario.title,
        "kpis": {
            kpi: {key: plain(value) for key, value in estimate.as_dict().items()}
            for kpi, estimate in result.kpis.items()
        },
        "economics": result.as_dict().get("economics"),
    }
