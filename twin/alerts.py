"""Alerts: what needs attention in the valley now, and the alerts raised and cleared before.

Seven kinds (:data:`ALERT_KINDS`), with their thresholds in :class:`twin.config.AlertThresholds`:
a container at or over the fill threshold, an overflowing container (from its first sign to
the emptying that ends it, :mod:`domain.overflows`), a device silent for more than
``silent_intervals`` of its expected interval (:mod:`twin.devices`), a battery under the
threshold, a sensor fault (until the sensor next measures), a citizen's report not
acknowledged within the hours set, and a fact quarantined as implausible (until its dead
letter is retried or discarded).

History is derived, not stored: :func:`alert_history` computes each alert's raised and
cleared instants from the read models (hourly fill, overflow marks, the hours each device
reported in, citizens' reports) and from the few events no read model keeps (faults of the
containers that had one, dead letters' receipts). So history always agrees with the log,
corrections included, and needs no projection of its own. Its limits, said where they hold:
fill alerts are found to the hour (``bin_fill_hourly`` keeps each hour's last reading),
silence to the hour, and low batteries have no history (no read model keeps battery levels
over time: :func:`current_alerts` only). Not responsible for notifying anyone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from adapters.wire import WireError, decode
from domain import Bin
from domain.overflows import episodes
from twin.config import AlertThresholds
from twin.devices import HOUR, Device, instant_parameter, read_devices, select_rows
from twin.errors import InvalidInputError
from twin.events import aggregate_event
from twin.projections import PROJECTIONS, view_store
from twin.projections.assets import ASSET_STATE, BIN_OVERFLOW_MARKS, EMPTIED
from twin.projections.fill import BIN_FILL_HOURLY
from twin.projections.reports import CITIZEN_REPORTS
from twin.receipts import MessageReceipt

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from twin.application import ValleyTwin

ALERT_KINDS = ("overflow", "fill", "silent", "fault", "quarantine", "report", "battery")
SEVERITY = {
    "overflow": "critical",
    "fill": "warning",
    "silent": "warning",
    "fault": "warning",
    "quarantine": "warning",
    "report": "warning",
    "battery": "info",
}
_RECEIPT_TOPICS = tuple(
    get_topic(c)
    for c in (MessageReceipt.DeadLettered, MessageReceipt.Retried, MessageReceipt.Discarded)
)


@dataclass(frozen=True)
class Alert:
    """One alert: what, about which asset, since when (UTC), and until when if cleared."""

    kind: str
    asset_code: str  # a report's alert names the report's anonymous id, never its citizen
    since: datetime
    message: str
    severity: str
    commune_insee: str | None = None
    cleared: datetime | None = None  # None while it holds

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data = asdict(self)
        data["since"] = self.since.isoformat()
        data["cleared"] = None if self.cleared is None else self.cleared.isoformat()
        return data


def current_alerts(
    twin: ValleyTwin, now: datetime, thresholds: AlertThresholds | None = None
) -> list[Alert]:
    """Every alert holding at ``now``, most severe first, then oldest first."""
    _check("now", now)
    thresholds = thresholds or AlertThresholds()
    history, devices = _history(twin, now, now, thresholds)
    held = [a for a in history if a.cleared is None or a.cleared > now]
    return _ordered([*held, *_battery(devices, thresholds)])


def alert_history(
    twin: ValleyTwin,
    since: datetime,
    until: datetime,
    thresholds: AlertThresholds | None = None,
) -> list[Alert]:
    """The alerts that held at some moment of ``[since, until]``, raised and (if so) cleared.

    An alert raised before ``since`` and still holding is included with its own ``since``;
    one cleared after ``until`` shows as holding. Low batteries are not in history (see the
    module's docstring).
    """
    _check("since", since)
    _check("until", until)
    if since > until:
        raise InvalidInputError(
            "since", since.isoformat(), f"an instant before {until.isoformat()}"
        )
    return _history(twin, since, until, thresholds or AlertThresholds())[0]


def _history(
    twin: ValleyTwin, since: datetime, until: datetime, thresholds: AlertThresholds
) -> tuple[list[Alert], list[Device]]:
    """The alerts of :func:`alert_history`, and the devices read for them. Fill rows are
    read from 31 days before ``since``: a container full for longer shows from then."""
    store = view_store(twin)
    store.ensure([PROJECTIONS[n] for n in ("asset_state", "bin_fill_hourly", "citizen_reports")])
    with store.read() as db:
        dialect = store.dialect
        assets = select_rows(db, dialect, ASSET_STATE, '"kind" = ' + dialect.placeholder, ("bin",))
        marks = select_rows(db, dialect, BIN_OVERFLOW_MARKS, "1 = 1", ())
        mark = dialect.typed_placeholder(BIN_FILL_HOURLY.column("hour"))
        fill_rows = select_rows(
            db,
            dialect,
            BIN_FILL_HOURLY,
            f'"hour" >= {mark} AND "hour" <= {mark}',
            (
                instant_parameter(dialect, BIN_FILL_HOURLY, "hour", since - timedelta(days=31)),
                instant_parameter(dialect, BIN_FILL_HOURLY, "hour", until),
            ),
        )
        reports = select_rows(db, dialect, CITIZEN_REPORTS, "1 = 1", ())
    bins = {row["aggregate_id"]: row for row in assets}
    devices = read_devices(twin, since - timedelta(days=2))
    found = [
        *_overflows(bins, marks),
        *_fills(bins, fill_rows, thresholds, until),
        *_silences(devices, thresholds, until),
        *_faults(twin, [row for row in assets if row["sensor_fault_count"]]),
        *_reports(reports, thresholds),
        *_quarantines(twin, until),
    ]
    kept = [
        alert
        for alert in found
        if alert.since <= until and (alert.cleared is None or alert.cleared >= since)
    ]
    return [
        alert if alert.cleared is None or alert.cleared <= until else _holding(alert)
        for alert in _ordered(kept)
    ], devices


def _overflows(bins: dict[str, dict[str, Any]], marks: Sequence[dict[str, Any]]) -> list[Alert]:
    by_bin: dict[str, tuple[list[datetime], list[datetime]]] = {}
    for mark in marks:
        emptyings, signs = by_bin.setdefault(mark["bin_id"], ([], []))
        (emptyings if mark["mark"] == EMPTIED else signs).append(mark["at"])
    alerts = []
    for bin_id, (emptyings, signs) in by_bin.items():
        row = bins.get(bin_id)
        if row is None or row["retired"]:
            continue
        for episode in episodes(sorted(emptyings), sorted(signs)):
            alerts.append(
                _alert(
                    "overflow",
                    row,
                    episode.began,
                    f"container {row['code']} overflowing since {_at(episode.began)}",
                    episode.ended,
                )
            )
    return alerts


def _fills(
    bins: dict[str, dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    thresholds: AlertThresholds,
    until: datetime,
) -> list[Alert]:
    """Runs of hours whose last reading is at or over the threshold; an emptying or a reading
    under it clears the alert. An hour's last reading stands for it: found to the hour."""
    limit = thresholds.fill_percent
    by_bin: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["hour"]):
        by_bin.setdefault(row["bin_id"], []).append(row)
    alerts = []
    for bin_id, hours in by_bin.items():
        asset = bins.get(bin_id)
        if asset is None or asset["retired"]:
            continue
        raised: datetime | None = None
        for hour in hours:
            full = hour["readings"] > 0 and hour["fill_last"] >= limit
            if raised is not None and (hour["emptied"] or not full):
                cleared = hour["fill_last_at"] if hour["readings"] else hour["hour"]
                alerts.append(_fill_alert(asset, raised, limit, max(cleared, raised)))
                raised = None
            if raised is None and full:
                raised = hour["fill_last_at"] or hour["hour"]
        if raised is not None:
            alerts.append(_fill_alert(asset, raised, limit, None))
    return alerts


def _fill_alert(
    row: dict[str, Any], raised: datetime, limit: float, cleared: datetime | None
) -> Alert:
    return _alert(
        "fill",
        row,
        raised,
        f"container {row['code']} at or over {limit:g} % full since {_at(raised)}",
        cleared,
    )


def _silences(
    devices: Sequence[Device], thresholds: AlertThresholds, until: datetime
) -> list[Alert]:
    """Each stretch longer than ``silent_intervals`` expected intervals without a reading:
    raised when the newest reading before it was that overdue, cleared by the next one (to
    the hour). A device that never reported is silent from its installation (or first
    fitting) plus as long; the stretch before a device's first reading is not judged."""
    alerts = []
    for device in devices:
        allowed = device.kind.expected_interval * thresholds.silent_intervals
        # A data hour says a reading fell somewhere in it: heard from its start to its end.
        # The newest reading's own instant ends its hour's span (it is known exactly).
        last = device.last_reading_at
        spans = sorted(
            [
                (hour, last if last is not None and hour <= last < hour + HOUR else hour + HOUR)
                for hour in device.data_hours
            ]
            + ([(last, last)] if last is not None else [])
        )
        if not spans:
            alerts.append(_silence(device, device.expected_since + allowed, None, None))
            continue
        heard_until = spans[0][1]
        for start, end in [*spans[1:], (None, None)]:
            resumed = until if start is None else start
            if resumed > heard_until + allowed:
                alerts.append(_silence(device, heard_until + allowed, heard_until, start))
            if end is not None:
                heard_until = max(heard_until, end)
    return [alert for alert in alerts if alert.since <= until]


def _silence(
    device: Device, overdue: datetime, previous: datetime | None, cleared: datetime | None
) -> Alert:
    heard = f"silent since {_at(previous)}" if previous is not None else "has never reported"
    return Alert(
        "silent",
        device.code,
        overdue,
        f"{device.kind.label}: {device.code} {heard} "
        f"(expected every {_hours(device.kind.expected_interval)})",
        SEVERITY["silent"],
        device.commune_insee,
        cleared,
    )


def _faults(twin: ValleyTwin, rows: Sequence[dict[str, Any]]) -> list[Alert]:
    """From the history of each container whose sensor reported a fault: a fault holds until
    the sensor's next fill reading (facts in world time, as they now stand)."""
    alerts = []
    for row in rows:
        facts = sorted(
            (aggregate_event(f) for f in twin.facts_of(Bin.id_for(row["code"]))),
            key=lambda f: f.timestamp,
        )
        raised: tuple[datetime, str] | None = None
        for fact in facts:
            if isinstance(fact, Bin.SensorFaultReported) and raised is None:
                raised = (fact.timestamp, fact.fault)
            elif isinstance(fact, Bin.FillLevelMeasured) and raised is not None:
                alerts.append(_fault_alert(row, *raised, fact.timestamp))
                raised = None
        if raised is not None:
            alerts.append(_fault_alert(row, *raised, None))
    return alerts


def _fault_alert(row: dict[str, Any], at: datetime, fault: str, cleared: datetime | None) -> Alert:
    return _alert(
        "fault", row, at, f"sensor of container {row['code']} reported a fault: {fault}", cleared
    )


def _reports(reports: Sequence[dict[str, Any]], thresholds: AlertThresholds) -> list[Alert]:
    """A report not acknowledged (nor rejected) within the hours set, by category and commune
    only: never its text or its citizen."""
    allowed = timedelta(hours=thresholds.report_unacknowledged_hours)
    alerts = []
    for report in reports:
        overdue = report["filed_at"] + allowed
        answered = [
            t
            for t in (report["acknowledged_at"], report["rejected_at"], report["resolved_at"])
            if t is not None
        ]
        cleared = min(answered) if answered else None
        if cleared is not None and cleared <= overdue:
            continue
        alerts.append(
            Alert(
                "report",
                f"report:{report['report_id']}",
                overdue,
                f"a citizen's report ({report['category']}) filed {_at(report['filed_at'])} "
                f"unacknowledged after {_hours(allowed)}",
                SEVERITY["report"],
                report["commune_insee"],
                cleared,
            )
        )
    return alerts


def _quarantines(twin: ValleyTwin, until: datetime) -> list[Alert]:
    """Facts quarantined as implausible (:mod:`twin.plausibility`), until retried or discarded."""
    raised: dict[Any, Alert] = {}
    for stored in twin.domain_events(topics=_RECEIPT_TOPICS):
        event = aggregate_event(stored)
        if isinstance(event, MessageReceipt.DeadLettered):
            if event.reason.startswith("implausible:"):
                raised[event.originator_id] = Alert(
                    "quarantine",
                    _asset_of(event),
                    event.timestamp,
                    f"{event.kind} fact quarantined: {event.reason}",
                    SEVERITY["quarantine"],
                )
        elif event.originator_id in raised and raised[event.originator_id].cleared is None:
            alert = raised[event.originator_id]
            raised[event.originator_id] = Alert(
                alert.kind,
                alert.asset_code,
                alert.since,
                alert.message,
                alert.severity,
                alert.commune_insee,
                event.timestamp,
            )
    return list(raised.values())


def _asset_of(event: MessageReceipt.DeadLettered) -> str:
    """The asset a quarantined message was about (its device's id if it cannot be read)."""
    import base64

    try:
        return decode(base64.b64decode(event.raw_base64), now=event.timestamp).asset
    except (WireError, ValueError):
        return event.device or "?"


def _battery(devices: Iterable[Device], thresholds: AlertThresholds) -> list[Alert]:
    return [
        Alert(
            "battery",
            device.code,
            device.battery_at,
            f"{device.kind.label}: {device.code} battery at {device.battery_percent:g} % "
            f"(under {thresholds.battery_percent:g} %)",
            SEVERITY["battery"],
            device.commune_insee,
        )
        for device in devices
        if device.battery_percent is not None
        and device.battery_at is not None
        and device.battery_percent < thresholds.battery_percent
    ]


def _alert(
    kind: str, row: dict[str, Any], since: datetime, message: str, cleared: datetime | None
) -> Alert:
    return Alert(kind, row["code"], since, message, SEVERITY[kind], row["commune_insee"], cleared)


def _holding(alert: Alert) -> Alert:
    return Alert(
        alert.kind,
        alert.asset_code,
        alert.since,
        alert.message,
        alert.severity,
        alert.commune_insee,
        None,
    )


_RANK = {"critical": 0, "warning": 1, "info": 2}


def _ordered(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (_RANK[a.severity], a.since, a.kind, a.asset_code))


def _at(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M UTC")


def _hours(span: timedelta) -> str:
    hours = span / HOUR
    return f"{hours:g} h" if hours >= 1 else f"{span.total_seconds() / 60:g} min"


def _check(field: str, instant: datetime) -> None:
    if instant.tzinfo is None:
        raise InvalidInputError(field, instant.isoformat(), "a timezone-aware instant")
