"""The territory's data self-diagnosis: which devices report, how fresh, where the gaps are.

Per kind of device (:data:`twin.devices.DEVICE_KINDS`, each with its expected interval and why)
and per commune: how many assets should report, how many ever did, the share that reported
within their expected interval, the age of their newest reading (median and worst), the
hours with no data where data was expected over a window (the last 7 days by default), the
sensors with faults on record and the battery levels by bucket; and the messages ingest
refused (dead letters) by reason category. Read from the read models
(:mod:`twin.devices`) and, for dead letters, the receipts' events. Not responsible for
alerts (:mod:`twin.alerts`) nor for presenting the figures (the CLI, the web view).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from twin.dead_letters import LetterFilter, dead_letters
from twin.devices import DEVICE_KINDS, Device, DeviceKind, gap_hours, read_devices
from twin.errors import InvalidInputError
from twin.geography import load_geography

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from twin.application import ValleyTwin
    from twin.receipts import DeadLetter

DEFAULT_WINDOW = timedelta(days=7)
# Battery buckets, in percent: [low, high) except the last, which holds 100 %.
BATTERY_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0-10", 0.0, 10.0),
    ("10-20", 10.0, 20.0),
    ("20-50", 20.0, 50.0),
    ("50-80", 50.0, 80.0),
    ("80-100", 80.0, 100.000001),
)
UNKNOWN_BATTERY = "unknown"
# Why a message was refused, from what its dead letter keeps (the reason's text and the
# message's kind): a closed set, so that no sender can make up a category.
REFUSAL_CATEGORIES = (
    "wire",  # unreadable: not the wire protocol, a field missing or out of range
    "auth",  # the sending key may not write this (source, kind or asset)
    "unknown asset",  # about an asset the twin does not know (yet)
    "implausible",  # quarantined by a plausibility rule (twin.plausibility)
    "domain rule",  # refused by a rule of the domain (a reading out of order, ...)
    "internal",  # a fault of ingest itself
)


@dataclass(frozen=True)
class Figures:
    """The health figures of a group of devices."""

    assets: int  # expected to report
    reporting: int  # reported at least once
    reporting_in_interval: int  # newest reading younger than the expected interval
    share_in_interval: float | None  # of ``assets``; None when there are none
    freshness_median_s: float | None  # age of the newest reading, over those that reported
    freshness_worst_s: float | None
    expected_hours: int | None  # over the window; None when no read model keeps the hours
    gap_hours: int | None  # hours with no data where data was expected
    gap_share: float | None  # of ``expected_hours``
    with_faults: int  # assets whose sensor reported a fault at least once
    battery: dict[str, int]  # bucket → assets (only kinds with a battery)


@dataclass(frozen=True)
class KindHealth:
    """One kind of device: its expected interval, figures, and the same per commune."""

    kind: str
    label: str
    expected_interval_s: float
    why: str
    figures: Figures
    by_commune: dict[str, Figures]  # INSEE code → figures ("unknown" when none is recorded)


@dataclass(frozen=True)
class RefusalCount:
    """Messages refused for one reason category: in the window, and still open (any time)."""

    category: str
    rejected_in_window: int
    open: int


@dataclass(frozen=True)
class DataHealth:
    """The whole valley's data health at ``now`` over ``[window_start, now]``."""

    now: datetime
    window_start: datetime
    kinds: tuple[KindHealth, ...]
    refusals: tuple[RefusalCount, ...]
    refusals_by_kind: dict[str, int]  # message kind ("unreadable" if none) → rejected in window
    communes: dict[str, str]  # INSEE code → name, for the communes named above

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (instants as ISO-8601 text)."""
        data = asdict(self)
        data["now"] = self.now.isoformat()
        data["window_start"] = self.window_start.isoformat()
        return data

    def kind(self, name: str) -> KindHealth:
        """The figures of one kind of device, by name."""
        for kind in self.kinds:
            if kind.kind == name:
                return kind
        raise InvalidInputError("kind", name, f"one of {', '.join(k.kind for k in self.kinds)}")


def data_health(twin: ValleyTwin, now: datetime, window: timedelta = DEFAULT_WINDOW) -> DataHealth:
    """The valley's data health at ``now``, gaps counted over the ``window`` before it."""
    if now.tzinfo is None:
        raise InvalidInputError("now", now.isoformat(), "a timezone-aware instant")
    if window <= timedelta(0):
        raise InvalidInputError("window", str(window), "a positive duration")
    start = now - window
    longest = max(kind.expected_interval for kind in DEVICE_KINDS)
    devices = read_devices(twin, start - longest)  # readings just before cover the first hours
    kinds = []
    for kind in DEVICE_KINDS:
        own = [d for d in devices if d.kind is kind]
        by_commune: dict[str, list[Device]] = {}
        for device in own:
            by_commune.setdefault(device.commune_insee or "unknown", []).append(device)
        kinds.append(
            KindHealth(
                kind=kind.name,
                label=kind.label,
                expected_interval_s=kind.expected_interval.total_seconds(),
                why=kind.why,
                figures=figures(kind, own, now, start),
                by_commune={
                    insee: figures(kind, group, now, start)
                    for insee, group in sorted(by_commune.items())
                },
            )
        )
    refusals, refused_kinds = _refusals(
        list(dead_letters(twin, which=LetterFilter(settled=True))), start
    )
    names = {c.insee: c.name for c in load_geography().communes}
    named = {insee for k in kinds for insee in k.by_commune if insee in names}
    return DataHealth(
        now=now,
        window_start=start,
        kinds=tuple(kinds),
        refusals=refusals,
        refusals_by_kind=refused_kinds,
        communes={insee: names[insee] for insee in sorted(named)},
    )


def figures(kind: DeviceKind, devices: Sequence[Device], now: datetime, start: datetime) -> Figures:
    """The figures of these devices (all of ``kind``) at ``now``, gaps over ``[start, now)``."""
    ages = sorted(
        (now - d.last_reading_at).total_seconds() for d in devices if d.last_reading_at is not None
    )
    fresh = sum(1 for age in ages if age <= kind.expected_interval.total_seconds())
    expected = gaps = None
    if kind.keeps_hours:
        expected = gaps = 0
        for device in devices:
            hours, missing = gap_hours(device, start, now)
            expected += hours
            gaps += missing
    battery: dict[str, int] = {}
    if kind.name in ("fill_sensor", "ble_scanner"):
        battery = {label: 0 for label, _, _ in BATTERY_BUCKETS} | {UNKNOWN_BATTERY: 0}
        for device in devices:
            battery[battery_bucket(device.battery_percent)] += 1
    return Figures(
        assets=len(devices),
        reporting=len(ages),
        reporting_in_interval=fresh,
        share_in_interval=_share(fresh, len(devices)),
        freshness_median_s=statistics.median(ages) if ages else None,
        freshness_worst_s=ages[-1] if ages else None,
        expected_hours=expected,
        gap_hours=gaps,
        gap_share=None if expected is None or gaps is None else _share(gaps, expected),
        with_faults=sum(1 for d in devices if d.fault_count > 0),
        battery=battery,
    )


def battery_bucket(percent: float | None) -> str:
    """The bucket a battery level falls in (``unknown`` when none was reported)."""
    if percent is None:
        return UNKNOWN_BATTERY
    for label, low, high in BATTERY_BUCKETS:
        if low <= percent < high:
            return label
    return UNKNOWN_BATTERY


def refusal_category(letter: DeadLetter) -> str:
    """One of :data:`REFUSAL_CATEGORIES` for a dead letter, from its reason and kind."""
    reason = letter.reason
    if reason.startswith("internal error"):
        return "internal"
    if reason.startswith("implausible:"):
        return "implausible"
    if "is not the name of the sending key" in reason or (
        reason.startswith(("kind: key ", "asset: key ")) and "may not write" in reason
    ):
        return "auth"
    if reason.startswith("no bin, beacon, site, service, citizen or truck is known as"):
        return "unknown asset"
    if letter.kind is None:
        return "wire"
    return "domain rule"


def _refusals(
    letters: Sequence[DeadLetter], start: datetime
) -> tuple[tuple[RefusalCount, ...], dict[str, int]]:
    in_window = dict.fromkeys(REFUSAL_CATEGORIES, 0)
    still_open = dict.fromkeys(REFUSAL_CATEGORIES, 0)
    kinds: dict[str, int] = {}
    for letter in letters:
        category = refusal_category(letter)
        if letter.received_at >= start:
            in_window[category] += 1
            kind = letter.kind or "unreadable"
            kinds[kind] = kinds.get(kind, 0) + 1
        if letter.settled is None:
            still_open[category] += 1
    counts = tuple(RefusalCount(c, in_window[c], still_open[c]) for c in REFUSAL_CATEGORIES)
    return counts, dict(sorted(kinds.items()))


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole
