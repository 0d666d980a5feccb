"""A public service as a queue: desks or places, Poisson arrivals, service or stay times.

One SimPy model serves both ends of the valley's services: a drop-off centre whose cars
unload in minutes and a crèche whose children keep a place for years. ``c`` desks (or places)
are a ``simpy.Resource``; arrivals are Poisson; service (or stay) times are exponential, fixed
or resampled from observed ones; the waiting list may be capped, and an arrival finding it full
is turned away. A run reports waiting times (mean, 95th percentile, share who waited), the mean
waiting-list length, utilisation and the waiting list over time. The Erlang formulas are here
too, for sizing and for validating the simulation against them.

Time is in hours throughout (``env.now`` is hours, as everywhere in the engine). Not
responsible for who gets a place first beyond first come, first served, nor for opening hours.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import simpy

from domain import Service
from simulation.montecarlo import Estimate, replicate
from simulation.parameters.services import (
    CHILDCARE,
    DROP_OFF_CENTRE,
    HOURS_PER_YEAR,
    ChildcareDefaults,
    DropOffCentreDefaults,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable
    from datetime import datetime

# --- Service times ---------------------------------------------------------------------------


class ServiceTime(Protocol):
    """A distribution of service or stay times, in hours."""

    @property
    def mean_hours(self) -> float:
        """Mean service time in hours."""
        ...

    def sample(self, rng: np.random.Generator) -> float:
        """One service time in hours."""
        ...


@dataclass(frozen=True)
class Exponential:
    """Exponential service times with the given mean (the M in M/M/c)."""

    mean_hours: float

    def __post_init__(self) -> None:
        if not self.mean_hours > 0:
            raise ValueError(f"mean service time must be positive, not {self.mean_hours}")

    def sample(self, rng: np.random.Generator) -> float:
        """One exponential draw."""
        return float(rng.exponential(self.mean_hours))


@dataclass(frozen=True)
class Fixed:
    """Every service takes the same time."""

    hours: float

    def __post_init__(self) -> None:
        if not self.hours >= 0:
            raise ValueError(f"service time must be non-negative, not {self.hours}")

    @property
    def mean_hours(self) -> float:
        """The fixed time."""
        return self.hours

    def sample(self, rng: np.random.Generator) -> float:
        """The fixed time (the generator is not used)."""
        return self.hours


@dataclass(frozen=True)
class Empirical:
    """Service times resampled, with replacement, from observed ones."""

    observed_hours: tuple[float, ...]

    def __post_init__(self) -> None:
        values = tuple(float(value) for value in self.observed_hours)
        if not values or min(values) < 0:
            raise ValueError("empirical service times need at least one non-negative value")
        object.__setattr__(self, "observed_hours", values)

    @property
    def mean_hours(self) -> float:
        """Mean of the observed times."""
        return float(np.mean(self.observed_hours))

    def sample(self, rng: np.random.Generator) -> float:
        """One of the observed times, uniformly."""
        return self.observed_hours[int(rng.integers(len(self.observed_hours)))]


# --- The model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceModel:
    """A queue to simulate: ``servers`` desks or places fed by Poisson arrivals.

    Arrivals come during ``horizon_hours``; statistics cover those after ``warmup_hours`` (the
    system starts empty), and the run goes on until everyone who came has been served, so
    every waiting time is complete. ``waiting_list_limit`` caps the number waiting (``None``:
    no cap; 0: no waiting at all, as in Erlang's loss system). The waiting list is sampled
    every ``sample_every_hours``.
    """

    name: str
    servers: int
    arrivals_per_hour: float
    service: ServiceTime
    horizon_hours: float
    warmup_hours: float = 0.0
    waiting_list_limit: int | None = None
    sample_every_hours: float = 1.0

    def __post_init__(self) -> None:
        if self.servers < 1:
            raise ValueError(f"{self.name}: needs at least one desk or place, not {self.servers}")
        if not self.arrivals_per_hour > 0:
            raise ValueError(
                f"{self.name}: arrival rate must be positive, not {self.arrivals_per_hour}"
            )
        if not 0 <= self.warmup_hours < self.horizon_hours:
            raise ValueError(f"{self.name}: warm-up must be within the horizon")
        if self.waiting_list_limit is not None and self.waiting_list_limit < 0:
            raise ValueError(f"{self.name}: waiting-list limit must be ≥ 0")
        if not self.sample_every_hours > 0:
            raise ValueError(f"{self.name}: sampling step must be positive")

    @property
    def offered_load(self) -> float:
        """Arrival rate × mean service time (erlangs)."""
        return self.arrivals_per_hour * self.service.mean_hours


@dataclass(frozen=True)
class ServiceRun:
    """What one seeded run of a ``ServiceModel`` gave.

    Waits are of the arrivals after the warm-up (``arrivals`` of them, ``turned_away``
    included); time averages (waiting-list length, utilisation) and the longest waiting list
    are over warm-up to horizon. ``waiting_list`` holds (hours, clients waiting) every
    ``sample_every_hours`` from the start.
    """

    name: str
    seed: int
    arrivals: int
    served: int
    turned_away: int
    mean_wait_hours: float
    p95_wait_hours: float
    max_wait_hours: float
    share_waited: float
    mean_waiting_list: float
    utilisation: float
    max_waiting_list: int
    waiting_list: tuple[tuple[float, int], ...] = field(repr=False)

    @property
    def turned_away_share(self) -> float:
        """Share of arrivals turned away by a full waiting list."""
        return self.turned_away / self.arrivals if self.arrivals else 0.0

    def kpis(self) -> dict[str, float]:
        """Plain KPIs, for ``montecarlo.replicate``."""
        return {
            "arrivals": float(self.arrivals),
            "served": float(self.served),
            "turned_away_share": self.turned_away_share,
            "mean_wait_hours": self.mean_wait_hours,
            "p95_wait_hours": self.p95_wait_hours,
            "share_waited": self.share_waited,
            "mean_waiting_list": self.mean_waiting_list,
            "max_waiting_list": float(self.max_waiting_list),
            "utilisation": self.utilisation,
        }


def _overlap(start: np.ndarray, end: np.ndarray, low: float, high: float) -> float:
    return float(np.clip(np.minimum(end, high) - np.maximum(start, low), 0, None).sum())


def _longest_waiting_list(arrived: np.ndarray, started: np.ndarray, low: float, high: float) -> int:
    """Most clients waiting at once between ``low`` and ``high`` (exact, not sampled)."""
    waited = started > arrived
    moments = np.concatenate([arrived[waited], started[waited]])
    steps = np.concatenate([np.ones(waited.sum()), -np.ones(waited.sum())])
    order = np.lexsort((steps, moments))  # at equal times, a start before an arrival
    moments, levels = moments[order], np.cumsum(steps[order])
    before = levels[moments < low]
    inside = levels[(moments >= low) & (moments <= high)]
    return int(max(before[-1] if before.size else 0, inside.max(initial=0)))


def run_service(model: ServiceModel, seed: int) -> ServiceRun:
    """Simulate ``model`` once with ``seed``; same seed, same numbers."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    desks = simpy.Resource(env, capacity=model.servers)
    records: list[list[float]] = []  # arrival, start of service, end of service
    turned_away: list[float] = []
    samples: list[tuple[float, int]] = []

    def client(record: list[float], duration: float) -> Generator[simpy.Event, Any, None]:
        with desks.request() as request:
            yield request
            record[1] = env.now
            yield env.timeout(duration)
            record[2] = env.now

    def arrivals() -> Generator[simpy.Event, Any, None]:
        while True:
            # Both draws are made at each arrival, so a seed fixes the whole sequence.
            gap, duration = rng.exponential(1 / model.arrivals_per_hour), model.service.sample(rng)
            yield env.timeout(gap)
            if env.now >= model.horizon_hours:
                return
            full = desks.count >= model.servers and (
                model.waiting_list_limit is not None
                and len(desks.queue) >= model.waiting_list_limit
            )
            if full:
                turned_away.append(env.now)
                continue
            record = [env.now, math.nan, math.nan]
            records.append(record)
            env.process(client(record, duration))

    def monitor() -> Generator[simpy.Event, Any, None]:
        while env.now <= model.horizon_hours:
            samples.append((env.now, len(desks.queue)))
            yield env.timeout(model.sample_every_hours)

    env.process(arrivals())
    env.process(monitor())
    env.run()

    table = np.array(records, dtype=float).reshape(-1, 3)
    arrived, started, ended = table[:, 0], table[:, 1], table[:, 2]
    low, high = model.warmup_hours, model.horizon_hours
    counted = arrived >= low
    waits = (started - arrived)[counted]
    away = sum(1 for moment in turned_away if moment >= low)
    span = high - low
    return ServiceRun(
        name=model.name,
        seed=seed,
        arrivals=int(counted.sum()) + away,
        served=int(counted.sum()),
        turned_away=away,
        mean_wait_hours=float(waits.mean()) if waits.size else 0.0,
        p95_wait_hours=float(np.percentile(waits, 95)) if waits.size else 0.0,
        max_wait_hours=float(waits.max()) if waits.size else 0.0,
        share_waited=float((waits > 0).mean()) if waits.size else 0.0,
        mean_waiting_list=_overlap(arrived, started, low, high) / span,
        utilisation=_overlap(started, ended, low, high) / (span * model.servers),
        max_waiting_list=_longest_waiting_list(arrived, started, low, high),
        waiting_list=tuple(samples),
    )


def replicate_service(model: ServiceModel, seed: int, replications: int) -> dict[str, Estimate]:
    """Every KPI of ``model`` as a mean with its 95 % confidence interval over replications."""
    return replicate(lambda child: run_service(model, child).kpis(), seed, replications)


# --- Analytic results ------------------------------------------------------------------------


@dataclass(frozen=True)
class ErlangC:
    """Steady-state M/M/c results: P(wait > 0), mean wait, mean number waiting, utilisation."""

    p_wait: float
    mean_wait_hours: float
    mean_waiting: float
    utilisation: float


def erlang_c(servers: int, arrivals_per_hour: float, mean_service_hours: float) -> ErlangC:
    """Erlang C for ``servers`` desks, Poisson arrivals and exponential service (needs load < c)."""
    load = arrivals_per_hour * mean_service_hours
    if not load < servers:
        raise ValueError(f"an M/M/{servers} queue with load {load} has no steady state")
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    p_wait = top / (sum(load**k / math.factorial(k) for k in range(servers)) + top)
    mean_wait = p_wait * mean_service_hours / (servers - load)
    return ErlangC(p_wait, mean_wait, arrivals_per_hour * mean_wait, load / servers)


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang B: share of arrivals lost when ``servers`` are busy and nobody may wait."""
    blocked = 1.0
    for k in range(1, servers + 1):
        blocked = offered_load * blocked / (k + offered_load * blocked)
    return blocked


# --- The valley's two services ---------------------------------------------------------------


def childcare_places(
    defaults: ChildcareDefaults = CHILDCARE, horizon_years: float = 30.0, warmup_years: float = 10.0
) -> ServiceModel:
    """A crèche: places held for years, requests a few per month, the waiting list sampled daily."""
    return ServiceModel(
        name="childcare",
        servers=defaults.places,
        arrivals_per_hour=defaults.requests_per_year / HOURS_PER_YEAR,
        service=Exponential(defaults.mean_stay_years * HOURS_PER_YEAR),
        horizon_hours=horizon_years * HOURS_PER_YEAR,
        warmup_hours=warmup_years * HOURS_PER_YEAR,
        waiting_list_limit=defaults.waiting_list_limit,
        sample_every_hours=24.0,
    )


def drop_off_centre(
    defaults: DropOffCentreDefaults = DROP_OFF_CENTRE,
    horizon_hours: float = 500.0,
    warmup_hours: float = 2.0,
) -> ServiceModel:
    """A drop-off centre at its busy hour: cars unloading in minutes at a few bays."""
    return ServiceModel(
        name="drop_off_centre",
        servers=defaults.bays,
        arrivals_per_hour=defaults.arrivals_per_hour,
        service=Exponential(defaults.mean_unload_minutes / 60),
        horizon_hours=horizon_hours,
        warmup_hours=warmup_hours,
        waiting_list_limit=defaults.waiting_list_limit,
        sample_every_hours=0.25,
    )


# --- What the log says -----------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceObservation:
    """A service's recorded requests, waits (request → grant) and stays (grant → release)."""

    code: str
    capacity: int
    requests: tuple[datetime, ...]
    waits_hours: tuple[float, ...]
    stays_hours: tuple[float, ...]
    waiting_now: int

    @property
    def requests_per_hour(self) -> float:
        """Requests per hour between the first and the last request."""
        if len(self.requests) < 2:
            raise ValueError(f"{self.code}: at least two requests are needed for a rate")
        return (len(self.requests) - 1) / (
            (self.requests[-1] - self.requests[0]).total_seconds() / 3600
        )

    def model(
        self,
        horizon_hours: float,
        warmup_hours: float = 0.0,
        resample_stays: bool = False,
        sample_every_hours: float = 24.0,
    ) -> ServiceModel:
        """A model with the recorded capacity, request rate and stays (exponential or resampled)."""
        if not self.stays_hours:
            raise ValueError(f"{self.code}: no completed stay is recorded")
        stays = (
            Empirical(self.stays_hours)
            if resample_stays
            else Exponential(float(np.mean(self.stays_hours)))
        )
        return ServiceModel(
            self.code,
            self.capacity,
            self.requests_per_hour,
            stays,
            horizon_hours,
            warmup_hours,
            None,
            sample_every_hours,
        )


def observed_services(events: Iterable[object]) -> dict[str, ServiceObservation]:
    """What each service's events say about its queue; other events are skipped."""
    codes: dict[object, str] = {}
    capacity: dict[object, int] = {}
    requested: dict[object, dict[str, datetime]] = defaultdict(dict)
    granted: dict[object, dict[str, datetime]] = defaultdict(dict)
    requests: dict[object, list[datetime]] = defaultdict(list)
    waits: dict[object, list[float]] = defaultdict(list)
    stays: dict[object, list[float]] = defaultdict(list)
    for event in events:
        service = getattr(event, "originator_id", None)
        if isinstance(event, Service.Opened):
            codes[service], capacity[service] = event.code, event.capacity
        elif isinstance(event, Service.CapacityChanged):
            capacity[service] = event.capacity
        elif isinstance(event, Service.PlaceRequested):
            requested[service][event.request_ref] = event.timestamp
            requests[service].append(event.timestamp)
        elif isinstance(event, Service.PlaceGranted):
            asked = requested[service].pop(event.request_ref)
            waits[service].append((event.timestamp - asked).total_seconds() / 3600)
            granted[service][event.request_ref] = event.timestamp
        elif isinstance(event, Service.PlaceReleased):
            since = granted[service].pop(event.request_ref)
            stays[service].append((event.timestamp - since).total_seconds() / 3600)
    found = {
        codes.get(service, str(service)): ServiceObservation(
            code=codes.get(service, str(service)),
            capacity=capacity.get(service, 0),
            requests=tuple(requests[service]),
            waits_hours=tuple(waits[service]),
            stays_hours=tuple(stays[service]),
            waiting_now=len(requested[service]),
        )
        for service in set(codes) | set(requests)
    }
    return dict(sorted(found.items()))
