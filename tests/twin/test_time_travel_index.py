"""Time travel with late facts without replaying the whole history: the prefix recorded before
the newest fact passed the instant, then the late facts within the largest lateness seen,
checked against a full rebuild of the history at every instant."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import Bin, Position, Site
from domain.history import rebuild
from tests.conftest import T0, a_town_hall
from twin import open_twin
from twin.storage import drop_memory_store

FIELDS = ("fill_percent", "emptied_count", "emptied_mass_kg", "overflow_count", "version")


def a_bin() -> Bin:
    return Bin.install(
        code="B-1",
        stream="residual",
        capacity_l=660,
        position=Position(752000.0, 6283000.0),
        commune_insee="34114",
        at=T0,
    )


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    delays=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=40),
)
def test_state_as_of_every_instant_is_the_full_rebuild_s(delays: list[int]) -> None:
    """Readings each held back by up to 12 places (lateness bounded), an emptying now and
    then; snapshots every few events so the prefix comes from one."""
    name = f"travel-{uuid.uuid4()}"
    twin = open_twin(f"memory://{name}")
    try:
        twin.add(a_bin())
        arrivals = sorted(range(len(delays)), key=lambda n: n + delays[n])
        for n in arrivals:
            at = T0 + timedelta(hours=1 + n)
            if n % 7 == 3:
                twin.empty_bin("B-1", f"R-{n}", 10.0 + n, at)
            else:
                twin.measure_fill_level("B-1", float((n * 37) % 101), at)
        bin_id = Bin.id_for("B-1")
        history = twin.history(bin_id)
        for hours in range(len(delays) + 2):
            instant = T0 + timedelta(hours=hours, minutes=30)
            travelled = twin.state_at(bin_id, instant)
            rebuilt = rebuild(history, as_of=instant)
            assert travelled is not None and rebuilt is not None
            assert {f: getattr(travelled, f) for f in FIELDS[:-1]} == {
                f: getattr(rebuilt, f) for f in FIELDS[:-1]
            }, instant
    finally:
        twin.close()
        drop_memory_store(name)


def test_a_late_meter_index_is_found_past_the_prefix() -> None:
    twin = open_twin("memory://travel-meter")
    try:
        twin.add(a_town_hall())
        for day in (1, 2, 4, 5):
            twin.meter_energy("EP-1", 100.0 * day, T0 + timedelta(days=day))
        twin.meter_energy("EP-1", 300.0, T0 + timedelta(days=3))  # two days late
        site_id = Site.id_for("EP-1")
        as_of = twin.state_at(site_id, T0 + timedelta(days=3, hours=1))
        assert isinstance(as_of, Site)
        assert (as_of.meter_index_kwh, as_of.consumption_kwh) == (300.0, pytest.approx(200.0))
        assert twin.get(Site, "EP-1")._max_lateness_s == 2 * 86_400
    finally:
        twin.close()
        drop_memory_store("travel-meter")
