"""What the asset page and the side pages ask the twin: an asset's state (now or as of an
instant), its recent series, and the optional health, alerts and catalogue modules.

Health, alerts and the catalogue are built by their own modules (``twin.health``,
``twin.alerts``, ``twin.data_catalogue``); they are looked up when first asked, so the web view
runs (and says which is missing) in a build without one of them. Their answers are kept for a
few seconds: many open pages cost one computation. Not responsible for HTTP nor for HTML.
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain import ValleyAggregate
from twin.asof import ASSET_KINDS, AssetAsOf, asset_row
from twin.errors import NotFoundError
from twin.geography import Geography
from twin.projections import view_store
from twin.projections.energy import ENERGY_DAILY
from twin.projections.fill import BIN_FILL_HOURLY
from twin.projections.footfall import FOOTFALL_SCANNER_HOURLY
from twin.projections.sql import Table

if TYPE_CHECKING:
    from twin.application import ValleyTwin

ALERT_HISTORY_DAYS = 30  # alerts raised and cleared over this many days are listed
SERIES_DAYS = 30  # the asset page's chart: this many days before the valley's clock
# kind -> (table, id column, time column, value column, what the value is)
SERIES: dict[str, tuple[Table, str, str, str, str]] = {
    "bin": (BIN_FILL_HOURLY, "bin_id", "hour", "fill_last", "fill % (last reading of the hour)"),
    "beacon": (FOOTFALL_SCANNER_HOURLY, "beacon_id", "hour", "devices", "devices counted per hour"),
    "site": (ENERGY_DAILY, "site_id", "day", "kwh", "kWh per day"),
}


class Unavailable(Exception):  # noqa: N818 - a state the page reports, not a failure
    """A module this build does not have (named in the message)."""


def find_asset(twin: ValleyTwin, code: str) -> ValleyAggregate:
    """The asset with this code; citizens and trucks are not assets and are not found."""
    aggregate = twin.find(code)
    if aggregate.KIND not in ASSET_KINDS:
        raise NotFoundError(code)
    return aggregate


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """Datetimes and dates as ISO text: JSON-ready."""
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()}


def asset_state(twin: ValleyTwin, geography: Geography, code: str) -> dict[str, Any]:
    """The asset's current state (counts only for people: :func:`twin.asof.asset_row`)."""
    return plain_row(asset_row(AssetAsOf(find_asset(twin, code)), geography))  # type: ignore[arg-type]


def asset_state_at(
    twin: ValleyTwin, geography: Geography, code: str, instant: datetime
) -> dict[str, Any] | None:
    """The asset as the facts dated at or before ``instant`` say (None: it did not exist yet)."""
    aggregate = find_asset(twin, code)
    past = twin.state_at(aggregate.id, instant)
    if past is None:
        return None
    return plain_row(asset_row(AssetAsOf(past), geography))  # type: ignore[arg-type]


def asset_series(
    twin: ValleyTwin, kind: str, asset_id: str, until: datetime
) -> dict[str, Any] | None:
    """The asset's recent series from its read model: ``{"label", "points": [[t, v], ...]}``."""
    if kind not in SERIES:
        return None
    table, id_column, time_column, value_column, label = SERIES[kind]
    store = view_store(twin)
    start = until - timedelta(days=SERIES_DAYS)
    since: date | datetime = start.date() if table.column(time_column).type == "day" else start
    with store.read() as db:
        dialect = db.dialect
        from_db = dialect.from_db.get(table.column(time_column).type)
        statement = (
            f'SELECT "{time_column}", "{value_column}" FROM {dialect.table(table.name)} '
            f'WHERE "{id_column}" = {dialect.placeholder} '
            f'AND "{time_column}" >= {dialect.typed_placeholder(table.column(time_column))} '
            f'ORDER BY "{time_column}"'
        )
        rows = db.fetch(statement, [asset_id, dialect.writer(table, [time_column])([since])[0]])
    points = []
    for at, value in rows:
        when = from_db(at) if from_db is not None else at
        points.append([when.isoformat(), None if value is None else round(float(value), 3)])
    return {"label": label, "points": points}


def as_plain(value: Any) -> Any:
    """An object of another module (dataclass, ``as_dict()``, enum, datetime) as JSON values."""
    if hasattr(value, "as_dict"):
        return as_plain(value.as_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return as_plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [as_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def optional(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, or :class:`Unavailable` naming what this build lacks."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise  # the module exists but one of its imports does not: that is a bug
        raise Unavailable(f"{module} is not part of this build") from None
    function = getattr(found, name, None)
    if not callable(function):
        raise Unavailable(f"{module} has no {name}()")
    return function  # type: ignore[no-any-return]


KEPT_ANSWERS = 16


class Kept:
    """One computed answer per key, kept ``seconds``: many pages, one computation."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        """The kept answer if fresh enough, else a new one."""
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and time.monotonic() - kept[0] < self.seconds:
                return kept[1]
            answer = compute()
            self._answers[key] = (time.monotonic(), answer)
            while len(self._answers) > KEPT_ANSWERS:  # keys may come from requests: bounded
                del self._answers[next(iter(self._answers))]
            return answer


def data_health(twin: ValleyTwin, now: datetime) -> Any:
    """The data health (``twin.health.data_health``) as plain values."""
    return as_plain(optional("twin.health", "data_health")(twin, now))


def alerts(twin: ValleyTwin, now: datetime, thresholds: Any) -> dict[str, list[dict[str, Any]]]:
    """Alerts holding now (``twin.alerts.current_alerts``) and those raised and cleared over
    the last ``ALERT_HISTORY_DAYS`` (``alert_history``), as plain values."""
    held = optional("twin.alerts", "current_alerts")(twin, now, thresholds)
    since = now - timedelta(days=ALERT_HISTORY_DAYS)
    past = optional("twin.alerts", "alert_history")(twin, since, now, thresholds)
    cleared = [alert for alert in past if getattr(alert, "cleared", None) is not None]
    return {"current": as_plain(held), "history": as_plain(cleared)}


def catalogue(twin: ValleyTwin, now: datetime, base_url: str) -> dict[str, Any]:
    """The DCAT-AP catalogue (``twin.data_catalogue.data_catalogue``), with the data health."""
    health = optional("twin.health", "data_health")(twin, now)
    answer = optional("twin.data_catalogue", "data_catalogue")(twin, health, base_url)
    return as_plain(answer)  # type: ignore[no-any-return]


def alert_code(alert: dict[str, Any]) -> str | None:
    """The asset an alert is about, whatever the alerts module calls the field."""
    for key in ("asset_code", "code", "asset"):
        value = alert.get(key)
        if isinstance(value, str) and value:
            return value
    return None
