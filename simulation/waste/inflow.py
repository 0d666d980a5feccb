"""Counterfactual inflow: what the world put into each container, whatever we collected.

Between two fill measurements of a container, the waste thrown in is the rise of the level,
corrected for the emptyings recorded between them: after an emptying the level restarts from
about zero, and the level just before it is the emptied mass over the stream's loose density.
A drop of level with no emptying between is sensor noise or settling: it counts as zero inflow
and is counted. A reading at 100 % is a lower bound (the container may have overflowed) and is
counted as censored. Each stretch's litres are spread evenly over the hours it spans, giving
litres per day per container on a UTC day grid.

``catchment_inflow`` gives a valley with no past (the seeded inventory) each container's own
expected inflow from the households it serves (``CATCHMENT_CV``, ``TOURIST_SEASON_FACTOR``).

Not responsible for fitting models to the result (``simulation.waste.fitting``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from simulation.parameters.waste import density_kg_per_l

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from uuid import UUID

    from simulation.waste.history import BinRecord, History

_DAY = timedelta(days=1)
FULL_PERCENT = 99.5


@dataclass(frozen=True)
class Inflow:
    """Litres per day thrown into each container, per UTC day from ``start`` (NaN: not observed)."""

    start: datetime
    bin_ids: tuple[UUID, ...]
    codes: tuple[str, ...]
    litres_per_day: np.ndarray
    """Shape (bins, days)."""
    coverage: np.ndarray
    """Share of each day covered by observed stretches, shape (bins, days)."""
    noise_drops: np.ndarray
    """Per container: drops of level without an emptying, clamped to zero."""
    censored: np.ndarray
    """Per container: stretches ending on a full reading (inflow is a lower bound)."""
    alive: np.ndarray | None = None
    """Whether each container stood on each day (installed, not yet removed), shape (bins, days)."""

    @property
    def days(self) -> int:
        """Number of days on the grid."""
        return int(self.litres_per_day.shape[1])

    def filled(self) -> np.ndarray:
        """The inflow with unobserved days set to the container's own mean (0 if never observed).

        Days on which the container did not stand (before its installation, after its removal)
        are 0, whatever its mean.
        """
        out = self.litres_per_day.copy()
        with np.errstate(invalid="ignore"):
            observed = ~np.isnan(out)
            counts = observed.sum(axis=1)
            means = np.where(counts > 0, np.nansum(out, axis=1) / np.maximum(counts, 1), 0.0)
        rows, cols = np.nonzero(~observed)
        out[rows, cols] = means[rows]
        if self.alive is not None:
            out[~self.alive] = 0.0  # nothing is thrown into a container before or after it stood
        return out


def derive_inflow(history: History, start: datetime, days: int, *, use_mass: bool = True) -> Inflow:
    """Each container's inflow in litres per day over ``days`` UTC days from ``start``.

    With ``use_mass``, the stretch before an emptying is recovered from the emptied mass
    (mass / loose density − last level); without it that stretch is left unobserved.
    """
    records = history.records()
    n = len(records)
    litres = np.zeros((n, days))
    hours = np.zeros((n, days))
    drops = np.zeros(n, dtype=int)
    censored = np.zeros(n, dtype=int)
    for i, record in enumerate(records):
        for a, b, volume, full in _stretches(record, use_mass):
            if volume < 0:
                drops[i] += 1
                volume = 0.0
            censored[i] += full
            _spread(litres[i], hours[i], start, a, b, volume)
    coverage = hours / 24.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(coverage > 0, litres / coverage, np.nan)
    day_starts = [start + day * _DAY for day in range(days)]
    alive = np.array(
        [
            [
                r.installed_at < day + _DAY and (r.removed_at is None or r.removed_at > day)
                for day in day_starts
            ]
            for r in records
        ],
        dtype=bool,
    ).reshape(n, days)
    return Inflow(
        start,
        tuple(r.bin_id for r in records),
        tuple(r.code for r in records),
        rate,
        coverage,
        drops,
        censored,
        alive,
    )


def _stretches(record: BinRecord, use_mass: bool) -> list[tuple[datetime, datetime, float, bool]]:
    """(from, to, litres thrown in, ends full) for each observed stretch of one container."""
    capacity = float(record.capacity_l)
    density = density_kg_per_l(record.stream)
    # Emptyings sort before readings at the same instant: a reading then sees the emptied bin.
    timeline = sorted(
        [(t, 0, mass) for t, _round, mass in record.emptyings]
        + [(t, 1, pct) for t, pct in record.fills],
        key=lambda item: (item[0], item[1]),
    )
    out: list[tuple[datetime, datetime, float, bool]] = []
    last_time: datetime | None = None
    last_level: float | None = None  # litres at last_time, None when unknown
    for when, kind, value in timeline:
        if kind == 0:  # emptied
            if last_time is not None and last_level is not None and use_mass and when > last_time:
                before = min(value / density, capacity)
                out.append(
                    (last_time, when, before - last_level, before >= capacity * FULL_PERCENT / 100)
                )
            last_time, last_level = when, 0.0
            continue
        level = capacity * value / 100.0
        if last_time is not None and last_level is not None and when > last_time:
            out.append((last_time, when, level - last_level, value >= FULL_PERCENT))
        last_time, last_level = when, level
    return out


def _spread(
    litres: np.ndarray, hours: np.ndarray, start: datetime, a: datetime, b: datetime, volume: float
) -> None:
    """Add ``volume`` thrown in evenly over [a, b] to the day bins it overlaps."""
    span = (b - a).total_seconds() / 3600.0
    if span <= 0:
        return
    first = int((a - start) // _DAY)
    last = int((b - start) // _DAY)
    for day in range(max(first, 0), min(last, litres.shape[0] - 1) + 1):
        day_start = start + day * _DAY
        lo = max(a, day_start)
        hi = min(b, day_start + _DAY)
        overlap = (hi - lo).total_seconds() / 3600.0
        if overlap > 0:
            litres[day] += volume * overlap / span
            hours[day] += overlap


# --- a container's own expected inflow, from its catchment (a valley with no past) ----------

CATCHMENT_CV = 0.5
"""Assumed spread of the households a container serves around its commune's share.

A container of a stream serves, on average, its commune's population divided by the
commune's containers of that stream; each one's actual catchment is that share times a gamma
multiplier of mean 1 and this coefficient of variation (a column at the church square serves
more people than one at the edge of the village). Field reports show the spread is wide: a
rural Spanish service found most of its bins collected at under half full with one calendar,
and the Derby and Helsingborg gains come from that spread. 0.5 puts one container in ten
above 1.7 × its share and one in ten below 0.4 ×: an assumption, since the valley's own
container-level data is not in our sources.
"""
TOURIST_RADIUS_M = 2000.0
"""Containers this close (straight line) to a remarkable site also take its visitors' waste.

Wide, because the inventory places a commune's containers around its centre to a kilometre
or two rather than along the village's streets: 2 km takes Saint-Guilhem-le-Désert's
containers and a few of Saint-Jean-de-Fos's (the grotte de Clamouse), Aniane's nearest the
Pont du Diable."""
TOURIST_SEASON_FACTOR = (1.0, 1.3, 2.0, 1.2)
"""Assumed multipliers of a tourist container's inflow in winter, spring, summer and autumn.

Saint-Guilhem-le-Désert, the Pont du Diable and the grotte de Clamouse draw most of their
visitors from May to September (the footfall model's published July peak): the containers
near them fill about twice as fast in summer as in winter. Other containers have flat
season factors.
"""


@dataclass(frozen=True)
class Catchments:
    """Each container's expected inflow from its catchment, in the order of ``codes``."""

    codes: tuple[str, ...]
    inhabitants: np.ndarray
    """Inhabitants each container serves (its commune's share times its multiplier)."""
    multiplier: np.ndarray
    """The gamma multiplier drawn for each container (mean 1 within its stream and commune)."""
    litres_per_day: np.ndarray
    """Expected litres per day, outside any season effect."""
    season: np.ndarray
    """Season factors (winter, spring, summer, autumn), shape (bins, 4): 1 except tourist sites."""
    tourist: np.ndarray
    """Whether each container stands near a remarkable site."""


def catchment_inflow(
    codes: Sequence[str],
    streams: Sequence[str],
    communes: Sequence[str],
    x: np.ndarray,
    y: np.ndarray,
    *,
    population: Mapping[str, float],
    litres_per_inhabitant_day: Mapping[str, float],
    seed: int,
    cv: float = CATCHMENT_CV,
    sites: Sequence[tuple[float, float]] = (),
) -> Catchments:
    """Each container's own expected inflow, drawn around its commune's share (seeded).

    ``inhabitants_i = population[commune] / n(stream, commune) × g_i`` with ``g_i`` a gamma
    multiplier of mean 1 and coefficient of variation ``cv``, renormalised to mean 1 over the
    containers of the same stream and commune (the commune throws away what it does, however
    it is shared out; a lone container serves the whole commune). ``g_i`` is drawn from a
    generator seeded by ``seed`` and the container's code, so a container keeps its draw
    whichever others are listed. ``litres_per_day = inhabitants × litres_per_inhabitant_day``
    of its stream; a container within ``TOURIST_RADIUS_M`` of one of ``sites`` (Lambert-93
    points) gets ``TOURIST_SEASON_FACTOR`` as its season factors. ``cv = 0`` gives every
    container of a stream and commune the same share.
    """
    n = len(codes)
    if cv < 0:
        raise ValueError(f"cv must be >= 0, got {cv}")
    draws = np.ones(n)
    if cv > 0:
        shape = 1.0 / cv**2
        for i, code in enumerate(codes):
            rng = np.random.default_rng([seed, zlib.crc32(code.encode())])
            draws[i] = rng.gamma(shape, 1.0 / shape)
    keys = np.asarray([f"{s}\x00{c}" for s, c in zip(streams, communes, strict=True)])
    _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
    group_mean = np.bincount(group, weights=draws) / counts
    multiplier = draws / group_mean[group]
    share = np.array([float(population[c]) for c in communes]) / counts[group]
    inhabitants = share * multiplier
    per_head = np.array([float(litres_per_inhabitant_day[s]) for s in streams])
    tourist = np.zeros(n, dtype=bool)
    for sx, sy in sites:
        tourist |= np.hypot(np.asarray(x) - sx, np.asarray(y) - sy) <= TOURIST_RADIUS_M
    season = np.ones((n, 4))
    season[tourist] = TOURIST_SEASON_FACTOR
    return Catchments(
        tuple(codes), inhabitants, multiplier, inhabitants * per_head, season, tourist
    )
