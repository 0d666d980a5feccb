"""The simulation handed the twin's own log, streamed from a real store, reproduces its figures.

The only place where `twin` and `simulation` meet in this repository is here and in
`scenarios`: the simulation never imports the twin, it is given `ValleyTwin.domain_events()`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from domain import Bin, Position, Site
from simulation import derive_inflow, read_history, recorded_energy, replay
from tests.conftest import T0, at
from twin import ValleyTwin, open_twin

GIGNAC = Position(745_900.0, 6_284_300.0)


@pytest.fixture
def twin(store_url: str) -> Iterator[ValleyTwin]:
    application = open_twin(store_url)
    application.add(
        Bin.install(
            code="B-34114-GLA-0001",
            stream="glass",
            capacity_l=3000,
            position=GIGNAC,
            commune_insee="34114",
            at=T0,
            depth_cm=180,
        ),
        Bin.install(
            code="B-34114-OMR-0001",
            stream="residual",
            capacity_l=660,
            position=GIGNAC,
            commune_insee="34114",
            at=T0,
            depth_cm=110,
        ),
        Site.register(
            code="EP-34114-001",
            name="Armoire 1",
            site_kind="lighting_cabinet",
            geometry_wkt="POINT (745900 6284300)",
            commune_insee="34114",
            at=T0,
            light_points=40,
        ),
    )
    yield application
    application.close()


def test_replay_of_the_stores_log_gives_the_recorded_collections_tonnes_overflows_and_energy(
    twin: ValleyTwin,
) -> None:
    for day in range(1, 15):
        twin.measure_fill_level("B-34114-GLA-0001", min(100.0, 7.0 * (day % 8)), at(days=day))
        twin.measure_fill_level(
            "B-34114-OMR-0001", min(100.0, 15.0 * (day % 5)), at(days=day, hours=1)
        )
        twin.meter_energy("EP-34114-001", 1_000.0 + 95.5 * day, at(days=day, hours=6))
        if day % 8 == 7:
            twin.empty_bin("B-34114-GLA-0001", f"R-{day}", 180.0, at(days=day, hours=10))
        if day % 5 == 4:
            twin.change(
                Bin,
                "B-34114-OMR-0001",
                lambda b, day=day: b.report_overflow("citizen:c-1", at(days=day, hours=8)),
            )
            twin.empty_bin("B-34114-OMR-0001", f"R-{day}", 55.0, at(days=day, hours=10))

    kpis = replay(twin.domain_events()).totals()
    assert kpis["collections"] == 1 + 3  # glass on day 7; residual on days 4, 9 and 14
    assert kpis["tonnes"] == pytest.approx((180.0 + 3 * 55.0) / 1000)
    assert kpis["overflow_events"] == 3
    cabinet = twin.get(Site, "EP-34114-001")
    assert (
        recorded_energy(twin.domain_events()).total_kwh[cabinet.id]
        == cabinet.consumption_kwh
        == 13 * 95.5
    )

    # The counterfactual starts from the same log: what went into each bin, day by day.
    history = read_history(twin.domain_events())
    inflow = derive_inflow(history, start=T0, days=15, use_mass=False)
    glass = inflow.codes.index("B-34114-GLA-0001")
    observed = inflow.litres_per_day[glass][~np.isnan(inflow.litres_per_day[glass])]
    assert np.median(observed) == pytest.approx(0.07 * 3000)  # 7 points of 3,000 L a day
