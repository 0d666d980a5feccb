"""Footfall at the valley's activity zone and remarkable sites: replayed, fitted and projected.

Beacons count distinct devices per interval (``Beacon.FootfallCounted``). From those counts
this module

- replays them per zone and hour, exactly (the integer counts are only regrouped);
- fits an explainable arrival model per zone — a rate per hour multiplied by factors for the
  local hour of day, the weekday and the month — and reports its parameters;
- samples the future from it with an explicit seed (Poisson arrivals), turning devices into
  visitors with the detection ratio and adding one-off events (a festival's multiplier);
- measures peaks, people present against a site's capacity, and visits along a trail of
  sites (visitors of one site going on to the next with a probability and a delay).

Every series is hourly, on whole UTC hours; hours of day, weekdays, months and days are read
on the valley's local clock (Europe/Paris). Not responsible for counting devices (the adapter
is) nor for where the figures come from (``simulation/parameters/footfall.py``).
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from domain import Beacon
from simulation.parameters.energy import VALLEY_TIMEZONE
from simulation.parameters.footfall import (
    ASSUMED_HOUR_SHAPE,
    ASSUMED_WEEKDAY_SHAPE,
    DEFAULT_DETECTION_RATIO,
    herault_month_factors,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from uuid import UUID

HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _whole_hour(start: datetime) -> datetime:
    """``start`` in UTC, refused unless it is timezone-aware and on a whole hour."""
    if start.tzinfo is None:
        raise ValueError(f"start must be timezone-aware, not {start!r}")
    start = start.astimezone(UTC)
    if start.minute or start.second or start.microsecond:
        raise ValueError(f"start must be a whole hour, not {start.isoformat()}")
    return start


def _hour_index(instant: datetime) -> int:
    """Whole UTC hours since the epoch of the hour holding ``instant``."""
    return math.floor((instant - _EPOCH) / HOUR)


# --- Counts from the log ---------------------------------------------------------------------


@dataclass(frozen=True)
class FootfallCount:
    """Devices a beacon counted between two instants, with the zone it served then."""

    zone: str
    beacon: UUID
    start: datetime
    end: datetime
    count: int


def footfall_counts(events: Iterable[object]) -> Iterator[FootfallCount]:
    """The counts in a log, each with its beacon's zone at the time (streaming, in log order).

    A beacon whose installation is not in the log is its own zone, named by its id. Other
    events are not this function's business and are skipped.
    """
    zones: dict[UUID, str] = {}
    for event in events:
        if isinstance(event, Beacon.Installed | Beacon.Moved):
            zones[event.originator_id] = event.zone_code
        elif isinstance(event, Beacon.FootfallCounted):
            beacon = event.originator_id
            yield FootfallCount(
                zones.get(beacon, str(beacon)),
                beacon,
                event.interval_start,
                event.timestamp,
                event.count,
            )


# --- Hourly series ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HourlySeries:
    """Values per hour from ``start`` (a whole UTC hour): devices, visitors or people present."""

    start: datetime
    values: np.ndarray
    unit: str = "devices"

    def __post_init__(self) -> None:
        values = np.array(self.values)
        values.flags.writeable = False
        object.__setattr__(self, "start", _whole_hour(self.start))
        object.__setattr__(self, "values", values)

    @property
    def hours(self) -> int:
        """Number of hours in the series."""
        return len(self.values)

    def instant(self, hour: int) -> datetime:
        """Start (UTC) of the series' ``hour``-th hour."""
        return self.start + hour * HOUR

    def total(self) -> float:
        """Sum over the series."""
        return float(self.values.sum())

    def daily(self, timezone: str = VALLEY_TIMEZONE) -> dict[date, float]:
        """Sums per local day."""
        days = _local_calendar(self.start, self.hours, timezone).days
        sums: dict[date, float] = {}
        for ordinal in np.unique(days):
            sums[date.fromordinal(int(ordinal))] = self.values[days == ordinal].sum().item()
        return sums

    def to_visitors(self, detection_ratio: float = DEFAULT_DETECTION_RATIO) -> HourlySeries:
        """Counted devices as visitors: each device stands for ``1 / detection_ratio`` people."""
        if self.unit != "devices":
            raise ValueError(f"only device counts convert to visitors, not {self.unit}")
        _check_ratio(detection_ratio)
        return HourlySeries(self.start, self.values / detection_ratio, "visitors")


def _check_ratio(detection_ratio: float) -> None:
    if not 0.0 < detection_ratio <= 1.0:
        raise ValueError(f"detection ratio must be in (0, 1], not {detection_ratio}")


def detection_ratio_from(devices_counted: float, visitors_counted: float) -> float:
    """The detection ratio seen during a manual count: devices the beacon saw per real visitor."""
    if visitors_counted <= 0 or devices_counted < 0:
        raise ValueError("a calibration needs visitors counted and a non-negative device count")
    ratio = devices_counted / visitors_counted
    _check_ratio(ratio)
    return ratio


@dataclass(frozen=True)
class _Calendar:
    hours: np.ndarray  # local hour of day, 0–23
    weekdays: np.ndarray  # Monday 0
    months: np.ndarray  # January 0
    days: np.ndarray  # local date ordinal


@functools.lru_cache(maxsize=64)
def _local_calendar(start: datetime, hours: int, timezone: str) -> _Calendar:
    zone = ZoneInfo(timezone)
    local = [(start + index * HOUR).astimezone(zone) for index in range(hours)]
    calendar = _Calendar(
        np.array([moment.hour for moment in local], dtype=np.int64),
        np.array([moment.weekday() for moment in local], dtype=np.int64),
        np.array([moment.month - 1 for moment in local], dtype=np.int64),
        np.array([moment.toordinal() for moment in local], dtype=np.int64),
    )
    for array in (calendar.hours, calendar.weekdays, calendar.months, calendar.days):
        array.flags.writeable = False
    return calendar


# --- Replay ----------------------------------------------------------------------------------


def recorded_footfall(
    counts: Iterable[FootfallCount], start: datetime | None = None, end: datetime | None = None
) -> dict[str, HourlySeries]:
    """Recorded device counts per zone and UTC hour, exactly as counted.

    Each count goes whole to the hour holding the middle of its interval, so no count is split
    and the sums per zone, hour and day are integers that add up to what the beacons recorded.
    The series run from ``start`` to ``end`` (whole hours; by default the first and last
    counted hours); counts outside are left out.
    """
    per_zone: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for item in counts:
        middle = item.start + (item.end - item.start) / 2
        per_zone[item.zone][_hour_index(middle)] += item.count
    first = None if start is None else _hour_index(start)
    last = None if end is None else math.ceil((end - _EPOCH) / HOUR)
    series = {}
    for zone, hours in sorted(per_zone.items()):
        low = min(hours) if first is None else first
        high = max(hours) + 1 if last is None else last
        values = np.zeros(max(0, high - low), dtype=np.int64)
        for hour, count in hours.items():
            if low <= hour < high:
                values[hour - low] += count
        series[zone] = HourlySeries(_EPOCH + low * HOUR, values, "devices")
    return series


# --- Fitting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrivalModel:
    """Arrivals per hour = ``base_per_hour`` × hour factor × weekday factor × month factor.

    Factors are read on the local clock and each set has mean 1, so ``base_per_hour`` is the
    rate of an average hour. Hours, weekdays or months never observed are listed: unobserved
    months take the shape of ``month_prior`` (the Hérault seasons by default), unobserved hours
    and weekdays a factor of 1. ``dispersion`` is Pearson's χ² per degree of freedom: about 1
    when counts are Poisson around the fit, more when they vary more than the model says.
    """

    zone: str
    unit: str
    base_per_hour: float
    hour_factors: tuple[float, ...]
    weekday_factors: tuple[float, ...]
    month_factors: tuple[float, ...]
    observed_hours: float
    counted: float
    unobserved_hours: tuple[int, ...]
    unobserved_weekdays: tuple[int, ...]
    months_from_prior: tuple[int, ...]
    dispersion: float
    iterations: int
    timezone: str = VALLEY_TIMEZONE

    def rates(self, start: datetime, hours: int) -> np.ndarray:
        """Expected arrivals in each of ``hours`` hours from ``start`` (whole UTC hour)."""
        calendar = _local_calendar(_whole_hour(start), hours, self.timezone)
        factors = (
            np.asarray(self.hour_factors)[calendar.hours]
            * np.asarray(self.weekday_factors)[calendar.weekdays]
            * np.asarray(self.month_factors)[calendar.months]
        )
        return np.asarray(self.base_per_hour * factors, dtype=float)

    def as_dict(self) -> dict[str, Any]:
        """The fitted parameters as plain values, for a report."""
        return {
            "zone": self.zone,
            "unit": self.unit,
            "base_per_hour": self.base_per_hour,
            "hour_factors": {f"{hour:02d}h": value for hour, value in enumerate(self.hour_factors)},
            "weekday_factors": dict(zip(WEEKDAYS, self.weekday_factors, strict=True)),
            "month_factors": {month + 1: value for month, value in enumerate(self.month_factors)},
            "observed_hours": self.observed_hours,
            "counted": self.counted,
            "unobserved_hours": list(self.unobserved_hours),
            "unobserved_weekdays": [WEEKDAYS[day] for day in self.unobserved_weekdays],
            "months_from_prior": [month + 1 for month in self.months_from_prior],
            "dispersion": self.dispersion,
            "iterations": self.iterations,
            "timezone": self.timezone,
        }


def fit_arrivals(
    counts: Iterable[FootfallCount],
    timezone: str = VALLEY_TIMEZONE,
    month_prior: Sequence[float] | None = None,
    max_iterations: int = 500,
    tolerance: float = 1e-10,
) -> dict[str, ArrivalModel]:
    """Fit an ``ArrivalModel`` per zone by Poisson maximum likelihood.

    Each count is spread over the hours its interval covers, in proportion to the time in
    each; each hour's exposure is the share of it that was observed. The main-effects
    log-linear model is fitted by iterative proportional scaling (which is its maximum
    likelihood estimate). ``month_prior`` defaults to the Hérault seasonal shape.
    """
    prior = np.asarray(herault_month_factors() if month_prior is None else month_prior, dtype=float)
    if prior.shape != (12,) or (prior <= 0).any():
        raise ValueError("month_prior must be 12 positive factors, January first")
    cells: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for item in counts:
        span = (item.end - item.start) / HOUR
        if span <= 0:
            raise ValueError(
                f"count of beacon {item.beacon} has an empty interval at {item.end.isoformat()}"
            )
        for hour in range(_hour_index(item.start), math.ceil((item.end - _EPOCH) / HOUR)):
            low, high = _EPOCH + hour * HOUR, _EPOCH + (hour + 1) * HOUR
            covered = (min(high, item.end) - max(low, item.start)) / HOUR
            if covered > 0:
                cell = cells[item.zone][hour]
                cell[0] += item.count * covered / span
                cell[1] += covered
    return {
        zone: _fit_zone(zone, hours, timezone, prior, max_iterations, tolerance)
        for zone, hours in sorted(cells.items())
    }


def _fit_zone(
    zone: str,
    cells: Mapping[int, list[float]],
    timezone: str,
    prior: np.ndarray,
    max_iterations: int,
    tolerance: float,
) -> ArrivalModel:
    indices = np.array(sorted(cells), dtype=np.int64)
    counts = np.array([cells[hour][0] for hour in indices.tolist()])
    exposure = np.array([cells[hour][1] for hour in indices.tolist()])
    zone_tz = ZoneInfo(timezone)
    local = [(_EPOCH + int(hour) * HOUR).astimezone(zone_tz) for hour in indices.tolist()]
    groups = (
        np.array([moment.hour for moment in local]),
        np.array([moment.weekday() for moment in local]),
        np.array([moment.month - 1 for moment in local]),
    )
    sizes = (24, 7, 12)
    observed = [
        np.bincount(group, weights=exposure, minlength=size) > 0
        for group, size in zip(groups, sizes, strict=True)
    ]
    factors = [np.ones(size) for size in sizes]
    base = counts.sum() / exposure.sum()
    iterations = 0
    while base > 0 and iterations < max_iterations:  # nobody counted: a zero rate, flat factors
        iterations += 1
        change = 0.0
        for which, (group, size) in enumerate(zip(groups, sizes, strict=True)):
            others = base * exposure
            for other in range(3):
                if other != which:
                    others = others * factors[other][groups[other]]
            numerator = np.bincount(group, weights=counts, minlength=size)
            denominator = np.bincount(group, weights=others, minlength=size)
            updated = np.divide(
                numerator, denominator, out=factors[which].copy(), where=denominator > 0
            )
            change = max(change, float(np.max(np.abs(updated - factors[which]))))
            factors[which] = updated
        if change < tolerance:
            break
    # Each set to mean 1 over what was observed; the scale goes into the base rate.
    for which in range(3):
        mean = factors[which][observed[which]].mean()
        if mean > 0:
            factors[which] = np.where(observed[which], factors[which] / mean, 1.0)
            base *= mean
    months = factors[2]
    if base > 0 and not observed[2].all():
        scale = months[observed[2]].sum() / prior[observed[2]].sum()
        months = np.where(observed[2], months, prior * scale)
        base *= months.mean()
        months = months / months.mean()
    fitted = base * exposure * factors[0][groups[0]] * factors[1][groups[1]] * months[groups[2]]
    positive = fitted > 0
    parameters = 1 + sum(int(mask.sum()) - 1 for mask in observed)
    freedom = max(1, int(positive.sum()) - parameters)
    dispersion = float((((counts - fitted) ** 2)[positive] / fitted[positive]).sum() / freedom)
    return ArrivalModel(
        zone=zone,
        unit="devices",
        base_per_hour=float(base),
        hour_factors=tuple(float(value) for value in factors[0]),
        weekday_factors=tuple(float(value) for value in factors[1]),
        month_factors=tuple(float(value) for value in months),
        observed_hours=float(exposure.sum()),
        counted=float(counts.sum()),
        unobserved_hours=tuple(int(hour) for hour in np.flatnonzero(~observed[0])),
        unobserved_weekdays=tuple(int(day) for day in np.flatnonzero(~observed[1])),
        months_from_prior=tuple(int(month) for month in np.flatnonzero(~observed[2])),
        dispersion=dispersion,
        iterations=iterations,
        timezone=timezone,
    )


def assumed_arrivals(
    zone: str,
    visitors_per_year: float,
    detection_ratio: float = DEFAULT_DETECTION_RATIO,
    timezone: str = VALLEY_TIMEZONE,
) -> ArrivalModel:
    """An arrival model for a site no beacon has counted yet: a yearly total and assumed shapes.

    The hour and weekday shapes are the assumptions of ``simulation.parameters.footfall``, the
    months the Hérault seasons; each is scaled to mean 1, so a year holds about
    ``visitors_per_year`` visitors (as devices: × ``detection_ratio``). Every hour, weekday and
    month is listed as unobserved, so a report says the model is assumed, not fitted.
    """
    _check_ratio(detection_ratio)
    if not visitors_per_year > 0:
        raise ValueError(f"visitors_per_year must be positive, not {visitors_per_year}")

    def mean_one(shape: Sequence[float]) -> tuple[float, ...]:
        values = np.asarray(shape, dtype=float)
        return tuple(float(v) for v in values / values.mean())

    return ArrivalModel(
        zone=zone,
        unit="devices",
        base_per_hour=visitors_per_year * detection_ratio / (365.25 * 24),
        hour_factors=mean_one(ASSUMED_HOUR_SHAPE),
        weekday_factors=mean_one(ASSUMED_WEEKDAY_SHAPE),
        month_factors=mean_one(herault_month_factors()),
        observed_hours=0.0,
        counted=0.0,
        unobserved_hours=tuple(range(24)),
        unobserved_weekdays=tuple(range(7)),
        months_from_prior=tuple(range(12)),
        dispersion=1.0,
        iterations=0,
        timezone=timezone,
    )


# --- Projection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneOffEvent:
    """A festival or other event multiplying arrivals on local days ``first_day``–``last_day``.

    ``zones`` limits it to some zones (all when empty).
    """

    name: str
    first_day: date
    last_day: date
    multiplier: float
    zones: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.last_day < self.first_day or self.multiplier < 0:
            raise ValueError(
                f"event {self.name!r} needs last_day ≥ first_day and a non-negative multiplier"
            )
        object.__setattr__(self, "zones", frozenset(self.zones))


def expected_visitors(
    model: ArrivalModel,
    start: datetime,
    hours: int,
    detection_ratio: float = DEFAULT_DETECTION_RATIO,
    events: Sequence[OneOffEvent] = (),
) -> HourlySeries:
    """Expected visitors per hour: the model's device rate / detection ratio × event multipliers."""
    _check_ratio(detection_ratio)
    if model.unit != "devices":
        raise ValueError(f"the model must count devices, not {model.unit}")
    series_start = _whole_hour(start)
    rates = model.rates(series_start, hours) / detection_ratio
    days = _local_calendar(series_start, hours, model.timezone).days
    for event in events:
        if not event.zones or model.zone in event.zones:
            during = (days >= event.first_day.toordinal()) & (days <= event.last_day.toordinal())
            rates = np.where(during, rates * event.multiplier, rates)
    return HourlySeries(series_start, rates, "visitors")


def sample_visitors(
    model: ArrivalModel,
    start: datetime,
    hours: int,
    seed: int,
    detection_ratio: float = DEFAULT_DETECTION_RATIO,
    events: Sequence[OneOffEvent] = (),
) -> HourlySeries:
    """Visitors per hour drawn as Poisson arrivals around ``expected_visitors``, seeded."""
    expected = expected_visitors(model, start, hours, detection_ratio, events)
    drawn = np.random.default_rng(seed).poisson(expected.values)
    return HourlySeries(expected.start, drawn, "visitors")


# --- Peaks and capacity ----------------------------------------------------------------------


@dataclass(frozen=True)
class FootfallPeaks:
    """The busiest hour and day of a series, its mean and 95th percentile per hour."""

    unit: str
    total: float
    mean_per_hour: float
    p95_per_hour: float
    peak_hour: datetime
    peak_hour_value: float
    peak_day: date
    peak_day_value: float


def peaks(series: HourlySeries, timezone: str = VALLEY_TIMEZONE) -> FootfallPeaks:
    """Peak hour (UTC start), peak local day, mean and 95th percentile per hour."""
    if series.hours == 0:
        raise ValueError("an empty series has no peak")
    top = int(np.argmax(series.values))
    daily = series.daily(timezone)
    busiest = max(daily, key=lambda day: (daily[day], -day.toordinal()))
    return FootfallPeaks(
        unit=series.unit,
        total=series.total(),
        mean_per_hour=float(series.values.mean()),
        p95_per_hour=float(np.percentile(series.values, 95)),
        peak_hour=series.instant(top),
        peak_hour_value=float(series.values[top]),
        peak_day=busiest,
        peak_day_value=float(daily[busiest]),
    )


def occupancy(arrivals: HourlySeries, stay_hours: float, steps: int = 600) -> HourlySeries:
    """Mean number of people present in each hour when each visitor stays ``stay_hours``.

    Arrivals are spread evenly within their hour; the share of a visitor's stay falling in
    each later hour is integrated numerically (``steps`` points per hour), then scaled so that
    every visitor contributes exactly ``stay_hours`` person-hours (Little's law).
    """
    if stay_hours <= 0:
        raise ValueError(f"stay must be positive, not {stay_hours}")
    offsets = (np.arange(steps) + 0.5) / steps
    kernel = np.array(
        [
            np.clip(
                np.minimum(offsets + stay_hours, lag + 1) - np.maximum(offsets, lag), 0, None
            ).mean()
            for lag in range(math.ceil(stay_hours) + 1)
        ]
    )
    kernel *= stay_hours / kernel.sum()
    present = np.convolve(np.asarray(arrivals.values, dtype=float), kernel)[: arrivals.hours]
    return HourlySeries(arrivals.start, present, "present")


def hours_over_capacity(series: HourlySeries, capacity: float) -> int:
    """Number of hours whose value exceeds ``capacity``."""
    return int((series.values > capacity).sum())


def footfall_kpis(
    arrivals: HourlySeries, capacity: float, stay_hours: float, timezone: str = VALLEY_TIMEZONE
) -> dict[str, float]:
    """Plain KPIs of one run (for ``montecarlo.replicate``): totals, peaks, hours over capacity."""
    found = peaks(arrivals, timezone)
    present = occupancy(arrivals, stay_hours)
    return {
        "visitors": found.total,
        "peak_hour_visitors": found.peak_hour_value,
        "peak_day_visitors": found.peak_day_value,
        "p95_hour_visitors": found.p95_per_hour,
        "peak_present": float(present.values.max()),
        "hours_over_capacity": float(hours_over_capacity(present, capacity)),
    }


# --- Trails ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailLeg:
    """Visitors of ``origin`` going on to ``destination`` with ``probability``, after a delay.

    ``delay_hours`` is whole hours, or a distribution {hours: probability}.
    """

    origin: str
    destination: str
    probability: float
    delay_hours: int | Mapping[int, float] = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"leg {self.origin}→{self.destination}: probability must be in [0, 1]")
        delays = (
            {self.delay_hours: 1.0} if isinstance(self.delay_hours, int) else dict(self.delay_hours)
        )
        if any(hours < 0 for hours in delays) or any(p < 0 for p in delays.values()) or not delays:
            raise ValueError(
                f"leg {self.origin}→{self.destination}: delays must be whole hours ≥ 0"
            )
        total = sum(delays.values())
        if not math.isclose(total, 1.0, rel_tol=1e-9):
            raise ValueError(
                f"leg {self.origin}→{self.destination}: delay probabilities sum to {total}"
            )
        object.__setattr__(self, "delay_hours", tuple(sorted(delays.items())))

    @property
    def delays(self) -> tuple[tuple[int, float], ...]:
        """(hours, probability) pairs."""
        return self.delay_hours  # type: ignore[return-value]


@dataclass(frozen=True)
class TrailVisits:
    """Visits per site along a trail: its own arrivals plus those coming from earlier sites."""

    visits: dict[str, HourlySeries]
    transfers: dict[tuple[str, str], float]  # visitors sent along each leg (beyond the horizon too)
    beyond_horizon: float

    def totals(self) -> dict[str, float]:
        """Visits per site over the horizon."""
        return {site: series.total() for site, series in self.visits.items()}


def _trail_order(sites: Iterable[str], legs: Sequence[TrailLeg]) -> list[str]:
    incoming: dict[str, int] = {site: 0 for site in sites}
    for leg in legs:
        incoming[leg.destination] += 1
    ready = sorted(site for site, number in incoming.items() if number == 0)
    order = []
    while ready:
        site = ready.pop(0)
        order.append(site)
        for leg in legs:
            if leg.origin == site:
                incoming[leg.destination] -= 1
                if incoming[leg.destination] == 0:
                    ready.append(leg.destination)
    if len(order) != len(incoming):
        raise ValueError("a trail cannot loop back to a site already visited")
    return order


def trail_visits(
    arrivals: Mapping[str, HourlySeries], legs: Sequence[TrailLeg], seed: int | None = None
) -> TrailVisits:
    """Visits along a trail of sites, expected (``seed`` None) or sampled.

    Sites are taken in trail order, so a visitor who came from an earlier site may go on
    again. Legs from one site split its visitors (their probabilities may not exceed 1 in
    total). Sampled, each visitor goes on independently (binomial/multinomial draws) and the
    arrival series must hold whole visitors. Visitors arriving after the horizon are counted in
    ``beyond_horizon``.
    """
    if not arrivals:
        raise ValueError("a trail needs the arrivals of at least one site")
    reference = next(iter(arrivals.values()))
    if any(s.start != reference.start or s.hours != reference.hours for s in arrivals.values()):
        raise ValueError("all sites' arrivals must cover the same hours")
    sites = set(arrivals) | {leg.origin for leg in legs} | {leg.destination for leg in legs}
    order = _trail_order(sites, legs)
    rng = None if seed is None else np.random.default_rng(seed)
    dtype = float if rng is None else np.int64
    hours = reference.hours
    visits = {site: np.zeros(hours, dtype=dtype) for site in sites}
    for site, series in arrivals.items():
        if rng is not None and not np.array_equal(series.values, np.rint(series.values)):
            raise ValueError(f"sampling a trail needs whole visitors at {site}")
        visits[site] += np.asarray(series.values).astype(dtype)
    transfers: dict[tuple[str, str], float] = {}
    beyond = 0.0
    for site in order:
        outgoing = [leg for leg in legs if leg.origin == site]
        if not outgoing:
            continue
        shares = [leg.probability for leg in outgoing]
        if sum(shares) > 1.0 + 1e-12:
            raise ValueError(f"legs from {site} send more than all its visitors on")
        moved: list[np.ndarray]
        if rng is None:
            moved = [visits[site] * share for share in shares]
        else:
            split = rng.multinomial(visits[site], shares + [max(0.0, 1.0 - sum(shares))])
            moved = [split[:, index] for index in range(len(outgoing))]
        for leg, going in zip(outgoing, moved, strict=True):
            delays = [hours_ for hours_, _ in leg.delays]
            weights = [weight for _, weight in leg.delays]
            parts: list[np.ndarray]
            if rng is None:
                parts = [going * weight for weight in weights]
            else:
                drawn = rng.multinomial(np.asarray(going, dtype=np.int64), weights)
                parts = [drawn[:, index] for index in range(len(delays))]
            for delay, part in zip(delays, parts, strict=True):
                if delay < hours:
                    visits[leg.destination][delay:] += part[: hours - delay]
                beyond += float(part[max(0, hours - delay) :].sum())
            transfers[(leg.origin, leg.destination)] = float(going.sum())
    return TrailVisits(
        {site: HourlySeries(reference.start, visits[site], "visitors") for site in sorted(sites)},
        transfers,
        beyond,
    )
