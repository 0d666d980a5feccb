"""``twin health``, ``twin alerts`` and ``twin catalogue``: the data self-diagnosis, what needs
attention, and the valley's datasets in DCAT-AP with their quality figures.

Hooked into the ``twin`` program by :func:`add_commands`. Each brings the read models up to
date first (they read them), then prints plain text, or JSON (JSON-LD for the catalogue). Errors
travel as :mod:`twin.errors` exceptions, which the program turns into its exit codes.
Not responsible for the figures (:mod:`twin.health`, :mod:`twin.alerts`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin import (
    alert_history,
    current_alerts,
    data_catalogue,
    data_health,
    load_alert_thresholds,
    open_twin,
    parse_instant,
)
from twin.projections import catch_up
from valley_twin.serve_command import DEFAULT_PORT

DEFAULT_BASE_URL = f"http://127.0.0.1:{DEFAULT_PORT}"  # where `twin serve` answers by default

if TYPE_CHECKING:
    import argparse

    from twin import Alert, DataHealth


def add_commands(subparsers: Any) -> None:
    """Add ``health`` and ``alerts`` to the ``twin`` program's sub-commands."""
    health = subparsers.add_parser(
        "health",
        help="the data's health: devices reporting, freshness, gaps, dead letters, batteries",
    )
    health.add_argument("--at", metavar="INSTANT", help="as of this instant (default: now)")
    health.add_argument(
        "--days", type=_days, default=7, help="window for gaps and refusals (default 7)"
    )
    health.add_argument("--json", action="store_true", help="print JSON")
    health.set_defaults(handler=_health)

    alerts = subparsers.add_parser(
        "alerts", help="what needs attention now (full or overflowing bins, silent sensors, ...)"
    )
    alerts.add_argument("--at", metavar="INSTANT", help="as of this instant (default: now)")
    alerts.add_argument(
        "--since",
        metavar="INSTANT",
        help="history instead: every alert that held from this instant to --at, "
        "with when it was raised and cleared",
    )
    alerts.add_argument(
        "--config", type=Path, help="TOML settings file whose [alerts] section sets thresholds"
    )
    alerts.add_argument("--json", action="store_true", help="print JSON")
    alerts.set_defaults(handler=_alerts)

    catalogue = subparsers.add_parser(
        "catalogue",
        help="the valley's datasets in DCAT-AP: period, update frequency, licence, downloads, "
        "quality figures",
        description="Describe the exports as a DCAT-AP catalogue. Exit codes: 0 printed, "
        "1 bad --at or --base-url, 3 the store cannot be used.",
    )
    catalogue.add_argument("--at", metavar="INSTANT", help="as of this instant (default: now)")
    catalogue.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        metavar="URL",
        help="address of the web view the download links point at (default %(default)s)",
    )
    catalogue.add_argument("--json-ld", action="store_true", help="print the JSON-LD document")
    catalogue.set_defaults(handler=_catalogue)


def _days(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 366:
        raise argparse.ArgumentTypeError(f"a whole number of days from 1 to 366, not {text!r}")
    return value


def _now(text: str | None) -> datetime:
    return datetime.now(UTC) if text is None else parse_instant(text)


def _health(args: argparse.Namespace) -> int:
    now = _now(args.at)
    twin = open_twin(args.store, create=False)
    try:
        catch_up(twin)
        health = data_health(twin, now, timedelta(days=args.days))
    finally:
        twin.close()
    if args.json:
        print(json.dumps(health.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(describe_health(health))
    return 0


def _alerts(args: argparse.Namespace) -> int:
    now = _now(args.at)
    since = None if args.since is None else parse_instant(args.since, "--since")
    thresholds = load_alert_thresholds(args.config)
    twin = open_twin(args.store, create=False)
    try:
        catch_up(twin)
        if since is None:
            found = current_alerts(twin, now, thresholds)
        else:
            found = alert_history(twin, since, now, thresholds)
    finally:
        twin.close()
    if args.json:
        print(json.dumps([a.as_dict() for a in found], indent=2, ensure_ascii=False))
    else:
        print(describe_alerts(found))
    return 0


def _catalogue(args: argparse.Namespace) -> int:
    now = _now(args.at)
    twin = open_twin(args.store, create=False)
    try:
        catch_up(twin)
        found = data_catalogue(twin, data_health(twin, now), args.base_url)
    finally:
        twin.close()
    if args.json_ld:
        print(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        print(describe_catalogue(found))
    return 0


def describe_catalogue(catalogue: dict[str, Any]) -> str:
    """Each dataset in a few lines: title, period, frequency, licence, downloads, quality."""
    lines = [catalogue["dct:title"], f"licence: {catalogue['dct:license']['@id']}"]
    for dataset in catalogue["dcat:dataset"]:
        period = dataset.get("dct:temporal")
        covered = (
            "no data yet"
            if period is None
            else f"{period['dcat:startDate']['@value']} to {period['dcat:endDate']['@value']}"
        )
        frequency = dataset["dct:accrualPeriodicity"]["@id"].rsplit("/", 1)[-1]
        lines += [
            "",
            f"{dataset['dct:title']} ({dataset['dct:identifier']})",
            f"  period:    {covered}",
            f"  updated:   {frequency}",
            f"  licence:   {dataset['dct:license']['@id']}",
        ]
        for distribution in dataset["dcat:distribution"]:
            url = distribution.get("dcat:downloadURL", {}).get("@id", "(no link)")
            fmt = distribution["dct:format"]["@id"].rsplit("/", 1)[-1]
            lines.append(f"  download:  {fmt:<8} {url}")
        for measurement in dataset["dqv:hasQualityMeasurement"]:
            metric = measurement["dqv:isMeasurementOf"]["skos:prefLabel"]
            value = measurement["dqv:value"]["@value"]
            if metric.startswith("freshness"):
                shown = _age(value)
            elif metric.endswith("share") or metric.startswith("share"):
                shown = f"{value:.0%}"
            else:
                shown = str(value)
            lines.append(f"  quality:   {measurement['dct:title']} {metric} = {shown}")
    return "\n".join(lines)


def describe_health(health: DataHealth) -> str:
    """The health as a plain-text table: one line per kind of device, then per commune."""
    lines = [
        f"Data health at {health.now.isoformat()} "
        f"(gaps and refusals since {health.window_start.isoformat()})",
        "",
        f"{'device':<16} {'commune':<22} {'assets':>6} {'report':>6} {'in int.':>7} "
        f"{'share':>6} {'median age':>10} {'worst age':>10} {'gap h':>8} {'faults':>6}",
    ]
    for kind in health.kinds:
        lines.append(_health_line(kind.kind, "(all)", kind.figures))
        for insee, figures in kind.by_commune.items():
            lines.append(_health_line("", health.communes.get(insee, insee), figures))
    lines.append("")
    lines.append("Battery (assets per bucket, %):")
    for kind in health.kinds:
        if kind.figures.battery:
            buckets = ", ".join(f"{b}: {n}" for b, n in kind.figures.battery.items())
            lines.append(f"  {kind.kind}: {buckets}")
    lines.append("")
    lines.append("Refused messages (in the window / still open):")
    for refusal in health.refusals:
        lines.append(f"  {refusal.category:<14} {refusal.rejected_in_window:>6} {refusal.open:>6}")
    return "\n".join(lines)


def _health_line(kind: str, where: str, figures: Any) -> str:
    share = "-" if figures.share_in_interval is None else f"{figures.share_in_interval:.0%}"
    gaps = "-" if figures.gap_hours is None else f"{figures.gap_hours}/{figures.expected_hours}"
    return (
        f"{kind:<16} {where[:22]:<22} {figures.assets:>6} {figures.reporting:>6} "
        f"{figures.reporting_in_interval:>7} {share:>6} {_age(figures.freshness_median_s):>10} "
        f"{_age(figures.freshness_worst_s):>10} {gaps:>8} {figures.with_faults:>6}"
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 72 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def describe_alerts(alerts: list[Alert]) -> str:
    """One line per alert: severity, kind, asset, since (and cleared), message."""
    if not alerts:
        return "no alert"
    lines = []
    for alert in alerts:
        cleared = "" if alert.cleared is None else f" → cleared {alert.cleared.isoformat()}"
        lines.append(
            f"{alert.severity:<8} {alert.kind:<10} {alert.asset_code:<16} "
            f"since {alert.since.isoformat()}{cleared}  {alert.message}"
        )
    return "\n".join(lines)
