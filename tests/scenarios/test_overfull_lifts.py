"""The recorded row says when lifts weighed more than their container holds: overflows the
fill sensors did not report."""

from __future__ import annotations

from datetime import timedelta

from domain import Bin, Position
from scenarios.recorded import overfull_lifts
from simulation.parameters import waste as wp
from tests.conftest import T0


def a_paper_column(code: str) -> Bin:
    return Bin.install(
        code=code,
        stream="paper",
        capacity_l=3_000,
        position=Position(752_000.0, 6_283_000.0),
        commune_insee="34114",
        at=T0,
    )


def test_a_lift_heavier_than_a_full_column_is_counted_and_a_full_one_is_not() -> None:
    full_kg = 3_000 * wp.density_kg_per_l("paper")
    columns = [a_paper_column("P-1"), a_paper_column("P-2")]
    columns[0].empty("R-1", 1.3 * full_kg, T0 + timedelta(days=7))
    columns[1].empty("R-1", 1.0 * full_kg, T0 + timedelta(days=7))
    facts = [event for column in columns for event in column.collect_events()]
    (note,) = overfull_lifts(facts, T0, T0 + timedelta(days=14))
    assert note.startswith("1 lift (1 paper) weighed more than their container holds")
    assert overfull_lifts(facts, T0 + timedelta(days=8), T0 + timedelta(days=14)) == ()
