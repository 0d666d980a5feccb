"""Arrival order does not matter: a bin's and a beacon's history recorded in world-time order
in one twin and shuffled (installation still first) in another give the same state as of
every instant, the same read models and the same overflow counts everywhere they are counted.

What may differ between the two is bookkeeping no user reads as a value: the aggregate's
version as of an instant (the shuffled twin folds its facts, so its version is that of the
last fact it folded, not a count) and the sum of masses in its last bits (float addition in
another order).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import Beacon, Bin, Position
from simulation.waste import lateness_needed, replay
from tests.conftest import T0
from tests.twin.test_projections_runs import dump
from twin import ValleyTwin, open_twin
from twin.analysis import time_series
from twin.asof import valley_as_of
from twin.projections import catch_up
from twin.projections.assets import ASSET_STATE
from twin.storage import drop_memory_store

HERE = Position(752_000.0, 6_283_000.0)
SENSOR = "A84041000181C9B2"
DAY = T0 + timedelta(days=1)
VIEWS = (
    "asset_state",
    "bin_overflow_marks",
    "bin_fill_hourly",
    "footfall_hourly",
    "footfall_scanner_hourly",
)
Command = Callable[[ValleyTwin], None]


def seen(aggregate: Any) -> dict[str, Any]:
    """Everything the user sees of an aggregate, and the derived state later facts are checked
    against, without the version (see the module)."""
    state = aggregate.as_dict()
    del state["version"]
    if "emptied_mass_kg" in state:
        state["emptied_mass_kg"] = round(state["emptied_mass_kg"], 6)
    for derived in ("_emptyings", "_overflow_signs", "_counted_spans", "_zone_since"):
        if derived in vars(aggregate):
            state[derived] = vars(aggregate)[derived]
    return state


def rows(twin: ValleyTwin) -> dict[str, list[tuple[Any, ...]]]:
    """The views a bin's or a beacon's facts feed, floats to the micro-unit (sums in another
    order) and without the row's version (the views count events: equal, but see ``seen``)."""
    tables = dump(twin)
    return {
        name: [
            tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in tables[name]
        ]
        for name in VIEWS
    }


@contextmanager
def recorded(
    install: Callable[[], Any], commands: list[Command], catch_up_every: int = 0
) -> Iterator[ValleyTwin]:
    """A fresh in-memory twin with the asset installed, then the commands in the given order
    (the views caught up every ``catch_up_every`` commands, and at the end)."""
    name = f"order-{uuid.uuid4().hex}"
    twin = open_twin(f"memory://{name}")
    try:
        twin.add(install())
        for number, command in enumerate(commands, start=1):
            command(twin)
            if catch_up_every and number % catch_up_every == 0:
                catch_up(twin, page_size=3)
        catch_up(twin, page_size=3)
        yield twin
    finally:
        twin.close()
        drop_memory_store(name)


def same_states_as_of(
    ordered: ValleyTwin,
    shuffled: ValleyTwin,
    kind: str,
    aggregate_id: uuid.UUID,
    instants: list[datetime],
) -> None:
    for instant in sorted(set(instants)):
        expected = ordered.state_at(aggregate_id, instant)
        found = shuffled.state_at(aggregate_id, instant)
        assert (expected is None) == (found is None), instant
        if expected is not None:
            assert seen(found) == seen(expected), instant
    for instant in sorted(set(instants))[::4]:
        (by_fold,) = valley_as_of(shuffled, instant, kinds=kind) or (None,)
        state = shuffled.state_at(aggregate_id, instant)
        if state is None:
            assert by_fold is None
        else:
            assert seen(by_fold.aggregate) == seen(state), instant


# ---- a bin ---------------------------------------------------------------------------------
BinFact = tuple[str, int, float]  # kind, half hours after the first day began, value


def new_bin() -> Bin:
    bin_ = Bin.install(
        code="B-ORDER", stream="glass", capacity_l=3000, position=HERE, commune_insee="34114", at=T0
    )
    bin_.attach_sensor(SENSOR, T0)
    return bin_


def bin_command(fact: BinFact) -> Command:
    kind, half_hours, value = fact
    at = DAY + timedelta(minutes=30 * half_hours)
    if kind == "fill":
        return lambda twin: twin.measure_fill_level("B-ORDER", value, at)
    if kind == "emptied":
        return lambda twin: twin.empty_bin("B-ORDER", f"R-{half_hours}", value, at)
    if kind == "overflow":
        return lambda twin: twin.change(Bin, "B-ORDER", lambda b: b.report_overflow("citizen", at))
    if kind == "battery":
        return lambda twin: twin.change(
            Bin, "B-ORDER", lambda b: b.report_sensor_battery(value, at)
        )
    return lambda twin: twin.change(
        Bin, "B-ORDER", lambda b: b.report_sensor_fault(f"fault {value:.0f}", at)
    )


bin_facts = st.lists(
    st.tuples(
        st.sampled_from(["fill", "fill", "emptied", "overflow", "battery", "fault"]),
        st.integers(min_value=0, max_value=30),  # few instants: signs and lifts often coincide
        st.one_of(st.just(100.0), st.floats(0, 100, allow_nan=False).map(lambda v: round(v, 1))),
    ),
    min_size=1,
    max_size=18,
    # Two readings (or battery levels, or faults) of one instant would leave the newest value
    # to the arrival order: a sensor sends one. A lift and a reading may share an instant.
    unique_by=lambda fact: (fact[0], fact[1]),
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bin_facts, st.randoms(use_true_random=False), st.integers(min_value=0, max_value=4))
def test_a_bin_is_the_same_whatever_order_its_facts_arrive_in(
    facts: list[BinFact], shuffler: random.Random, catch_up_every: int
) -> None:
    in_time_order = sorted(facts, key=lambda fact: (fact[1], fact[0] == "emptied"))
    arrival = list(facts)
    shuffler.shuffle(arrival)
    with (
        recorded(new_bin, [bin_command(f) for f in in_time_order]) as ordered,
        recorded(new_bin, [bin_command(f) for f in arrival], catch_up_every) as shuffled,
    ):
        bin_id = Bin.id_for("B-ORDER")
        now = shuffled.get(Bin, "B-ORDER")
        assert seen(now) == seen(ordered.get(Bin, "B-ORDER"))
        instants = [DAY + timedelta(minutes=30 * n) for _, n, _ in facts]
        instants += [at + timedelta(minutes=10) for at in instants]
        instants += [T0 - timedelta(days=1), T0, DAY + timedelta(days=30)]
        same_states_as_of(ordered, shuffled, "bin", bin_id, instants)
        # The views, kept page by page while the facts came in, agree with the aggregate.
        assert rows(shuffled) == rows(ordered)
        (row,) = [r for r in dump(shuffled)["asset_state"] if r[2] == "B-ORDER"]
        view = dict(zip(ASSET_STATE.names, row, strict=True))
        assert (view["overflow_count"], view["overflowing_since"]) == (
            now.overflow_count,
            None if now.overflowing_since() is None else now.overflowing_since().isoformat(),
        )
        # Every other count of overflows: the replay, the analysts' series.
        episodes = now.overflow_count
        log = list(shuffled.domain_events())
        replayed = replay(log, lateness=lateness_needed(log)).totals()
        assert replayed["overflow_events"] == episodes
        series = time_series(shuffled, "B-ORDER", None, None, field="overflows")
        assert len(series) == episodes
        assert series["time"].tolist() == [e.began for e in now.overflow_episodes()]


# ---- a beacon ------------------------------------------------------------------------------
BeaconFact = tuple[str, datetime, datetime, int]  # kind, start (or instant), end, value


def new_beacon() -> Beacon:
    return Beacon.install(
        code="BLE-ORDER", zone_code="ZAE-CAMALCE", position=HERE, commune_insee="34114", at=T0
    )


def beacon_command(fact: BeaconFact) -> Command:
    kind, start, end, value = fact
    if kind == "count":
        return lambda twin: twin.count_footfall("BLE-ORDER", start, end, value)
    return lambda twin: twin.change(Beacon, "BLE-ORDER", lambda b: b.report_battery(value, start))


@st.composite
def beacon_facts(draw: st.DrawFn) -> list[BeaconFact]:
    """Counts over disjoint intervals (touching or with gaps, some gaps left open), and
    battery levels at distinct instants."""
    cuts = sorted(draw(st.sets(st.integers(0, 200), min_size=2, max_size=16)))
    facts: list[BeaconFact] = []
    for low, high in zip(cuts, cuts[1:], strict=False):
        if draw(st.booleans()) or high - low > 96:  # a gap: a gateway was down, or too long
            continue
        start, end = DAY + timedelta(minutes=15 * low), DAY + timedelta(minutes=15 * high)
        facts.append(("count", start, end, draw(st.integers(0, 500))))
    for quarter in draw(st.sets(st.integers(0, 200), max_size=4)):
        at = DAY + timedelta(minutes=15 * quarter)
        facts.append(("battery", at, at, draw(st.integers(0, 100))))
    return facts


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(beacon_facts(), st.randoms(use_true_random=False), st.integers(min_value=0, max_value=4))
def test_a_beacon_is_the_same_whatever_order_its_counts_arrive_in(
    facts: list[BeaconFact], shuffler: random.Random, catch_up_every: int
) -> None:
    in_time_order = sorted(facts, key=lambda fact: fact[2])
    arrival = list(facts)
    shuffler.shuffle(arrival)
    with (
        recorded(new_beacon, [beacon_command(f) for f in in_time_order]) as ordered,
        recorded(new_beacon, [beacon_command(f) for f in arrival], catch_up_every) as shuffled,
    ):
        beacon_id = Beacon.id_for("BLE-ORDER")
        assert seen(shuffled.get(Beacon, "BLE-ORDER")) == seen(ordered.get(Beacon, "BLE-ORDER"))
        instants = [at for _, start, end, _ in facts for at in (start, end)]
        instants += [at + timedelta(minutes=5) for at in instants]
        instants += [T0 - timedelta(days=1), T0, DAY + timedelta(days=30)]
        same_states_as_of(ordered, shuffled, "beacon", beacon_id, instants)
        assert rows(shuffled) == rows(ordered)
